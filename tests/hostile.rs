//! Hostile HTTP clients: connections that send their headers a byte at a time, and floods of
//! wrong credentials. A real scrape must still get through, slotwatch's descriptors and threads
//! must stay bounded, and a refusal carries the configured headers. Bounded in time and count;
//! the figures at full scale come from `scripts/bench hostile`.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use support::{Exporter, ProcessGuard, free_port, http_get, slotwatch_bin, wait_for};

/// Open descriptors and threads of a process.
fn fds_and_threads(pid: u32) -> (usize, usize) {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0);
    let threads = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    (fds, threads)
}

/// `slotwatch serve` against a closed seed port with at most `fd_limit` open descriptors,
/// the way a container or a systemd unit limits it.
fn start_limited(args: &[&str], fd_limit: u64) -> (ProcessGuard, u16, tempfile::TempDir) {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let log = std::fs::File::create(dir.path().join("log")).unwrap();
    let mut cmd = Command::new(slotwatch_bin());
    cmd.arg("serve")
        .args(["--seed", &format!("redis://127.0.0.1:{}", free_port())])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(args)
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    let limit = libc::rlimit {
        rlim_cur: fd_limit,
        rlim_max: fd_limit,
    };
    // SAFETY: setrlimit is async-signal-safe and only reads `limit`, a plain value copied
    // into the closure; it runs in the child between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let guard = ProcessGuard::spawn("slotwatch", &mut cmd);
    wait_for("slotwatch /healthz", Duration::from_secs(20), || {
        http_get(port, "/healthz").map(|_| ())
    });
    (guard, port, dir)
}

#[test]
fn slow_header_senders_cannot_crowd_out_a_scrape() {
    // 150 slow clients against a process allowed 100 descriptors: without a cap on
    // connections, accept fails and scrapes with it.
    let (process, port, _dir) = start_limited(
        &[
            "--web.max-connections",
            "40",
            "--web.read-header-timeout",
            "2s",
        ],
        100,
    );
    let stop = Arc::new(AtomicBool::new(false));
    let slow = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let request = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: yes\r\n\r\n";
            // 150 clients, each trickling a byte every 100 ms and reconnecting a second after
            // the server closed it.
            let mut conns: Vec<(Option<TcpStream>, Instant, usize)> =
                (0..150).map(|_| (None, Instant::now(), 0)).collect();
            let mut closed = 0;
            while !stop.load(Ordering::Relaxed) {
                for (conn, retry_at, sent) in &mut conns {
                    match conn {
                        None if Instant::now() >= *retry_at => {
                            *conn = TcpStream::connect(("127.0.0.1", port)).ok();
                            *sent = 0;
                            if let Some(c) = conn {
                                c.set_nonblocking(true).ok();
                            }
                        }
                        None => {}
                        Some(c) => {
                            let mut b = [0u8; 1];
                            let gone = c.read(&mut b).is_ok()
                                || c.write(&request[*sent % request.len()..][..1]).is_err();
                            *sent += 1;
                            if gone {
                                closed += 1;
                                *conn = None;
                                *retry_at = Instant::now() + Duration::from_secs(1);
                            }
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            closed
        })
    };
    // The descriptors are sampled all along, not only between scrapes: connections evicted to
    // make room must be closed before more are accepted, even in a burst of accepts.
    let most_fds = {
        let stop = stop.clone();
        let pid = process.pid();
        std::thread::spawn(move || {
            let mut most = 0;
            while !stop.load(Ordering::Relaxed) {
                most = most.max(fds_and_threads(pid).0);
                std::thread::sleep(Duration::from_millis(5));
            }
            most
        })
    };
    std::thread::sleep(Duration::from_secs(3));
    let mut worst = Duration::ZERO;
    for _ in 0..20 {
        let start = Instant::now();
        let (status, _, body) = http_get(port, "/metrics").expect("a scrape gets an answer");
        worst = worst.max(start.elapsed());
        assert_eq!(status, 200);
        assert!(body.contains("slotwatch_up"));
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    let closed = slow.join().unwrap();
    let most_fds = most_fds.join().unwrap();
    assert!(
        most_fds <= 40 + 25,
        "{most_fds} descriptors open at once with at most 40 connections"
    );
    assert!(
        closed >= 150,
        "slow connections are closed by the header timeout or to make room ({closed} closed)"
    );
    // Generous: this proves scrapes are not queued behind slow clients; the latency figure
    // itself is measured by scripts/bench hostile.
    assert!(worst < Duration::from_secs(2), "worst scrape {worst:?}");
}

/// A web config whose one user has a bcrypt hash of `cost`.
fn auth_config(dir: &std::path::Path, cost: u32, extra: &str) -> std::path::PathBuf {
    let hash = bcrypt::hash("right-pw", cost).unwrap();
    let path = dir.join("web.yml");
    std::fs::write(
        &path,
        format!("basic_auth_users:\n  prometheus: '{hash}'\n{extra}"),
    )
    .unwrap();
    path
}

fn get_with_auth(port: u16, path: &str, credentials: &str) -> Option<(u16, String)> {
    use base64::Engine;
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let auth = base64::engine::general_purpose::STANDARD.encode(credentials);
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: basic {auth}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    Some((status, text))
}

#[test]
fn a_flood_of_wrong_credentials_does_not_starve_the_right_ones() {
    let dir = tempfile::tempdir().unwrap();
    let web = auth_config(dir.path(), 8, "");
    let seed = format!("redis://127.0.0.1:{}", free_port());
    let exporter = Exporter::start(&["--seed", &seed, "--web.config.file", web.to_str().unwrap()]);
    let port = exporter.port;
    let stop = Arc::new(AtomicBool::new(false));
    // 100 hostile clients, each repeating its own credentials as fast as it is answered: half
    // wrong passwords for the real user, half unknown users.
    let hostile: Vec<_> = (0..100)
        .map(|i| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let credentials = if i % 2 == 0 {
                    format!("prometheus:wrong-{i}")
                } else {
                    format!("intruder-{i}:pw")
                };
                while !stop.load(Ordering::Relaxed) {
                    let _ = get_with_auth(port, "/metrics", &credentials);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    // Cold: the right header was never checked before.
    let mut worst = Duration::ZERO;
    for _ in 0..10 {
        let start = Instant::now();
        let (status, text) =
            get_with_auth(port, "/metrics", "prometheus:right-pw").expect("an answer");
        worst = worst.max(start.elapsed());
        assert_eq!(status, 200, "{text}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (_, threads) = fds_and_threads(exporter.process.pid());
    stop.store(true, Ordering::Relaxed);
    for h in hostile {
        h.join().unwrap();
    }
    assert!(threads < 30, "{threads} threads under a credential flood");
    assert!(
        worst < Duration::from_secs(3),
        "worst right scrape {worst:?}"
    );
}

#[test]
fn a_refusal_carries_the_configured_headers() {
    let dir = tempfile::tempdir().unwrap();
    let web = auth_config(
        dir.path(),
        4,
        "http_server_config:\n  headers:\n    X-Frame-Options: deny\n",
    );
    let seed = format!("redis://127.0.0.1:{}", free_port());
    let exporter = Exporter::start(&["--seed", &seed, "--web.config.file", web.to_str().unwrap()]);
    let (status, text) = get_with_auth(exporter.port, "/metrics", "prometheus:nope").unwrap();
    assert_eq!(status, 401);
    assert!(
        text.to_ascii_lowercase().contains("x-frame-options: deny"),
        "{text}"
    );
    // The scheme in any case (RFC 7617): the helper sends "basic".
    let (status, _) = get_with_auth(exporter.port, "/metrics", "prometheus:right-pw").unwrap();
    assert_eq!(status, 200);
    // Switching auth off is said loudly.
    std::fs::write(
        &web,
        "http_server_config:\n  headers:\n    X-Frame-Options: deny\n",
    )
    .unwrap();
    wait_for("the reload", Duration::from_secs(20), || {
        let (status, _, _) = http_get(exporter.port, "/metrics")?;
        (status == 200).then_some(())
    });
    assert!(
        exporter
            .log_text()
            .contains("the endpoints need no credentials any more"),
        "{}",
        exporter.log_tail()
    );
}

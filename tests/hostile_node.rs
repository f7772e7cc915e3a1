//! A node that answers `CLUSTER NODES` with an endless reply, fast or one byte at a time: the
//! exporter stops reading at the reply cap, counts `reply_too_large`, keeps its memory small,
//! and reports a trickling node's timeout on time. The node is a plain TCP listener speaking
//! just enough RESP; no real server sends such replies.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use support::resp::command;
use support::{Exporter, sample, wait_for};

/// Bytes the fake node promises in its `CLUSTER NODES` reply.
const PROMISED: u64 = 512 << 20;

/// How the fake node sends the promised bytes.
#[derive(Clone, Copy)]
enum Pace {
    /// As fast as the client reads.
    Flood,
    /// One byte every 10 ms: never over a cap, never done.
    Trickle,
}

/// A listener on a free port answering every connection on its own thread; stops accepting
/// when dropped.
struct FakeNode {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl FakeNode {
    fn start(pace: Pace) -> FakeNode {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::Relaxed) {
                    break;
                }
                if let Ok(stream) = stream {
                    let stopping = stopping.clone();
                    std::thread::spawn(move || serve(stream, pace, &stopping));
                }
            }
        });
        FakeNode { port, stop }
    }
}

impl Drop for FakeNode {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Answers each command with `+OK`, except `CLUSTER NODES`, which gets the endless reply.
fn serve(mut stream: TcpStream, pace: Pace, stop: &AtomicBool) {
    let mut pending = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..n]);
        while let Some((args, used)) = command(&pending) {
            pending.drain(..used);
            let words: Vec<String> = args.iter().map(|a| a.to_ascii_uppercase()).collect();
            if words.len() >= 2 && words[0] == "CLUSTER" && words[1] == "NODES" {
                flood(&mut stream, pace, stop);
                return;
            }
            if stream.write_all(b"+OK\r\n").is_err() {
                return;
            }
        }
    }
}

fn flood(stream: &mut TcpStream, pace: Pace, stop: &AtomicBool) {
    if write!(stream, "${PROMISED}\r\n").is_err() {
        return;
    }
    let chunk = vec![b'x'; 64 << 10];
    let mut sent = 0u64;
    while sent < PROMISED && !stop.load(Ordering::Relaxed) {
        let part: &[u8] = match pace {
            Pace::Flood => &chunk,
            Pace::Trickle => {
                std::thread::sleep(Duration::from_millis(10));
                &chunk[..1]
            }
        };
        if stream.write_all(part).is_err() {
            return;
        }
        sent += part.len() as u64;
    }
}

/// The peak resident set of a process, from `/proc/PID/status`.
fn peak_rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status");
    kib * 1024
}

#[test]
fn an_endless_reply_is_cut_at_the_cap_and_memory_stays_small() {
    let node = FakeNode::start(Pace::Flood);
    let seed = format!("redis://127.0.0.1:{}", node.port);
    let exporter = Exporter::polling_fast(&seed);
    let endpoint = format!("127.0.0.1:{}", node.port);
    // Five polls, each a new connection offering 512 MiB.
    let cut = exporter.wait_metric(
        "five replies cut at the cap",
        "slotwatch_poll_errors_total",
        &[("node", &endpoint), ("reason", "reply_too_large")],
        Duration::from_secs(30),
        |v| v >= 5.0,
    );
    assert!(cut >= 5.0);
    let peak = peak_rss_bytes(exporter.process.pid());
    assert!(peak < 64 << 20, "peak RSS {} MiB", peak >> 20);
    let log = exporter.log_text();
    assert!(
        log.contains("reply over the 8MiB cap (--max-reply-bytes)"),
        "{log}"
    );
    assert_eq!(sample(&exporter.metrics(), "slotwatch_up", &[]), Some(0.0));
}

#[test]
fn a_trickling_reply_times_out_on_time() {
    let node = FakeNode::start(Pace::Trickle);
    let seed = format!("redis://127.0.0.1:{}", node.port);
    let exporter = Exporter::start(&[
        "--seed",
        &seed,
        "--poll-interval",
        "500ms",
        "--timeout",
        "300ms",
    ]);
    let endpoint = format!("127.0.0.1:{}", node.port);
    exporter.wait_metric(
        "three timeouts",
        "slotwatch_poll_errors_total",
        &[("node", &endpoint), ("reason", "timeout")],
        Duration::from_secs(30),
        |v| v >= 3.0,
    );
    // Every poll reached the node (a failing node rests every other poll): the mean poll
    // took the timeout plus at most the 100 ms, not the seconds it took when the
    // whole reply was buffered.
    let body = wait_for("poll durations", Duration::from_secs(10), || {
        let body = exporter.metrics();
        sample(&body, "slotwatch_poll_duration_seconds_count", &[])
            .filter(|n| *n >= 3.0)
            .map(|_| body)
    });
    let sum = sample(&body, "slotwatch_poll_duration_seconds_sum", &[]).unwrap();
    let count = sample(&body, "slotwatch_poll_duration_seconds_count", &[]).unwrap();
    let timeouts = sample(
        &body,
        "slotwatch_poll_errors_total",
        &[("node", &endpoint), ("reason", "timeout")],
    )
    .unwrap();
    assert!(
        sum / timeouts <= 0.3 + 0.1,
        "{sum} s over {count} polls, {timeouts} of them timing out"
    );
}

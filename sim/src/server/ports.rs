//! Binding N consecutive loopback ports, one listener per simulated node.

use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::TcpListener as StdListener;

/// Binds `count` consecutive loopback ports from `base`.
pub(super) fn bind_range(base: u16, count: usize) -> io::Result<Vec<StdListener>> {
    if usize::from(base) + count - 1 > usize::from(u16::MAX) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "ports {base}..{} do not fit below 65536",
                usize::from(base) + count
            ),
        ));
    }
    (0..count)
        .map(|i| {
            let port = base + i as u16;
            StdListener::bind(("127.0.0.1", port)).map_err(|e| {
                let hint = if e.raw_os_error() == Some(24) {
                    " (too many open files: raise the limit, e.g. `ulimit -n 4096`)"
                } else {
                    ""
                };
                io::Error::new(e.kind(), format!("cannot bind 127.0.0.1:{port}: {e}{hint}"))
            })
        })
        .collect()
}

/// Binds `count` consecutive free loopback ports, trying random bases in 20000..60000.
pub(super) fn bind_free_range(count: usize) -> io::Result<(u16, Vec<StdListener>)> {
    let span = 40_000usize.saturating_sub(count).max(1);
    let mut last = None;
    for attempt in 0..50u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(attempt);
        let base = 20_000 + (h.finish() as usize % span) as u16;
        match bind_range(base, count) {
            Ok(listeners) => return Ok((base, listeners)),
            // Running out of descriptors will not get better with another base.
            Err(e) if e.to_string().contains("too many open files") => return Err(e),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free port range")))
}

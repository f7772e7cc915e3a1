//! The `/metrics` body, encoded once per change and shared by every scrape.
//!
//! A task waits for any cluster's poll or client report, encodes all clusters' snapshots (and
//! gzips the result) on the blocking pool, and publishes the bytes on a watch channel. A
//! scrape never encodes, never takes a lock held across an encode, and never waits on Redis:
//! it takes the latest bytes, waiting for the encoder (at most [`FRESH_WAIT`]) only when a
//! poll has published since, so that what it returns is never older than what the other
//! endpoints show.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use tokio::sync::{Notify, watch};

use crate::metrics;
use crate::poll::Feed;
use crate::snapshot::Published;

/// Longest a scrape waits for the encoding of a poll newer than the cached one; past it, it
/// gets the cached one. An encode of 1000 nodes takes milliseconds.
pub const FRESH_WAIT: Duration = Duration::from_secs(1);

/// What one encoding was made from, per cluster: the snapshot's generation and the time of the
/// client report it held.
type Versions = Vec<(u64, Option<u64>)>;

/// One encoding of `/metrics`.
#[derive(Debug)]
pub struct Encoded {
    from: Versions,
    /// The OpenMetrics text.
    pub plain: Bytes,
    /// The same, gzipped, for scrapers that accept it (Prometheus does by default).
    pub gzip: Bytes,
}

fn versions(snaps: &[Published]) -> Versions {
    snaps
        .iter()
        .map(|s| (s.generation, s.clients.as_ref().map(|r| r.taken_at_ms)))
        .collect()
}

impl Encoded {
    /// Encodes `snaps`; pure, and run on the blocking pool because at 1000 nodes it is a
    /// megabyte of text.
    pub fn of(snaps: &[Published]) -> Encoded {
        let plain = metrics::encode(snaps);
        // The fastest level: scrapes want the bytes soon, and the text compresses well anyway.
        let mut gz = flate2::write::GzEncoder::new(
            Vec::with_capacity(plain.len() / 8),
            flate2::Compression::fast(),
        );
        let gzip = gz
            .write_all(plain.as_bytes())
            .and_then(|()| gz.finish())
            .unwrap_or_default();
        Encoded {
            from: versions(snaps),
            plain: Bytes::from(plain),
            gzip: Bytes::from(gzip),
        }
    }

    /// True if this encoding holds every one of `snaps` or something newer.
    fn covers(&self, snaps: &[Published]) -> bool {
        let now = versions(snaps);
        self.from.len() == now.len()
            && self
                .from
                .iter()
                .zip(&now)
                .all(|(had, now)| had.0 >= now.0 && had.1 >= now.1)
    }
}

/// The encoded body and its encoder's inputs.
pub struct Cache {
    latest: watch::Sender<Arc<Encoded>>,
    changed: Arc<Notify>,
}

impl Cache {
    /// Encodes `feeds` once now, then after every change of any of them, on tasks of the
    /// current runtime.
    pub fn start(feeds: &[Feed]) -> Cache {
        let latest_of = |feeds: &[Feed]| feeds.iter().map(Feed::latest).collect::<Vec<_>>();
        let (latest, _) = watch::channel(Arc::new(Encoded::of(&latest_of(feeds))));
        let changed = Arc::new(Notify::new());
        for feed in feeds {
            tokio::spawn(forward(feed.clone(), changed.clone()));
        }
        let (tx, notify, feeds) = (latest.clone(), changed.clone(), feeds.to_vec());
        tokio::spawn(async move {
            loop {
                notify.notified().await;
                let snaps = latest_of(&feeds);
                match tokio::task::spawn_blocking(move || Encoded::of(&snaps)).await {
                    Ok(encoded) => {
                        tx.send_replace(Arc::new(encoded));
                    }
                    Err(e) => tracing::error!(error = %e, "encoding /metrics failed"),
                }
            }
        });
        Cache { latest, changed }
    }

    /// The latest body, once it covers `snaps` (or after [`FRESH_WAIT`]).
    pub async fn body(&self, snaps: &[Published]) -> Arc<Encoded> {
        let mut rx = self.latest.subscribe();
        let wait = tokio::time::sleep(FRESH_WAIT);
        tokio::pin!(wait);
        loop {
            let current = rx.borrow_and_update().clone();
            if current.covers(snaps) {
                return current;
            }
            // The change may have reached the encoder before this scrape looked: wake it
            // again, at worst for one more encode.
            self.changed.notify_one();
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { return current },
                () = &mut wait => return current,
            }
        }
    }
}

/// Wakes the encoder whenever `feed` publishes a snapshot or a client report.
async fn forward(mut feed: Feed, changed: Arc<Notify>) {
    loop {
        let alive = tokio::select! {
            r = feed.snapshots.changed() => r.is_ok(),
            r = feed.clients.changed() => r.is_ok(),
        };
        if !alive {
            return;
        }
        changed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;
    use crate::snapshot::Snapshot;

    #[test]
    fn the_gzip_body_is_the_plain_body_and_newer_snapshots_are_not_covered() {
        let mut s = Snapshot::empty("c");
        s.generation = 3;
        let snaps = vec![Published::new(s.clone())];
        let e = Encoded::of(&snaps);
        let mut unzipped = String::new();
        flate2::read::GzDecoder::new(&e.gzip[..])
            .read_to_string(&mut unzipped)
            .unwrap();
        assert_eq!(unzipped.as_bytes(), &e.plain[..]);
        assert!(e.plain.ends_with(b"# EOF\n"));
        assert!(e.gzip.len() < e.plain.len());
        assert!(e.covers(&snaps));
        s.generation = 4;
        assert!(!e.covers(&[Published::new(s.clone())]), "a newer poll");
        s.generation = 2;
        assert!(e.covers(&[Published::new(s)]), "an older one");
    }

    #[tokio::test]
    async fn a_scrape_after_a_poll_gets_that_poll_encoded() {
        let (tx, snapshots) = watch::channel(Arc::new(Snapshot::empty("c")));
        let (_reports, clients) = watch::channel(None);
        let feed = Feed { snapshots, clients };
        let cache = Cache::start(std::slice::from_ref(&feed));
        for generation in 1..=5 {
            let mut s = Snapshot::empty("c");
            s.generation = generation;
            s.polled_at_ms = 1_000 * generation;
            tx.send_replace(Arc::new(s));
            let body = cache.body(&[feed.latest()]).await;
            assert_eq!(body.from, vec![(generation, None)]);
        }
    }
}

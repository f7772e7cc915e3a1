//! Whether a cluster's poller is still alive: the bound past which its last poll is stale, and
//! how often it had to be started again (pure).

use std::time::Duration;

/// Polls that may be missed before the poller counts as stale: one late poll is noise, three
/// in a row is a poller that stopped.
pub const STALE_AFTER_INTERVALS: u32 = 3;

/// What `/healthz`, `slotwatch_poll_stale_after_seconds` and `slotwatch_poller_restarts_total`
/// read of a served cluster's poller; `check`'s one-off poll has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Liveness {
    /// Unix ms when the poller first started: a cluster never polled ages from here.
    pub since_ms: u64,
    /// Three poll intervals plus the per-node timeout: a poll may take up to a timeout, and
    /// the timer waits for it, so a live poller always completes one within this.
    pub stale_after: Duration,
    /// Times the poller panicked and was started again from its configuration.
    pub restarts: u64,
}

impl Liveness {
    /// The liveness of a poller started at `since_ms` with this interval and timeout.
    pub fn new(since_ms: u64, interval: Duration, timeout: Duration) -> Liveness {
        Liveness {
            since_ms,
            stale_after: interval * STALE_AFTER_INTERVALS + timeout,
            restarts: 0,
        }
    }

    /// How long ago the last poll started (or the poller, before the first), when that is
    /// beyond the bound; `None` while the poller keeps up.
    pub fn stale(&self, polled_at_ms: u64, now_ms: u64) -> Option<Duration> {
        let age = Duration::from_millis(now_ms.saturating_sub(polled_at_ms.max(self.since_ms)));
        (age > self.stale_after).then_some(age)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn five_second_poller() -> Liveness {
        Liveness::new(1_000_000, Duration::from_secs(5), Duration::from_secs(1))
    }

    #[test]
    fn the_bound_is_three_intervals_and_a_timeout() {
        assert_eq!(five_second_poller().stale_after, Duration::from_secs(16));
    }

    #[test]
    fn a_poll_within_the_bound_is_fresh_and_one_beyond_it_is_stale() {
        let l = five_second_poller();
        let polled = 2_000_000;
        assert_eq!(l.stale(polled, polled + 16_000), None);
        assert_eq!(
            l.stale(polled, polled + 16_001),
            Some(Duration::from_millis(16_001))
        );
    }

    #[test]
    fn a_cluster_never_polled_ages_from_the_pollers_start() {
        let l = five_second_poller();
        assert_eq!(l.stale(0, l.since_ms + 10_000), None);
        assert_eq!(
            l.stale(0, l.since_ms + 20_000),
            Some(Duration::from_secs(20))
        );
    }

    #[test]
    fn a_clock_that_went_back_is_not_stale() {
        let l = five_second_poller();
        assert_eq!(l.stale(2_000_000, 1_500_000), None);
    }
}

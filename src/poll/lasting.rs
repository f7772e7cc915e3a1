//! How long a persistent condition (no view readable, a node failing) has lasted, so that it
//! is logged once when it starts, reminded at most every [`REMIND_EVERY_MS`], and logged when it
//! ends with how long it lasted. Pure: times are the polls' own timestamps.

/// Time between two reminders of a condition that goes on: often enough that a log search
/// over the last quarter hour finds it, rarely enough that fast polls do not flood the log.
pub const REMIND_EVERY_MS: u64 = 10 * 60 * 1000;

/// A condition that holds since some poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lasting {
    /// Unix ms of the first poll under the condition.
    since_ms: u64,
    /// Polls under the condition so far.
    polls: u64,
    /// Unix ms of the last log line about it.
    logged_ms: u64,
}

/// How long a condition has lasted, for its log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lasted {
    /// Seconds since the first poll under the condition.
    pub seconds: u64,
    /// Polls under the condition.
    pub polls: u64,
}

impl Lasting {
    /// A condition first seen by the poll at `now_ms` (which logs it).
    pub fn start(now_ms: u64) -> Lasting {
        Lasting {
            since_ms: now_ms,
            polls: 1,
            logged_ms: now_ms,
        }
    }

    /// Counts one more poll under the condition; returns how long it has lasted when a
    /// reminder is due.
    pub fn again(&mut self, now_ms: u64) -> Option<Lasted> {
        self.polls += 1;
        if now_ms.saturating_sub(self.logged_ms) < REMIND_EVERY_MS {
            return None;
        }
        self.logged_ms = now_ms;
        Some(self.lasted(now_ms))
    }

    /// How long the condition has lasted at `now_ms`.
    pub fn lasted(&self, now_ms: u64) -> Lasted {
        Lasted {
            seconds: now_ms.saturating_sub(self.since_ms) / 1000,
            polls: self.polls,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reminders_come_once_per_period_whatever_the_poll_rate() {
        let mut l = Lasting::start(0);
        // 100 ms polls for 25 minutes: two reminders, at 10 and 20 minutes.
        let reminders: Vec<Lasted> = (1..=15_000).filter_map(|i| l.again(i * 100)).collect();
        assert_eq!(
            reminders,
            [
                Lasted {
                    seconds: 600,
                    polls: 6001
                },
                Lasted {
                    seconds: 1200,
                    polls: 12001
                }
            ]
        );
        assert_eq!(
            l.lasted(1_500_000),
            Lasted {
                seconds: 1500,
                polls: 15_001
            }
        );
    }
}

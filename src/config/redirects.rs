//! The thresholds of a cluster's redirect verdict ([`crate::health::redirects`]), their
//! defaults, the mixin's `_config.redirects` they mirror (tests/rules.rs fails when the two
//! drift apart), and their reading from the flags or the file.

use std::time::Duration;

use serde::Serialize;

use super::{ClusterSettings, ConfigError, HumanDuration, Key, Origin};

/// MOVED per second per node above which a burst counts: `redirects.movedThreshold`. One
/// MOVED every 20 s is the odd stale connection; anything above is a stream.
pub const DEFAULT_RATE_THRESHOLD: f64 = 0.05;
/// Time after a topology change during which a burst is expected: `redirects.graceWindow`.
/// Clients that refresh their slot map on a timer (Lettuce's periodic refresh, a minute by
/// default) or after some redirects need minutes, not seconds.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(600);
/// How long a burst persists beyond the grace window before the alert fires: `redirects.for`.
pub const DEFAULT_FOR: Duration = Duration::from_secs(600);
/// The window the rate is taken over: the `rate5m` of the recording rule the alert reads.
pub const DEFAULT_RATE_WINDOW: Duration = Duration::from_secs(300);

/// The thresholds of a cluster's redirect verdict ([`crate::health::redirects`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RedirectPolicy {
    /// MOVED per second per node above which a burst counts.
    pub rate_threshold: f64,
    /// Time after a topology change during which a burst is expected.
    #[serde(rename = "grace_window_s", serialize_with = "secs")]
    pub grace: Duration,
    /// How long a persisting burst lasts before `RedisClusterRedirectsPersisting` fires.
    #[serde(rename = "for_s", serialize_with = "secs")]
    pub r#for: Duration,
    /// The window the rate is taken over.
    #[serde(rename = "rate_window_s", serialize_with = "secs")]
    pub rate_window: Duration,
}

/// The threshold is validated finite when configured, so equality is total.
impl Eq for RedirectPolicy {}

impl Default for RedirectPolicy {
    fn default() -> Self {
        RedirectPolicy {
            rate_threshold: DEFAULT_RATE_THRESHOLD,
            grace: DEFAULT_GRACE,
            r#for: DEFAULT_FOR,
            rate_window: DEFAULT_RATE_WINDOW,
        }
    }
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl ClusterSettings {
    /// The redirect thresholds with defaults applied, validated; `serve` and `check` share them.
    pub fn redirect_policy(&self, origin: &Origin) -> Result<RedirectPolicy, ConfigError> {
        let d = RedirectPolicy::default();
        let policy = RedirectPolicy {
            rate_threshold: self.redirect_rate_threshold.unwrap_or(d.rate_threshold),
            grace: self.redirect_grace_window.map_or(d.grace, |h| h.0),
            r#for: self.redirect_for.map_or(d.r#for, |h| h.0),
            rate_window: self.redirect_rate_window.map_or(d.rate_window, |h| h.0),
        };
        if !policy.rate_threshold.is_finite() || policy.rate_threshold < 0.0 {
            return Err(origin.invalid(
                Key::RedirectRateThreshold,
                "must be a number of MOVED per second, 0 or more (e.g. 0.05)",
            ));
        }
        // A rate needs at least two polls in its window to mean anything.
        if policy.rate_window < Duration::from_secs(1) {
            return Err(origin.invalid(
                Key::RedirectRateWindow,
                format!(
                    "must be at least 1s, found {}",
                    HumanDuration(policy.rate_window)
                ),
            ));
        }
        Ok(policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ClusterSettings {
        ClusterSettings {
            seeds: vec!["redis://x:1".parse().unwrap()],
            ..ClusterSettings::default()
        }
    }

    #[test]
    fn defaults_are_the_verdicts_and_each_setting_is_taken() {
        let built = settings().build(&Origin::Flags).unwrap();
        assert_eq!(built.redirects, RedirectPolicy::default());
        let set = ClusterSettings {
            redirect_rate_threshold: Some(2.5),
            redirect_grace_window: Some("8s".parse().unwrap()),
            redirect_for: Some("3s".parse().unwrap()),
            redirect_rate_window: Some("4s".parse().unwrap()),
            ..settings()
        };
        let p = set.redirect_policy(&Origin::Flags).unwrap();
        assert_eq!(p.rate_threshold, 2.5);
        assert_eq!(p.grace, Duration::from_secs(8));
        assert_eq!(p.r#for, Duration::from_secs(3));
        assert_eq!(p.rate_window, Duration::from_secs(4));
    }

    #[test]
    fn a_bad_threshold_or_window_names_its_flag_or_key() {
        let nan = ClusterSettings {
            redirect_rate_threshold: Some(f64::NAN),
            ..settings()
        };
        let err = nan.build(&Origin::Flags).unwrap_err().to_string();
        assert!(err.starts_with("--redirect-rate-threshold: "), "{err}");
        let short = ClusterSettings {
            redirect_rate_window: Some("500ms".parse().unwrap()),
            ..settings()
        };
        let file = Origin::File {
            path: "s.yml".into(),
            cluster: Some(0),
        };
        let err = short.build(&file).unwrap_err().to_string();
        assert!(
            err.starts_with("s.yml: clusters[0].redirect_rate_window: must be at least 1s"),
            "{err}"
        );
    }
}

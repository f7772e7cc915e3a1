//! The thresholds of a cluster's redirect verdict, from the flags or the file; their defaults
//! live with the verdict ([`crate::health::redirects`]), beside the mixin's they mirror.

use std::time::Duration;

use super::{ClusterSettings, ConfigError, HumanDuration, Key, Origin};
use crate::health::redirects::Policy;

impl ClusterSettings {
    /// The redirect thresholds with defaults applied, validated; `serve` and `check` share them.
    pub fn redirect_policy(&self, origin: &Origin) -> Result<Policy, ConfigError> {
        let d = Policy::default();
        let policy = Policy {
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
        assert_eq!(built.redirects, Policy::default());
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

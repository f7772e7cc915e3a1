//! Every setting by its flag and its key in the config file, so that an error names the one
//! the operator wrote.

/// A setting, known by its flag and by its key in the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// HTTP listen address.
    Listen,
    /// Events kept per cluster.
    EventsCapacity,
    /// The cluster's name.
    Name,
    /// Seed URLs.
    Seeds,
    /// Time between polls.
    PollInterval,
    /// Per-node timeout.
    Timeout,
    /// Full views read per poll.
    FullViewsPerPoll,
    /// Time between client analyses.
    ClientsInterval,
    /// Time between readings of the per-slot stats.
    SlotStatsInterval,
    /// Busiest slots exported per master and measure.
    SlotStatsTop,
    /// Bytes one round trip may return.
    MaxReplyBytes,
    /// Bytes one poll may read.
    MaxPollBytes,
    /// MOVED per second above which a burst counts.
    RedirectRateThreshold,
    /// Time after a topology change during which a burst is expected.
    RedirectGraceWindow,
    /// How long a burst persists before the alert fires.
    RedirectFor,
    /// The window redirect rates are taken over.
    RedirectRateWindow,
    /// Password file.
    PasswordFile,
    /// Password environment variable.
    PasswordEnv,
    /// A plain password (always refused).
    Password,
    /// TLS settings as a whole.
    Tls,
    /// The client certificate and key pair.
    TlsCertAndKey,
}

impl Key {
    /// (flag, config file key) of each setting.
    pub(super) fn names(self) -> (&'static str, &'static str) {
        match self {
            Key::Listen => ("--listen", "listen"),
            Key::EventsCapacity => ("--events-capacity", "events_capacity"),
            Key::Name => ("--cluster-name", "name"),
            Key::Seeds => ("--seed", "seeds"),
            Key::PollInterval => ("--poll-interval", "poll_interval"),
            Key::Timeout => ("--timeout", "timeout"),
            Key::FullViewsPerPoll => ("--full-views-per-poll", "full_views_per_poll"),
            Key::ClientsInterval => ("--clients-interval", "clients_interval"),
            Key::SlotStatsInterval => ("--slot-stats-interval", "slot_stats_interval"),
            Key::SlotStatsTop => ("--slot-stats-top", "slot_stats_top"),
            Key::MaxReplyBytes => ("--max-reply-bytes", "max_reply_bytes"),
            Key::MaxPollBytes => ("--max-poll-bytes", "max_poll_bytes"),
            Key::RedirectRateThreshold => ("--redirect-rate-threshold", "redirect_rate_threshold"),
            Key::RedirectGraceWindow => ("--redirect-grace-window", "redirect_grace_window"),
            Key::RedirectFor => ("--redirect-for", "redirect_for"),
            Key::RedirectRateWindow => ("--redirect-rate-window", "redirect_rate_window"),
            Key::PasswordFile => ("--password-file", "password_file"),
            Key::PasswordEnv => ("--password-env", "password_env"),
            Key::Password => ("--password-file", "password"),
            Key::Tls => ("--tls-ca-file/--tls-cert-file/--tls-server-name", "tls"),
            Key::TlsCertAndKey => ("--tls-cert-file/--tls-key-file", "tls.cert_file"),
        }
    }
}

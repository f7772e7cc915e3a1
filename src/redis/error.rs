//! Why a node could not be read, with the cause kept as the error's source.

use std::sync::Arc;
use std::time::Duration;

use crate::config::HumanBytes;

/// The cause behind a [`FetchError`], kept as its source; shared so that errors stay cheap to
/// copy into snapshots and notes.
pub type Cause = Arc<dyn std::error::Error + Send + Sync>;

/// Why a node could not be read. `reason()` is the `reason` label of
/// `slotwatch_poll_errors_total`; messages carry the cause but never a secret.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    /// Connect, TLS, AUTH or the round trip took longer than the per-node timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The TCP connection could not be made or broke.
    #[error("connection failed: {0}")]
    Connect(#[source] Cause),
    /// The TLS handshake or TLS setup failed.
    #[error("TLS failed: {0}")]
    Tls(#[source] Cause),
    /// The server rejected the credentials (or needs some), or the password cannot be read.
    #[error("authentication failed: {0}")]
    Auth(#[source] Cause),
    /// The node does not run in cluster mode.
    #[error("not a cluster node: {0}")]
    NotCluster(#[source] ::redis::RedisError),
    /// The reply could not be understood.
    #[error("bad reply: {0}")]
    Protocol(#[source] ProtocolError),
    /// The node sent more than a cap allows.
    #[error("{what} over the {} cap ({flag})", HumanBytes(*.limit))]
    TooLarge {
        /// What went over: the reply, or the poll's reads.
        what: &'static str,
        /// The flag that sets the cap.
        flag: &'static str,
        /// The cap, in bytes.
        limit: u64,
    },
    /// The node failed the last polls and rests this one; no attempt was made.
    #[error("not tried this poll: resting after repeated failures")]
    Resting,
}

/// What was wrong with a node's replies.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProtocolError {
    /// redis-rs could not read the reply, or the server answered a required command with an
    /// error.
    #[error("{0}")]
    Redis(#[source] ::redis::RedisError),
    /// The pipeline's replies do not match its commands.
    #[error("expected {expected} replies to the pipeline, got {got}")]
    ReplyCount {
        /// Commands sent.
        expected: usize,
        /// Replies read.
        got: usize,
    },
    /// The `CLUSTER NODES` reply does not parse.
    #[error("CLUSTER NODES {0}")]
    View(#[source] crate::topology::parse::ParseError),
    /// The `CLUSTER NODES` reply does not say which node is answering.
    #[error("CLUSTER NODES reply has no myself line")]
    NoMyself,
    /// The `CLUSTER INFO` reply does not parse.
    #[error("{0}")]
    ClusterInfo(#[source] crate::cluster_info::ClusterInfoError),
    /// The job log's reply (`CLUSTER GETSLOTMIGRATIONS`, `CLUSTER MIGRATION STATUS ALL`) is
    /// not an array.
    #[error("{command}: expected an array, got {got}")]
    JobsShape {
        /// The command asked.
        command: String,
        /// The reply, shortened.
        got: String,
    },
    /// An entry of the job log does not parse.
    #[error("{command}: {source}")]
    Job {
        /// The command asked.
        command: String,
        /// Which entry and field.
        #[source]
        source: crate::topology::atomic::JobError,
    },
}

/// A TLS server name that rustls does not accept.
#[derive(Debug, thiserror::Error)]
#[error("invalid server name {name:?}: {source}")]
pub(super) struct ServerNameError {
    pub(super) name: String,
    pub(super) source: rustls_pki_types::InvalidDnsNameError,
}

impl FetchError {
    /// Short machine-readable cause, used as a metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            FetchError::Timeout(_) => "timeout",
            FetchError::Connect(_) => "connect",
            FetchError::Tls(_) => "tls",
            FetchError::Auth(_) => "auth",
            FetchError::NotCluster(_) => "not_cluster",
            FetchError::Protocol(_) => "protocol",
            FetchError::TooLarge { .. } => "reply_too_large",
            FetchError::Resting => "resting",
        }
    }

    /// Classifies an error from redis-rs by its kind and error code.
    pub fn from_redis(e: &::redis::RedisError) -> FetchError {
        use ::redis::ErrorKind;
        // Two replies carry only the generic ERR code, told apart by their text: Redis before
        // 6 refusing AUTH, and a server not in cluster mode refusing CLUSTER.
        let detail = e.detail().unwrap_or_default().to_ascii_lowercase();
        let generic = e.code() == Some("ERR");
        match (e.kind(), e.code()) {
            (ErrorKind::AuthenticationFailed, _) | (_, Some("WRONGPASS" | "NOAUTH" | "NOPERM")) => {
                FetchError::Auth(Arc::new(e.clone()))
            }
            _ if generic && detail.contains("invalid password") => {
                FetchError::Auth(Arc::new(e.clone()))
            }
            _ if generic && detail.contains("cluster support disabled") => {
                FetchError::NotCluster(e.clone())
            }
            _ if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() => {
                FetchError::Connect(Arc::new(e.clone()))
            }
            _ => FetchError::Protocol(ProtocolError::Redis(e.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    /// The error a server reply `-<line>` gives, as redis-rs reports it.
    fn server_error(line: &str) -> ::redis::RedisError {
        match ::redis::parse_redis_value(format!("-{line}\r\n").as_bytes()) {
            Ok(::redis::Value::ServerError(e)) => e.into(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_are_classified_by_code_and_keep_their_source() {
        use std::error::Error as _;
        let cases = [
            ("WRONGPASS invalid username-password pair", "auth"),
            ("NOAUTH Authentication required.", "auth"),
            (
                "NOPERM this user has no permissions to run the 'cluster' command",
                "auth",
            ),
            ("ERR invalid password", "auth"),
            (
                "ERR This instance has cluster support disabled",
                "not_cluster",
            ),
            ("ERR unknown command 'CLUSTER'", "protocol"),
            ("LOADING Redis is loading the dataset in memory", "protocol"),
        ];
        for (line, reason) in cases {
            let e = FetchError::from_redis(&server_error(line));
            assert_eq!(e.reason(), reason, "{line}");
            let source = e.source().map(ToString::to_string).unwrap_or_default();
            assert!(
                source.contains(line.split(' ').nth(1).unwrap_or("")),
                "{line}: {source}"
            );
        }
        let refused = ::redis::RedisError::from(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(FetchError::from_redis(&refused).reason(), "connect");
        let auth = ::redis::RedisError::from((
            ::redis::ErrorKind::AuthenticationFailed,
            "Password authentication failed",
        ));
        assert_eq!(FetchError::from_redis(&auth).reason(), "auth");
    }
}

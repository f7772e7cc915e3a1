//! The values a configuration is made of: durations, seed URLs, secrets and where they come
//! from, and TLS settings for connections to Redis.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// Why a value of the configuration could not be read; the text is the value as written,
/// never a secret (a seed with credentials is refused without echoing it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// Not a duration.
    #[error("expected a duration such as 500ms, 5s or 1m, found {0:?}")]
    Duration(String),
    /// Not a size, or one too large.
    #[error("expected a size such as 8MiB, 512KiB or 1GiB, found {0:?}")]
    Size(String),
    /// A seed without the `redis://` or `rediss://` scheme.
    #[error("a seed must look like redis://host:port or rediss://host:port")]
    SeedScheme,
    /// A seed URL with credentials in it.
    #[error(
        "a seed URL must not contain credentials; use username and password_file or password_env"
    )]
    SeedCredentials,
    /// A seed with a bracketed IPv6 host but no port after it.
    #[error("expected [ipv6]:port in seed {0:?}")]
    SeedIpv6(String),
    /// A seed without a port.
    #[error("missing :port in seed {0:?}")]
    SeedNoPort(String),
    /// A seed without a host.
    #[error("missing host in seed {0:?}")]
    SeedNoHost(String),
    /// A seed whose port is not 1 to 65535.
    #[error("bad port in seed {0:?}")]
    SeedPort(String),
}

/// A duration written as `500ms`, `5s`, `2m` or `1h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl std::str::FromStr for HumanDuration {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let expected = || ValueError::Duration(text.to_owned());
        let n: u64 = num.parse().map_err(|_| expected())?;
        let d = match unit {
            // Zero needs no unit: `0` is how "off" is usually written.
            "" if n == 0 => Duration::ZERO,
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.saturating_mul(60)),
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            _ => return Err(expected()),
        };
        Ok(HumanDuration(d))
    }
}

impl fmt::Display for HumanDuration {
    /// The largest unit that writes the duration exactly, so that it parses back unchanged.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        match ms {
            _ if ms.is_multiple_of(3_600_000) && ms > 0 => write!(f, "{}h", ms / 3_600_000),
            _ if ms.is_multiple_of(60_000) && ms > 0 => write!(f, "{}m", ms / 60_000),
            _ if ms.is_multiple_of(1000) => write!(f, "{}s", ms / 1000),
            _ => write!(f, "{ms}ms"),
        }
    }
}

/// A byte size written the way people write it: `8MiB`, `512KiB`, `1GiB`, `64MB` or a plain
/// number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanBytes(pub u64);

impl std::str::FromStr for HumanBytes {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let expected = || ValueError::Size(text.to_owned());
        let n: u64 = num.parse().map_err(|_| expected())?;
        let scale: u64 = match unit.trim() {
            "" | "B" => 1,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            "kB" | "KB" => 1000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            _ => return Err(expected()),
        };
        n.checked_mul(scale).map(HumanBytes).ok_or_else(expected)
    }
}

impl fmt::Display for HumanBytes {
    /// The largest binary unit that writes the size exactly, so that it parses back unchanged.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] {
            if n > 0 && n.is_multiple_of(1 << shift) {
                return write!(f, "{}{unit}", n >> shift);
            }
        }
        write!(f, "{n}")
    }
}

impl<'de> Deserialize<'de> for HumanBytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(ParsedStr(std::marker::PhantomData))
    }
}

/// Deserializes a string through `FromStr`, failing inside the scalar so that serde_yaml
/// reports the key path and the value's own line and column.
struct ParsedStr<T>(std::marker::PhantomData<T>);

impl<T: std::str::FromStr<Err = ValueError>> serde::de::Visitor<'_> for ParsedStr<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
        v.parse().map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(ParsedStr(std::marker::PhantomData))
    }
}

/// A seed address: `redis://host:port` or `rediss://host:port` (TLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seed {
    /// Host name or IP (IPv6 without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
    /// True for `rediss://`.
    pub tls: bool,
}

impl Seed {
    /// `host:port`, with brackets around IPv6 hosts, for connecting and for messages.
    pub fn endpoint(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "rediss" } else { "redis" };
        write!(f, "{scheme}://{}", self.endpoint())
    }
}

impl std::str::FromStr for Seed {
    type Err = ValueError;

    /// Parses a seed URL. A password in the URL is refused (without echoing it), because URLs
    /// end up in process lists, logs and metrics.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (tls, rest) = if let Some(r) = text.strip_prefix("rediss://") {
            (true, r)
        } else if let Some(r) = text.strip_prefix("redis://") {
            (false, r)
        } else {
            return Err(ValueError::SeedScheme);
        };
        // Refuse credentials anywhere in the URL, before any other check can echo it: a
        // password may itself contain '/', '?' or ':'.
        if rest.contains('@') {
            return Err(ValueError::SeedCredentials);
        }
        let hostport = rest.split(['/', '?']).next().unwrap_or("");
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            v6.split_once("]:")
                .ok_or_else(|| ValueError::SeedIpv6(text.to_owned()))?
        } else {
            hostport
                .rsplit_once(':')
                .ok_or_else(|| ValueError::SeedNoPort(text.to_owned()))?
        };
        if host.is_empty() {
            return Err(ValueError::SeedNoHost(text.to_owned()));
        }
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| ValueError::SeedPort(text.to_owned()))?;
        Ok(Seed {
            host: host.to_owned(),
            port,
            tls,
        })
    }
}

impl<'de> Deserialize<'de> for Seed {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(ParsedStr(std::marker::PhantomData))
    }
}

/// A secret string that never prints: `Debug` shows `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The secret itself; call only where it is handed to the Redis client.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Why a password could not be loaded; names the file, never the secret.
#[derive(Debug, thiserror::Error)]
#[error("cannot read password file {path}: {source}")]
pub struct PasswordError {
    /// The password file.
    pub path: PathBuf,
    /// The I/O error.
    pub source: std::io::Error,
}

/// Where the Redis password comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// Read from this file on every (re)connect; trailing newlines are dropped.
    File(PathBuf),
    /// Read from this environment variable at startup.
    Env {
        /// The variable's name (safe to print).
        name: String,
        /// Its value.
        value: Secret,
    },
}

impl PasswordSource {
    /// Loads the password.
    pub fn load(&self) -> Result<Secret, PasswordError> {
        match self {
            PasswordSource::File(path) => std::fs::read_to_string(path)
                .map(|s| Secret(s.trim_end_matches(['\r', '\n']).to_owned()))
                .map_err(|source| PasswordError {
                    path: path.clone(),
                    source,
                }),
            PasswordSource::Env { value, .. } => Ok(value.clone()),
        }
    }
}

/// Redis AUTH settings: an optional ACL user and an optional password source.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Auth {
    /// ACL user name (Redis 6+); `None` authenticates as `default`.
    pub username: Option<String>,
    /// Where the password comes from, if any.
    pub password: Option<PasswordSource>,
}

/// TLS settings for connections to Redis.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file of CA certificates that sign the servers' certificates; the system's web roots
    /// are not used, since Redis deployments almost always use a private CA.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate, for servers with `tls-auth-clients yes`.
    pub cert_file: Option<PathBuf>,
    /// PEM private key for `cert_file`.
    pub key_file: Option<PathBuf>,
    /// Name to verify in the server certificate. Cluster nodes announce IPs, so without this
    /// the certificate must carry IP SANs.
    pub server_name: Option<String>,
    /// Accept any server certificate. For tests only: it defeats TLS's protection.
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_and_durations_parse() {
        let s: Seed = "redis://127.0.0.1:7000/0".parse().unwrap();
        assert_eq!((s.host.as_str(), s.port, s.tls), ("127.0.0.1", 7000, false));
        assert_eq!(s.to_string(), "redis://127.0.0.1:7000");
        assert!("redis://host".parse::<Seed>().is_err());
        assert!("redis://host:0".parse::<Seed>().is_err());
        assert!("redis://:6379".parse::<Seed>().is_err());
        assert!("redis://user@host:1".parse::<Seed>().is_err());
        assert_eq!(
            "90s".parse::<HumanDuration>().unwrap().0,
            Duration::from_secs(90)
        );
        assert_eq!(
            "2m".parse::<HumanDuration>().unwrap().0,
            Duration::from_secs(120)
        );
        for bad in ["", "5", "s", "-1s", "1.5s", "5 s"] {
            assert!(bad.parse::<HumanDuration>().is_err(), "{bad:?}");
        }
        assert_eq!("0".parse::<HumanDuration>().unwrap().0, Duration::ZERO);
        for text in ["500ms", "5s", "90s", "2m", "1h", "1500ms"] {
            let d: HumanDuration = text.parse().unwrap();
            assert_eq!(d.to_string(), text);
        }
    }

    #[test]
    fn sizes_parse_and_print_back() {
        assert_eq!("8MiB".parse::<HumanBytes>(), Ok(HumanBytes(8 << 20)));
        assert_eq!("64MB".parse::<HumanBytes>(), Ok(HumanBytes(64_000_000)));
        assert_eq!("4096".parse::<HumanBytes>(), Ok(HumanBytes(4096)));
        for bad in ["", "MiB", "1.5MiB", "-1KiB", "8 mib", "99999999999GiB"] {
            assert!(bad.parse::<HumanBytes>().is_err(), "{bad:?}");
        }
        for text in ["8MiB", "512KiB", "1GiB", "1000"] {
            assert_eq!(text.parse::<HumanBytes>().unwrap().to_string(), text);
        }
    }

    #[test]
    fn secrets_never_print() {
        assert_eq!(format!("{:?}", Secret::new("hunter2".into())), "<redacted>");
        let auth = Auth {
            username: Some("u".into()),
            password: Some(PasswordSource::Env {
                name: "X".into(),
                value: Secret::new("hunter2".into()),
            }),
        };
        assert!(!format!("{auth:?}").contains("hunter2"));
    }
}

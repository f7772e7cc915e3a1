//! Basic auth and extra response headers from the web config, applied to every request.
//!
//! `/healthz` stays open so that probes need no credentials; it reveals nothing.

use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::config::{WebConfig, WebConfigSource};

/// One bcrypt check at a time, as exporter-toolkit does: a flood of bogus credentials then costs
/// one core, not all of them.
static BCRYPT: Mutex<()> = Mutex::new(());

/// A hash to check unknown users against, so that a wrong user name takes as long as a wrong
/// password and user names cannot be probed by timing.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        bcrypt::hash("slotwatch: no such user", bcrypt::DEFAULT_COST).unwrap_or_default()
    })
}

impl WebConfig {
    /// Checks an `Authorization` header against this config's users; `true` if it names a
    /// user whose bcrypt hash matches. Runs bcrypt at most once per distinct good header.
    pub fn authorized(&self, header: Option<&str>) -> bool {
        use base64::Engine;
        let Some(header) = header else { return false };
        if self
            .verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|h| h == header)
        {
            return true;
        }
        let Some(encoded) = header.strip_prefix("Basic ") else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        let Ok(text) = String::from_utf8(decoded) else {
            return false;
        };
        let Some((user, password)) = text.split_once(':') else {
            return false;
        };
        let (hash, known) = match self.users.get(user) {
            Some(h) => (h.as_str(), true),
            None => (dummy_hash(), false),
        };
        let matches = {
            let _one_at_a_time = BCRYPT.lock().unwrap_or_else(|e| e.into_inner());
            bcrypt::verify(password, hash).unwrap_or(false)
        };
        let ok = known && matches;
        if ok {
            let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            if verified.len() >= 64 {
                verified.remove(0);
            }
            verified.push(header.to_owned());
        }
        ok
    }
}

/// The middleware: checks credentials when the web config has users, and adds its headers.
pub async fn guard(
    State(web): State<Arc<WebConfigSource>>,
    request: Request,
    next: Next,
) -> Response {
    let config = web.current();
    if !config.users.is_empty() && request.uri().path() != "/healthz" {
        let header = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let checker = config.clone();
        // bcrypt is slow on purpose; keep it off the async workers.
        let ok = tokio::task::spawn_blocking(move || checker.authorized(header.as_deref()))
            .await
            .unwrap_or(false);
        if !ok {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Basic realm=\"slotwatch\"")],
                "Unauthorized\n",
            )
                .into_response();
        }
    }
    let mut response = next.run(request).await;
    for (name, value) in config.headers.iter() {
        if let (Ok(n), Ok(v)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            response.headers_mut().insert(n, v);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::super::config::load;
    use super::super::config::tests::write;
    use super::*;

    #[test]
    fn basic_auth_checks_bcrypt_and_caches_successes() {
        let dir = tempfile::tempdir().unwrap();
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let p = write(
            dir.path(),
            "w.yml",
            &format!("basic_auth_users:\n  prometheus: '{hash}'\n"),
        );
        let source = WebConfigSource::open(&p).unwrap();
        let config = source.current();
        use base64::Engine;
        let header = |u: &str, pw: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{pw}"))
            )
        };
        assert!(config.authorized(Some(&header("prometheus", "s3cret"))));
        assert!(config.authorized(Some(&header("prometheus", "s3cret"))));
        assert!(!config.authorized(Some(&header("prometheus", "wrong"))));
        assert!(!config.authorized(Some(&header("other", "s3cret"))));
        assert!(!config.authorized(Some("Bearer x")));
        assert!(!config.authorized(None));
        // A reload that removes the user: the new config does not inherit the old cache.
        std::fs::write(&p, "basic_auth_users: {}\n").unwrap();
        let reloaded = load(&p).unwrap();
        assert!(!reloaded.authorized(Some(&header("prometheus", "s3cret"))));
    }
}

//! Basic auth and extra response headers from the web config, applied to every request but
//! `/healthz` (probes need no credentials; it reveals nothing).
//!
//! bcrypt is slow on purpose (about 55 ms at cost 10 on one core), so a flood of bad
//! credentials must not be able to starve good ones, nor exhaust threads:
//! - a header that passed before is answered from a cache, on the async side, without bcrypt;
//! - a header that failed recently is answered from a short negative cache;
//! - everything else is checked by a small fixed pool of bcrypt threads (no thread per request),
//!   newest request first, and checks for configured users before checks for unknown ones: a
//!   flood of made-up users cannot delay a real user, and under a flood the newest request is
//!   served next;
//! - an unknown user is checked against a dummy hash of the configured users' cost, so it costs
//!   what a wrong password costs and user names cannot be probed by timing;
//! - a request waiting for its check does not hold its connection slot (see `server.rs`).
//!
//! A flood of ever-new wrong passwords for a real user name is indistinguishable from that
//! user without bcrypt; it delays that user's first check (later scrapes hit the cache).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::oneshot;

use super::config::{WebConfig, WebConfigSource};
use super::server::Connection;

/// bcrypt threads: enough to use the machine's cores, few enough that a flood cannot make
/// slotwatch spawn hundreds of threads.
const BCRYPT_THREADS: usize = 2;

/// Credential checks of each kind that may wait for a bcrypt thread; beyond it the oldest is
/// turned away as busy. Above the default connection limit, so it only matters if that is
/// raised.
const QUEUE_LIMIT: usize = 1024;

/// How long a failed header is answered from memory: a client repeating the same wrong
/// credentials costs one bcrypt check per minute, however fast it retries.
const NEGATIVE_TTL: Duration = Duration::from_secs(60);

/// Failed headers remembered at most.
const NEGATIVE_LIMIT: usize = 10_000;

/// What a credential check decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The header names a user whose password matches.
    Allowed,
    /// No header, a malformed one, an unknown user or a wrong password.
    Denied,
    /// Too many checks are waiting; try again.
    Busy,
}

/// One bcrypt check waiting for a thread.
struct Job {
    password: String,
    /// The user's hash, or `None` for an unknown user (checked against a dummy of `cost`).
    hash: Option<String>,
    cost: u32,
    done: oneshot::Sender<bool>,
}

/// Waiting checks, oldest first; threads take the newest, configured users first.
#[derive(Default)]
struct Queues {
    known: VecDeque<Job>,
    unknown: VecDeque<Job>,
}

#[derive(Default)]
struct Pool {
    jobs: Mutex<Queues>,
    wake: Condvar,
    /// Recently failed headers and when they failed.
    failed: Mutex<HashMap<String, Instant>>,
}

/// Checks Basic credentials with a bounded bcrypt pool (see the module docs).
#[derive(Clone)]
pub struct Verifier {
    pool: Arc<Pool>,
}

impl Verifier {
    /// Starts the bcrypt threads.
    pub fn new() -> Verifier {
        let pool = Arc::new(Pool::default());
        for i in 0..BCRYPT_THREADS {
            let pool = pool.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("bcrypt-{i}"))
                .spawn(move || work(&pool));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a bcrypt thread");
            }
        }
        Verifier { pool }
    }

    /// Checks an `Authorization` header against `config`'s users.
    pub async fn check(&self, config: &WebConfig, header: Option<&str>) -> Verdict {
        let Some(header) = header else {
            return Verdict::Denied;
        };
        if config.was_verified(header) {
            return Verdict::Allowed;
        }
        if self.failed_recently(header) {
            return Verdict::Denied;
        }
        let Some((user, password)) = decode(header) else {
            return Verdict::Denied;
        };
        let hash = config.users.get(&user).cloned();
        let (done, result) = oneshot::channel();
        {
            let mut queues = self.pool.jobs.lock().unwrap_or_else(|e| e.into_inner());
            let queue = if hash.is_some() {
                &mut queues.known
            } else {
                &mut queues.unknown
            };
            if queue.len() >= QUEUE_LIMIT {
                // The oldest waiting check gives way; its sender drops and it answers busy.
                queue.pop_front();
            }
            queue.push_back(Job {
                password,
                hash: hash.clone(),
                cost: config.cost,
                done,
            });
        }
        self.pool.wake.notify_one();
        match result.await {
            Ok(true) if hash.is_some() => {
                config.remember(header, &user);
                Verdict::Allowed
            }
            Ok(_) => {
                self.remember_failure(header);
                Verdict::Denied
            }
            Err(_) => Verdict::Busy,
        }
    }

    fn failed_recently(&self, header: &str) -> bool {
        let failed = self.pool.failed.lock().unwrap_or_else(|e| e.into_inner());
        failed
            .get(header)
            .is_some_and(|at| at.elapsed() < NEGATIVE_TTL)
    }

    fn remember_failure(&self, header: &str) {
        let mut failed = self.pool.failed.lock().unwrap_or_else(|e| e.into_inner());
        if failed.len() >= NEGATIVE_LIMIT {
            failed.retain(|_, at| at.elapsed() < NEGATIVE_TTL);
            if failed.len() >= NEGATIVE_LIMIT {
                failed.clear();
            }
        }
        failed.insert(header.to_owned(), Instant::now());
    }
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier::new()
    }
}

/// A bcrypt thread: takes the newest waiting check, forever.
fn work(pool: &Pool) {
    loop {
        let job = {
            let mut queues = pool.jobs.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if let Some(job) = queues
                    .known
                    .pop_back()
                    .or_else(|| queues.unknown.pop_back())
                {
                    break job;
                }
                queues = pool.wake.wait(queues).unwrap_or_else(|e| e.into_inner());
            }
        };
        // A caller that gave up (its connection closed) no longer waits: skip the work.
        if job.done.is_closed() {
            continue;
        }
        let matches = match &job.hash {
            Some(hash) => bcrypt::verify(&job.password, hash).unwrap_or(false),
            None => {
                let _ = bcrypt::verify(&job.password, dummy_hash(job.cost));
                false
            }
        };
        let _ = job.done.send(matches);
    }
}

/// A hash of the given cost to check unknown users against; made once per cost.
fn dummy_hash(cost: u32) -> &'static str {
    static DUMMIES: OnceLock<Mutex<HashMap<u32, &'static str>>> = OnceLock::new();
    let dummies = DUMMIES.get_or_init(Default::default);
    let mut dummies = dummies.lock().unwrap_or_else(|e| e.into_inner());
    dummies.entry(cost).or_insert_with(|| {
        let hash = bcrypt::hash("slotwatch: no such user", cost).unwrap_or_default();
        // One short string per distinct cost (4 to 31): bounded, and needed for the process's
        // whole life.
        Box::leak(hash.into_boxed_str())
    })
}

/// `Basic <base64 user:password>` to (user, password); the scheme is matched regardless of
/// case (RFC 7617).
pub fn decode(header: &str) -> Option<(String, String)> {
    use base64::Engine;
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// The guard's shared state: the web config file and the bcrypt pool.
pub struct Guard {
    /// The web config, re-read when it changes.
    pub source: Arc<WebConfigSource>,
    /// The credential checker.
    pub verifier: Verifier,
}

/// The middleware: checks credentials when the web config has users, and adds its headers to
/// every response, refusals included.
pub async fn guard(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let config = guard.source.current();
    let mut response = if config.users.is_empty() || request.uri().path() == "/healthz" {
        next.run(request).await
    } else {
        let header = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let waiting = request
            .extensions()
            .get::<Connection>()
            .map(Connection::checking);
        let verdict = guard.verifier.check(&config, header).await;
        drop(waiting);
        match verdict {
            Verdict::Allowed => next.run(request).await,
            Verdict::Denied => (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Basic realm=\"slotwatch\"")],
                "Unauthorized\n",
            )
                .into_response(),
            Verdict::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "1")],
                "Too many credential checks in flight; retry\n",
            )
                .into_response(),
        }
    };
    add_headers(response.headers_mut(), &config.headers);
    response
}

fn add_headers(headers: &mut HeaderMap, extra: &[(String, String)]) {
    for (name, value) in extra {
        if let (Ok(n), Ok(v)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            headers.insert(n, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::config::tests::write;
    use super::super::config::{WebConfigSource, load};
    use super::*;

    fn basic(u: &str, pw: &str) -> String {
        use base64::Engine;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{pw}"))
        )
    }

    #[tokio::test]
    async fn checks_bcrypt_and_answers_repeats_from_memory() {
        let dir = tempfile::tempdir().unwrap();
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let p = write(
            dir.path(),
            "w.yml",
            &format!("basic_auth_users:\n  prometheus: '{hash}'\n"),
        );
        let source = WebConfigSource::open(&p).unwrap();
        let config = source.current();
        let v = Verifier::new();
        let good = basic("prometheus", "s3cret");
        assert_eq!(v.check(&config, Some(&good)).await, Verdict::Allowed);
        assert!(config.was_verified(&good), "remembered");
        let lower = good.replacen("Basic", "basic", 1);
        assert_eq!(
            v.check(&config, Some(&lower)).await,
            Verdict::Allowed,
            "RFC 7617"
        );
        let wrong = basic("prometheus", "wrong");
        assert_eq!(v.check(&config, Some(&wrong)).await, Verdict::Denied);
        assert!(v.failed_recently(&wrong), "a failure is remembered briefly");
        assert_eq!(
            v.check(&config, Some(&basic("other", "s3cret"))).await,
            Verdict::Denied
        );
        assert_eq!(v.check(&config, Some("Bearer x")).await, Verdict::Denied);
        assert_eq!(v.check(&config, None).await, Verdict::Denied);
        // A reload that removes the user: the new config does not inherit the old cache.
        std::fs::write(&p, "basic_auth_users: {}\n").unwrap();
        let reloaded = load(&p).unwrap();
        assert_eq!(v.check(&reloaded, Some(&good)).await, Verdict::Denied);
    }

    #[test]
    fn headers_decode_with_any_scheme_case_and_nothing_else() {
        assert_eq!(
            decode(&basic("a", "b:c")),
            Some(("a".to_owned(), "b:c".to_owned()))
        );
        assert!(decode(&basic("a", "b").replace("Basic", "BASIC")).is_some());
        for bad in ["Basic", "Basic !!!", "Bearer abc", "Basic YWJj"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_unknown_user_costs_what_a_wrong_password_costs() {
        // The configured users' cost is what the dummy hash has.
        let hash = bcrypt::hash("pw", 8).unwrap();
        let dummy = dummy_hash(8);
        assert_eq!(&dummy[..7], &hash[..7], "same variant and cost: {dummy}");
        // And so the time, within 20%: interleaved, the fastest of each. It is the thread's CPU
        // time, not the wall clock, so that other processes on a busy machine cannot skew it;
        // bcrypt is pure computation.
        let mut wrong = f64::MAX;
        let mut unknown = f64::MAX;
        for _ in 0..9 {
            for (hash, fastest) in [(hash.as_str(), &mut wrong), (dummy, &mut unknown)] {
                let start = thread_cpu_seconds();
                assert!(!bcrypt::verify("x", hash).unwrap());
                *fastest = fastest.min(thread_cpu_seconds() - start);
            }
        }
        let ratio = unknown / wrong;
        assert!((0.8..1.2).contains(&ratio), "unknown/wrong = {ratio:.2}");
    }

    /// CPU time the calling thread has used.
    fn thread_cpu_seconds() -> f64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid timespec for the call to fill in.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
        ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
    }

    #[test]
    fn a_reload_keeps_good_headers_of_unchanged_users_only() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (bcrypt::hash("a", 4).unwrap(), bcrypt::hash("b", 4).unwrap());
        let p = write(
            dir.path(),
            "w.yml",
            &format!("basic_auth_users:\n  alice: '{a}'\n  bob: '{b}'\n"),
        );
        let source = WebConfigSource::open(&p).unwrap();
        let config = source.current();
        config.remember(&basic("alice", "a"), "alice");
        config.remember(&basic("bob", "b"), "bob");
        let b2 = bcrypt::hash("b2", 4).unwrap();
        // A different size, so the change is seen even within the same mtime second.
        std::fs::write(
            &p,
            format!("basic_auth_users:\n  alice: '{a}'\n  bob: '{b2}'\n  carol: '{b2}'\n"),
        )
        .unwrap();
        let reloaded = source.current();
        assert!(reloaded.was_verified(&basic("alice", "a")));
        assert!(
            !reloaded.was_verified(&basic("bob", "b")),
            "bob's password changed"
        );
        // An empty file (a rewrite caught half-way) keeps the last good settings.
        std::fs::write(&p, "").unwrap();
        assert_eq!(source.current().users.len(), 3);
    }
}

//! Headless Chromium (Debian's `chromium`) driven over the Chrome DevTools Protocol: load a
//! page, evaluate JavaScript in it, resize the window, take screenshots. Its whole process
//! group is killed on drop, even when the test fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

use crate::support::{ProcessGuard, free_port, require, wait_for};

/// A headless Chromium with one page open.
pub struct Chromium {
    ws: WebSocket<TcpStream>,
    next_id: u64,
    process: ProcessGuard,
    _profile: tempfile::TempDir,
}

impl Chromium {
    /// Starts Chromium with a fresh profile and connects to its page.
    pub fn start() -> Chromium {
        require("chromium");
        let port = free_port();
        let profile = tempfile::tempdir().expect("tempdir");
        let mut cmd = Command::new("chromium");
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--window-size=1280,800",
        ])
        .arg(format!("--remote-debugging-port={port}"))
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        // Its own process group, so that the renderers and helpers die with it.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let process = ProcessGuard::spawn("chromium", &mut cmd);
        let page = wait_for(
            "chromium's DevTools endpoint",
            Duration::from_secs(30),
            || {
                let list: Value = serde_json::from_str(&devtools_get(port, "/json/list")?).ok()?;
                list.as_array()?
                    .iter()
                    .find(|t| t["type"] == "page")?
                    .get("webSocketDebuggerUrl")?
                    .as_str()
                    .map(str::to_owned)
            },
        );
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to DevTools");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("read timeout");
        let (ws, _) = tungstenite::client(page.as_str(), stream).expect("DevTools websocket");
        let mut browser = Chromium {
            ws,
            next_id: 0,
            process,
            _profile: profile,
        };
        browser.call("Page.enable", json!({}));
        // A headless page never has the window's focus; without this, focus events do not fire.
        browser.call(
            "Emulation.setFocusEmulationEnabled",
            json!({"enabled": true}),
        );
        browser
    }

    /// Sends one DevTools command and returns its result, panicking on a protocol error.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({"id": id, "method": method, "params": params}).to_string();
        self.ws
            .send(Message::text(msg))
            .unwrap_or_else(|e| panic!("{method}: {e}"));
        loop {
            let reply = self.ws.read().unwrap_or_else(|e| panic!("{method}: {e}"));
            let Message::Text(text) = reply else { continue };
            let v: Value = serde_json::from_str(text.as_str()).expect("DevTools JSON");
            if v["id"] != id {
                continue; // an event
            }
            if let Some(err) = v.get("error") {
                panic!("{method} failed: {err}");
            }
            return v["result"].clone();
        }
    }

    /// Loads `url` and waits until the document has loaded.
    pub fn navigate(&mut self, url: &str) {
        let r = self.call("Page.navigate", json!({ "url": url }));
        assert!(r.get("errorText").is_none(), "loading {url}: {r}");
        self.wait("the page to load", Duration::from_secs(20), |b| {
            let state = b.eval(&format!(
                "document.readyState === 'complete' && location.href === {}",
                json!(url)
            ));
            (state == true).then_some(())
        });
    }

    /// Evaluates a JavaScript expression in the page and returns its value as JSON.
    pub fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        if let Some(ex) = r.get("exceptionDetails") {
            panic!("{expression}\nthrew: {ex}");
        }
        r["result"]["value"].clone()
    }

    /// Polls `check` every 200 ms until it returns `Some`, panicking with `what` after
    /// `timeout`.
    pub fn wait<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&mut Chromium) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = check(self) {
                return v;
            }
            if Instant::now() > deadline {
                let body = self.eval("document.body ? document.body.innerText : ''");
                panic!("timed out after {timeout:?} waiting for {what}\n--- page text ---\n{body}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Sets the window's size in CSS pixels.
    pub fn viewport(&mut self, width: u32, height: u32) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        );
    }

    /// Turns JavaScript off or on for the next loads.
    pub fn javascript(&mut self, enabled: bool) {
        self.call(
            "Emulation.setScriptExecutionDisabled",
            json!({ "value": !enabled }),
        );
    }

    /// Saves what the window shows as a PNG.
    pub fn screenshot(&mut self, path: &Path) {
        self.capture(path, json!({"format": "png"}));
    }

    /// Saves the whole page, beyond the window, as a PNG.
    pub fn screenshot_full(&mut self, path: &Path) {
        let m = self.call("Page.getLayoutMetrics", json!({}));
        let size = &m["cssContentSize"];
        let clip = json!({"x": 0, "y": 0, "width": size["width"], "height": size["height"],
                          "scale": 1});
        self.capture(
            path,
            json!({"format": "png", "clip": clip, "captureBeyondViewport": true}),
        );
    }

    fn capture(&mut self, path: &Path, params: Value) {
        let r = self.call("Page.captureScreenshot", params);
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().expect("screenshot data"))
            .expect("base64 PNG");
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot directory");
        }
        std::fs::write(path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

/// GETs a DevTools HTTP endpoint; its server keeps the connection open, so the body is read
/// by its length.
fn devtools_get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
    )
    .ok()?;
    let mut reader = BufReader::new(stream);
    let mut length = None;
    let mut ok = false;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        ok |= line.starts_with("HTTP/1.1 200");
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length?];
    reader.read_exact(&mut body).ok()?;
    ok.then(|| String::from_utf8_lossy(&body).into_owned())
}

impl Drop for Chromium {
    fn drop(&mut self) {
        // Closed politely, Chromium ends and reaps its own helpers; then nothing is left over.
        let close = json!({"id": 0, "method": "Browser.close", "params": {}}).to_string();
        let _ = self.ws.send(Message::text(close));
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.process.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let pid = self.process.pid() as libc::pid_t;
        // SAFETY: kill(2) with a negative pid signals the process group that Chromium leads;
        // it was created for this Chromium alone (process_group(0) above), so it holds only
        // Chromium's own processes, if any are left.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
        self.process.kill();
    }
}

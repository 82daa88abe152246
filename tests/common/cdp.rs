//! A small synchronous Chrome DevTools Protocol client for the integration
//! tests that drive a real page: it launches headless Chromium, opens one
//! tab, and offers navigation, script evaluation, key presses, clicks, file
//! inputs and screenshots over one websocket.
//!
//! Every wait is bounded ([`CALL_TIMEOUT`], [`WAIT_TIMEOUT`]) and ends in a
//! panic that says what was awaited, so that a broken page or a wedged
//! browser fails the test instead of hanging it.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

/// How long one protocol call may take before the test fails.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How long [`Browser::wait_for`] and [`Browser::goto`] poll before failing.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(20);

/// The viewport every page gets, so that layouts and screenshots do not
/// depend on Chromium's defaults.
pub const VIEWPORT: (u32, u32) = (1300, 900);

/// How long one socket read blocks: short, so that the deadline and the
/// browser's death are both noticed promptly.
const READ_SLICE: Duration = Duration::from_millis(250);

/// The most of Chromium's stderr kept for failure messages.
const STDERR_KEEP: usize = 16 * 1024;

/// A headless Chromium with one tab attached, killed when dropped.
pub struct Browser {
    child: Child,
    ws: WebSocket<TcpStream>,
    next_id: u64,
    /// The flattened session of the tab: every page command carries it.
    session: String,
    /// The tail of Chromium's stderr, kept by the thread that drains it.
    stderr: Arc<Mutex<String>>,
    /// Dropped after the child is killed (fields drop after `Drop::drop`).
    _profile: tempfile::TempDir,
}

/// Why a call did not return a result: the protocol's error, or the
/// exception a script threw.
#[derive(Debug)]
enum CallError {
    Protocol(String),
    Exception(String),
}

impl Browser {
    /// Launches headless Chromium with a fresh profile and a
    /// [`VIEWPORT`]-sized blank tab.
    pub fn launch() -> Browser {
        let profile = tempfile::tempdir().expect("a temporary Chromium profile folder");
        let mut child = Command::new(super::chromium())
            .args(super::CHROMIUM_FLAGS)
            .arg("--remote-debugging-port=0")
            .arg(format!("--window-size={},{}", VIEWPORT.0, VIEWPORT.1))
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium starts");

        // Chromium announces its websocket on stderr. The thread that reads
        // it keeps reading for the browser's whole life: a full pipe would
        // block Chromium, which would look like a hang.
        let stderr = Arc::new(Mutex::new(String::new()));
        let (url_tx, url_rx) = mpsc::channel();
        {
            let pipe = child.stderr.take().expect("chromium's stderr is piped");
            let keep = stderr.clone();
            std::thread::spawn(move || {
                let mut url_tx = Some(url_tx);
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    if let Some(rest) = line.strip_prefix("DevTools listening on ") {
                        if let Some(tx) = url_tx.take() {
                            let _ = tx.send(rest.trim().to_string());
                        }
                    }
                    let mut s = keep.lock().unwrap_or_else(|p| p.into_inner());
                    s.push_str(&line);
                    s.push('\n');
                    if s.len() > STDERR_KEEP {
                        let cut = s.len() - STDERR_KEEP / 2;
                        let cut = (cut..s.len()).find(|&i| s.is_char_boundary(i)).unwrap_or(0);
                        s.drain(..cut);
                    }
                }
            });
        }
        let url = match url_rx.recv_timeout(CALL_TIMEOUT) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "chromium did not announce its DevTools websocket within {CALL_TIMEOUT:?}; stderr:\n{}",
                    stderr.lock().unwrap_or_else(|p| p.into_inner())
                );
            }
        };

        let ws = match connect(&url) {
            Ok(ws) => ws,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("cannot connect to chromium's DevTools websocket {url}: {e}");
            }
        };
        let mut browser = Browser {
            child,
            ws,
            next_id: 1,
            session: String::new(),
            stderr,
            _profile: profile,
        };

        // A tab of our own, attached in flat mode: its commands travel on
        // the browser's socket, tagged with the session id.
        let target = browser.browser_call("Target.createTarget", json!({"url": "about:blank"}));
        let target_id = target["targetId"]
            .as_str()
            .expect("Target.createTarget returns a targetId")
            .to_string();
        let attached = browser.browser_call(
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        );
        browser.session = attached["sessionId"]
            .as_str()
            .expect("Target.attachToTarget returns a sessionId")
            .to_string();
        browser.call("Page.enable", json!({}));
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            json!({
                "width": VIEWPORT.0,
                "height": VIEWPORT.1,
                "deviceScaleFactor": 1,
                "mobile": false
            }),
        );
        // Key events go to the focused page; a background tab gets none.
        browser.call("Page.bringToFront", json!({}));
        browser.call(
            "Emulation.setFocusEmulationEnabled",
            json!({"enabled": true}),
        );
        browser
    }

    /// Navigates to `url` and waits until the new document has loaded
    /// (`document.readyState` is `complete`).
    pub fn goto(&mut self, url: &str) {
        // The old document is marked, so that its own readyState (already
        // `complete`) is not mistaken for the new one's.
        self.eval("window.__cdpOldDocument = true");
        let nav = self.call("Page.navigate", json!({"url": url}));
        if let Some(err) = nav["errorText"].as_str().filter(|e| !e.is_empty()) {
            panic!("navigating to {url} failed: {err}");
        }
        // A same-document navigation (only the fragment changed) has no new
        // loader and keeps the window, marker included.
        let new_document = nav.get("loaderId").is_some();
        let check = if new_document {
            "document.readyState === 'complete' && !window.__cdpOldDocument"
        } else {
            "document.readyState === 'complete'"
        };
        self.wait_for(check, &format!("the page {url} to load"));
    }

    /// Evaluates `js` in the page (awaiting a promise it returns) and
    /// returns its value as JSON (`null` for `undefined`); panics with the
    /// exception when the script throws.
    pub fn eval(&mut self, js: &str) -> Value {
        match self.try_eval(js) {
            Ok(v) => v,
            Err(CallError::Exception(e)) => panic!("script threw: {e}\nscript: {js}"),
            Err(CallError::Protocol(e)) => panic!("Runtime.evaluate failed: {e}\nscript: {js}"),
        }
    }

    /// Evaluates `js` every 50 ms until it returns a truthy value, and
    /// returns that value. A script that throws counts as not yet (the
    /// element it reads may not exist yet). Panics after [`WAIT_TIMEOUT`],
    /// naming `what` and showing the page's text.
    ///
    /// Only a fully parsed document counts: right after a form is sent, the
    /// new page streams in, and an element the check reads (a list, say) can
    /// be there but half-filled. CI once counted 11 of 24 results that way.
    pub fn wait_for(&mut self, js: &str, what: &str) -> Value {
        let guarded = format!("document.readyState === 'complete' && ({js})");
        let start = Instant::now();
        loop {
            let last_error = match self.try_eval(&guarded) {
                Ok(v) if truthy(&v) => return v,
                Ok(_) => None,
                Err(CallError::Exception(e) | CallError::Protocol(e)) => Some(e),
            };
            if start.elapsed() > WAIT_TIMEOUT {
                let text = self
                    .try_eval("document.body ? document.body.innerText : '(no body)'")
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_else(|| "(unreadable)".into());
                let text: String = text.chars().take(2000).collect();
                panic!(
                    "timed out after {WAIT_TIMEOUT:?} waiting for {what} ({js}){}\npage text:\n{text}",
                    last_error
                        .map(|e| format!("; last attempt threw: {e}"))
                        .unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Presses and releases `key`: a single printable character, or one of
    /// `ArrowLeft`, `ArrowRight`, `ArrowUp`, `ArrowDown`, `Enter`, `Escape`,
    /// `Tab`, `Backspace`, `Delete`, `Home`, `End`, `PageUp`, `PageDown`,
    /// `Space`. The page sees the DOM `key` and `code` a keyboard would send.
    pub fn press(&mut self, key: &str) {
        let k = key_info(key);
        let mut down = json!({
            "type": if k.text.is_some() { "keyDown" } else { "rawKeyDown" },
            "key": k.key,
            "code": k.code,
            "windowsVirtualKeyCode": k.vk,
            "nativeVirtualKeyCode": k.vk,
        });
        if let Some(text) = &k.text {
            down["text"] = json!(text);
            down["unmodifiedText"] = json!(text);
        }
        self.call("Input.dispatchKeyEvent", down);
        self.call(
            "Input.dispatchKeyEvent",
            json!({
                "type": "keyUp",
                "key": k.key,
                "code": k.code,
                "windowsVirtualKeyCode": k.vk,
                "nativeVirtualKeyCode": k.vk,
            }),
        );
    }

    /// Makes the tab a phone: `width` CSS pixels wide, a touch screen, the
    /// mobile viewport rules.
    pub fn phone(&mut self, width: u32, height: u32) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 2, "mobile": true}),
        );
        self.call(
            "Emulation.setTouchEmulationEnabled",
            json!({"enabled": true, "maxTouchPoints": 5}),
        );
    }

    /// The centre of the first element matching `selector`, scrolled into
    /// view first (panics when none matches or it has no box).
    fn centre(&mut self, selector: &str) -> (f64, f64) {
        let sel = serde_json::to_string(selector).expect("a string serialises");
        // The element is measured until it stays put for 50 ms (up to a
        // second): a picture still loading can move it between the
        // measurement and the press, and the press would land beside it.
        let r = self.eval(&format!(
            "(async () => {{ const e = document.querySelector({sel}); if (!e) return null;
                let last = null, b = null;
                for (let i = 0; i < 20; i++) {{
                    e.scrollIntoView({{block: 'center', inline: 'center'}});
                    b = e.getBoundingClientRect();
                    const now = [b.left, b.top, b.width, b.height];
                    if (last && now.every((v, k) => Math.abs(v - last[k]) < 0.5)) break;
                    last = now;
                    await new Promise(r => setTimeout(r, 50));
                }}
                return b.width > 0 && b.height > 0 ? [b.left + b.width / 2, b.top + b.height / 2] : null; }})()"
        ));
        match (r[0].as_f64(), r[1].as_f64()) {
            (Some(x), Some(y)) => (x, y),
            _ => panic!("no visible element matches {selector}"),
        }
    }

    /// Taps the first element matching `selector` with a finger: touch
    /// events, as a phone sends them (the page sees no mouse or key event
    /// but the click the browser makes of the tap).
    pub fn tap(&mut self, selector: &str) {
        let (x, y) = self.centre(selector);
        let point = json!([{"x": x, "y": y, "id": 1, "radiusX": 4, "radiusY": 4, "force": 1}]);
        self.call(
            "Input.dispatchTouchEvent",
            json!({"type": "touchStart", "touchPoints": point}),
        );
        self.call(
            "Input.dispatchTouchEvent",
            json!({"type": "touchEnd", "touchPoints": []}),
        );
    }

    /// Swipes a finger across the element matching `selector` by `dx` CSS
    /// pixels (negative: to the left), in a few moves.
    pub fn swipe(&mut self, selector: &str, dx: f64) {
        let (x, y) = self.centre(selector);
        let at = |x: f64| json!([{"x": x, "y": y, "id": 1}]);
        self.call(
            "Input.dispatchTouchEvent",
            json!({"type": "touchStart", "touchPoints": at(x)}),
        );
        for i in 1..=4 {
            self.call(
                "Input.dispatchTouchEvent",
                json!({"type": "touchMove", "touchPoints": at(x + dx * i as f64 / 4.0)}),
            );
        }
        self.call(
            "Input.dispatchTouchEvent",
            json!({"type": "touchEnd", "touchPoints": []}),
        );
    }

    /// Clicks the first element matching `selector` with the mouse: moved
    /// there, pressed and released, as a hand on a mouse does.
    pub fn mouse_click(&mut self, selector: &str) {
        let (x, y) = self.centre(selector);
        self.call(
            "Input.dispatchMouseEvent",
            json!({"type": "mouseMoved", "x": x, "y": y}),
        );
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "buttons": 1, "clickCount": 1}),
            );
        }
    }

    /// Clicks the first element matching `selector` (panics when none does).
    pub fn click(&mut self, selector: &str) {
        let sel = serde_json::to_string(selector).expect("a string serialises");
        let found = self.eval(&format!(
            "(() => {{ const e = document.querySelector({sel}); if (!e) return false; e.click(); return true; }})()"
        ));
        assert_eq!(
            found,
            Value::Bool(true),
            "click: no element matches {selector}"
        );
    }

    /// Puts `files` into the file input matching `selector`, as if a person
    /// had picked them. Chromium then fires the input's `input` and `change`
    /// events itself (once each, as a real pick does), so this does not
    /// dispatch them again: a handler that uploads would upload twice.
    pub fn set_files(&mut self, selector: &str, files: &[&Path]) {
        let doc = self.call("DOM.getDocument", json!({"depth": 0}));
        let root = doc["root"]["nodeId"]
            .as_i64()
            .expect("DOM.getDocument returns the root's nodeId");
        let found = self.call(
            "DOM.querySelector",
            json!({"nodeId": root, "selector": selector}),
        );
        let node = found["nodeId"].as_i64().unwrap_or(0);
        assert!(node != 0, "set_files: no element matches {selector}");
        let paths: Vec<String> = files
            .iter()
            .map(|p| {
                let abs = std::fs::canonicalize(p)
                    .unwrap_or_else(|e| panic!("set_files: {}: {e}", p.display()));
                abs.to_string_lossy().into_owned()
            })
            .collect();
        self.call(
            "DOM.setFileInputFiles",
            json!({"nodeId": node, "files": paths}),
        );
    }

    /// Writes a PNG of the whole page (beyond the viewport too) to `png`.
    pub fn screenshot(&mut self, png: &Path) {
        let metrics = self.call("Page.getLayoutMetrics", json!({}));
        let size = &metrics["cssContentSize"];
        let width = size["width"].as_f64().unwrap_or(VIEWPORT.0 as f64).ceil();
        let height = size["height"].as_f64().unwrap_or(VIEWPORT.1 as f64).ceil();
        let shot = self.call(
            "Page.captureScreenshot",
            json!({
                "format": "png",
                "captureBeyondViewport": true,
                "clip": {"x": 0, "y": 0, "width": width.max(1.0), "height": height.max(1.0), "scale": 1}
            }),
        );
        let data = shot["data"]
            .as_str()
            .expect("Page.captureScreenshot returns data");
        let bytes = base64_decode(data).expect("the screenshot is valid base64");
        std::fs::write(png, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", png.display()));
    }

    /// Sends a command to the tab and returns its result; panics with the
    /// protocol's error.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        match self.raw_call(Some(&session), method, params) {
            Ok(v) => v,
            Err(e) => panic!("{method} failed: {e}"),
        }
    }

    /// Sends a command to the browser itself (no session).
    fn browser_call(&mut self, method: &str, params: Value) -> Value {
        match self.raw_call(None, method, params) {
            Ok(v) => v,
            Err(e) => panic!("{method} failed: {e}"),
        }
    }

    fn try_eval(&mut self, js: &str) -> Result<Value, CallError> {
        let session = self.session.clone();
        let r = self
            .raw_call(
                Some(&session),
                "Runtime.evaluate",
                json!({"expression": js, "returnByValue": true, "awaitPromise": true}),
            )
            .map_err(CallError::Protocol)?;
        if let Some(ex) = r.get("exceptionDetails") {
            let text = ex["exception"]["description"]
                .as_str()
                .or_else(|| ex["text"].as_str())
                .unwrap_or("an exception");
            return Err(CallError::Exception(text.to_string()));
        }
        Ok(r["result"].get("value").cloned().unwrap_or(Value::Null))
    }

    /// Sends one command and reads until its response, skipping the events
    /// (and anything else without its id) that arrive meanwhile.
    fn raw_call(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, String> {
        let id = self.next_id;
        self.next_id += 1;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        if let Err(e) = self.ws.send(Message::text(msg.to_string())) {
            self.fail(&format!("sending {method}: {e}"));
        }
        let deadline = Instant::now() + CALL_TIMEOUT;
        loop {
            if Instant::now() > deadline {
                self.fail(&format!("no response to {method} within {CALL_TIMEOUT:?}"));
            }
            let text = match self.ws.read() {
                Ok(Message::Text(t)) => t.as_str().to_string(),
                Ok(Message::Binary(b)) => String::from_utf8_lossy(&b).into_owned(),
                Ok(Message::Close(_)) => {
                    self.fail(&format!("chromium closed the socket during {method}"))
                }
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    if let Ok(Some(status)) = self.child.try_wait() {
                        self.fail(&format!("chromium exited ({status}) during {method}"));
                    }
                    continue;
                }
                Err(e) => self.fail(&format!("reading the response to {method}: {e}")),
            };
            let v: Value = match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(e) => self.fail(&format!(
                    "chromium sent a message that is not JSON ({e}): {text}"
                )),
            };
            if v.get("id").and_then(Value::as_u64) != Some(id) {
                // An event. A crashed tab never answers: say so now rather
                // than after the timeout.
                if v["method"] == "Inspector.targetCrashed" {
                    self.fail(&format!("the tab crashed during {method}"));
                }
                continue;
            }
            if let Some(err) = v.get("error") {
                return Err(format!(
                    "{} (code {})",
                    err["message"].as_str().unwrap_or("unknown error"),
                    err["code"]
                ));
            }
            return Ok(v.get("result").cloned().unwrap_or(Value::Null));
        }
    }

    /// Panics with `why` and the tail of Chromium's stderr.
    fn fail(&self, why: &str) -> ! {
        panic!(
            "CDP: {why}; chromium's stderr ends:\n{}",
            self.stderr.lock().unwrap_or_else(|p| p.into_inner())
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Connects to the browser's websocket `url` (`ws://127.0.0.1:PORT/...`)
/// with a read timeout, so no read can block forever.
fn connect(url: &str) -> Result<WebSocket<TcpStream>, String> {
    let rest = url
        .strip_prefix("ws://")
        .ok_or_else(|| format!("not a ws:// URL: {url}"))?;
    let host = rest.split('/').next().unwrap_or(rest);
    let addr = std::net::ToSocketAddrs::to_socket_addrs(host)
        .map_err(|e| format!("{host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host} resolves to nothing"))?;
    let stream = TcpStream::connect_timeout(&addr, CALL_TIMEOUT).map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    // The handshake gets the whole call timeout; reads afterwards a short
    // slice each, so the caller's loop can check its deadline.
    stream
        .set_read_timeout(Some(CALL_TIMEOUT))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(CALL_TIMEOUT))
        .map_err(|e| e.to_string())?;
    // Full-page screenshots of long pages exceed tungstenite's default frame limit.
    let config = WebSocketConfig::default()
        .max_message_size(Some(512 << 20))
        .max_frame_size(Some(512 << 20));
    let (ws, _) = tungstenite::client::client_with_config(url, stream, Some(config))
        .map_err(|e| format!("websocket handshake: {e}"))?;
    ws.get_ref()
        .set_read_timeout(Some(READ_SLICE))
        .map_err(|e| e.to_string())?;
    Ok(ws)
}

/// JavaScript truthiness of a JSON value.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// What `Input.dispatchKeyEvent` needs to reproduce a key as a keyboard sends it.
struct KeyInfo {
    key: String,
    code: String,
    vk: u32,
    text: Option<String>,
}

fn key_info(key: &str) -> KeyInfo {
    let named = |key: &str, code: &str, vk: u32, text: Option<&str>| KeyInfo {
        key: key.to_string(),
        code: code.to_string(),
        vk,
        text: text.map(str::to_string),
    };
    match key {
        "ArrowLeft" => named(key, key, 37, None),
        "ArrowUp" => named(key, key, 38, None),
        "ArrowRight" => named(key, key, 39, None),
        "ArrowDown" => named(key, key, 40, None),
        "Enter" => named(key, key, 13, Some("\r")),
        "Escape" => named(key, key, 27, None),
        "Tab" => named(key, key, 9, None),
        "Backspace" => named(key, key, 8, None),
        "Delete" => named(key, key, 46, None),
        "Home" => named(key, key, 36, None),
        "End" => named(key, key, 35, None),
        "PageUp" => named(key, key, 33, None),
        "PageDown" => named(key, key, 34, None),
        "Space" | " " => named(" ", "Space", 32, Some(" ")),
        _ => {
            let mut chars = key.chars();
            let (Some(c), None) = (chars.next(), chars.next()) else {
                panic!("press: unknown key {key:?} (a single character or a named key)");
            };
            // The code and virtual key of the physical key on a US layout;
            // characters without one still arrive with the right `key`.
            let (code, vk) = match c {
                'a'..='z' => (
                    format!("Key{}", c.to_ascii_uppercase()),
                    c.to_ascii_uppercase() as u32,
                ),
                'A'..='Z' => (format!("Key{c}"), c as u32),
                '0'..='9' => (format!("Digit{c}"), c as u32),
                '-' => ("Minus".into(), 189),
                '=' => ("Equal".into(), 187),
                ',' => ("Comma".into(), 188),
                '.' => ("Period".into(), 190),
                '/' => ("Slash".into(), 191),
                ';' => ("Semicolon".into(), 186),
                '\'' => ("Quote".into(), 222),
                '[' => ("BracketLeft".into(), 219),
                ']' => ("BracketRight".into(), 221),
                '\\' => ("Backslash".into(), 220),
                '`' => ("Backquote".into(), 192),
                _ => (String::new(), 0),
            };
            KeyInfo {
                key: key.to_string(),
                code,
                vk,
                text: Some(key.to_string()),
            }
        }
    }
}

/// Decodes standard base64 (with or without padding; whitespace ignored).
pub fn base64_decode(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let mut acc = 0u32;
    let mut bits = 0u32;
    for (i, b) in s.bytes().enumerate() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            b' ' | b'\n' | b'\r' | b'\t' => continue,
            _ => return Err(format!("byte {b:#04x} at {i} is not base64")),
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

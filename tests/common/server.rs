//! The real `artlens serve` for integration tests: a store made with the
//! tiny fixture checkpoints, the binary started on an ephemeral port, its
//! URL read from stdout, `/healthz` waited on, and a plain HTTP/1.1 client
//! over a TCP socket (so a test controls every header, `Host` included).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{artlens, fixtures, rated_collection, stderr};

/// A store indexed from [`rated_collection`] (24 works in three styles) in
/// a temporary folder; `with_ratings` also imports their ratings and trains.
pub struct Env {
    pub tmp: tempfile::TempDir,
    pub collection: PathBuf,
    pub ratings: Vec<(String, f64)>,
}

impl Env {
    pub fn new(with_ratings: bool) -> Env {
        Env::with_collection(with_ratings, |_| {})
    }

    /// Like [`Env::new`], with `edit` run on the collection folder before
    /// indexing (to add hostile metadata, say).
    pub fn with_collection(with_ratings: bool, edit: impl FnOnce(&Path)) -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let collection = tmp.path().join("collection");
        let ratings = rated_collection(&collection);
        edit(&collection);
        let env = Env {
            tmp,
            collection,
            ratings,
        };
        let mut idx = env.cmd(&["index", "--quiet"]);
        idx.arg(&env.collection);
        let meta = env.collection.join("metadata.csv");
        if meta.is_file() {
            idx.arg("--metadata").arg(&meta);
        }
        let o = idx.output().unwrap();
        assert!(o.status.success(), "index: {}", stderr(&o));
        if with_ratings {
            let csv = env.tmp.path().join("ratings.csv");
            let body: String = std::iter::once("path,rating\n".to_string())
                .chain(env.ratings.iter().map(|(p, r)| format!("{p},{r}\n")))
                .collect();
            std::fs::write(&csv, body).unwrap();
            let o = env.cmd(&["rate", "import"]).arg(&csv).output().unwrap();
            assert!(o.status.success(), "rate import: {}", stderr(&o));
            let o = env
                .cmd(&["train", "--quiet", "--folds", "3", "--bootstrap", "200"])
                .output()
                .unwrap();
            assert!(o.status.success(), "train: {}", stderr(&o));
        }
        env
    }

    /// The collection of [`Env::new`] with a metadata CSV beside it
    /// (title, artist, style), and no store yet: a first run.
    pub fn bare() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let collection = tmp.path().join("collection");
        let ratings = rated_collection(&collection);
        let mut csv = String::from("path,title,artist,style\n");
        for (i, (rel, _)) in ratings.iter().enumerate() {
            let style = rel.split('/').next().unwrap();
            let artist = ["Ada Quill", "Bo Renn", "Cy Twomb", "Di Arbus"][i % 4];
            csv.push_str(&format!("{rel},Study {i:02},{artist},{style}\n"));
        }
        std::fs::write(tmp.path().join("metadata.csv"), csv).unwrap();
        Env {
            tmp,
            collection,
            ratings,
        }
    }

    pub fn store(&self) -> PathBuf {
        self.tmp.path().join("store")
    }

    /// The binary with this store and the fixture weights.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = artlens();
        c.args(args)
            .env("ARTLENS_STORE", self.store())
            .env("ARTLENS_DINO_WEIGHTS", fixtures().join("dino_tiny"))
            .env("ARTLENS_DINOV2_WEIGHTS", fixtures().join("dinov2_tiny"));
        c
    }

    /// Starts `artlens serve --port 0 EXTRA...` on this store.
    pub fn serve(&self, extra: &[&str]) -> Server {
        let mut cmd = self.cmd(&["serve", "--port", "0"]);
        cmd.args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Server::start(cmd)
    }
}

/// A running server; killed when dropped.
pub struct Server {
    pub child: Child,
    /// The URL it printed (with `?token=` when it has one).
    pub url: String,
    /// `127.0.0.1:PORT`: where to connect.
    pub addr: String,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Server {
    fn start(mut cmd: Command) -> Server {
        let mut child = cmd.spawn().expect("artlens serve starts");
        let stdout = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        // The URL is the first stdout line; read it on a thread so a server
        // that never prints fails the test instead of hanging it.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            let _ = r.read_line(&mut line);
            let _ = tx.send(line);
            // Keep draining so the pipe never fills.
            let mut rest = String::new();
            let _ = r.read_to_string(&mut rest);
        });
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(l) if !l.trim().is_empty() => l.trim().to_string(),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "artlens serve printed no URL; stderr:\n{}",
                    log.lock().unwrap()
                );
            }
        };
        let rest = line.strip_prefix("http://").expect("an http URL");
        let hostport = rest.split('/').next().unwrap().to_string();
        let port = hostport.rsplit(':').next().unwrap();
        let server = Server {
            child,
            addr: format!("127.0.0.1:{port}"),
            url: line,
            stderr: log,
        };
        let start = Instant::now();
        loop {
            if let Ok(r) = server.try_request("GET", "/healthz", &[], b"") {
                if r.status == 200 {
                    break;
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "/healthz never answered; stderr:\n{}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// What the server wrote to stderr so far.
    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The `Host` header a browser on this machine would send.
    pub fn host(&self) -> String {
        self.addr.clone()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// One request with the right `Host`, plus `headers`.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        self.try_request(method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}; server stderr:\n{}", self.log()))
    }

    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], b"")
    }

    /// A same-origin JSON write, as the app's own pages send it.
    pub fn json(&self, method: &str, path: &str, body: &serde_json::Value) -> Response {
        let origin = self.origin();
        self.request(
            method,
            path,
            &[("Content-Type", "application/json"), ("Origin", &origin)],
            body.to_string().as_bytes(),
        )
    }

    /// A same-origin multipart upload of `bytes` as the file field `image`.
    pub fn upload(&self, name: &str, bytes: &[u8]) -> Response {
        let boundary = "artlens-test-boundary-7f3a";
        let mut body = Vec::new();
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let ct = format!("multipart/form-data; boundary={boundary}");
        let origin = self.origin();
        self.request(
            "POST",
            "/api/score",
            &[("Content-Type", &ct), ("Origin", &origin)],
            &body,
        )
    }

    /// A request; `Host` is the server's unless `headers` names one.
    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Response> {
        let mut s = TcpStream::connect(&self.addr)?;
        s.set_read_timeout(Some(Duration::from_secs(120)))?;
        let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            head.push_str(&format!("Host: {}\r\n", self.host()));
        }
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        s.write_all(head.as_bytes())?;
        // A server refusing a huge body early may close before we finish
        // writing: the answer it sent is still there to read.
        let _ = s.write_all(body);
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        Response::parse(&raw)
    }

    /// Sends SIGINT (Ctrl-C) and waits for the exit status.
    pub fn interrupt(mut self) -> std::process::ExitStatus {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: signals our own child process.
        unsafe { libc::kill(pid, libc::SIGINT) };
        let start = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the server did not stop on Ctrl-C; stderr:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `kill -9` and wait.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A parsed HTTP response (chunked bodies decoded).
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Response {
    fn parse(raw: &[u8]) -> std::io::Result<Response> {
        let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| bad("no end of headers"))?;
        let head = String::from_utf8_lossy(&raw[..end]);
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("no status line"))?;
        let mut headers = HashMap::new();
        for l in lines {
            if let Some((k, v)) = l.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let mut body = raw[end + 4..].to_vec();
        if headers.get("transfer-encoding").map(String::as_str) == Some("chunked") {
            body = dechunk(&body);
        }
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: status {} body {}", self.status, self.text()))
    }

    /// The `error` message of an error answer.
    pub fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error message in {}", self.text()))
            .to_string()
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(p) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..p]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = p + 2;
        out.extend_from_slice(&b[start..(start + size).min(b.len())]);
        b = &b[(start + size + 2).min(b.len())..];
    }
    out
}

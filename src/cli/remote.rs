//! The command line while `artlens serve` holds the store: the server owns
//! sled's lock, so a command cannot open the store itself, and instead asks
//! the server the same question over its JSON API (docs/API.md). The answer
//! is the same view the library returns (the server serialises it, this
//! module reads it back), and the command renders it with its one renderer,
//! so the output is the direct path's, byte for byte.
//!
//! The details are in `docs/CLI.md`, section "Commands sent to a running server".

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use artlens::model::registry::BackboneId;
use artlens::ratings::Rater;
use artlens::store::ServedBy;

/// The environment variable holding the access token of a server bound to
/// a non-loopback address.
pub const TOKEN_ENV: &str = "ARTLENS_TOKEN";

/// How long connecting may take: the server is on this machine, so a
/// connection that takes longer is a server that is stuck.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one request may take in all: the longest answers (scoring a
/// new image, which may load a backbone, and comparing) take well under
/// this on the collections artlens serves.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(600);
/// The largest answer read: `ls` of a million works fits.
const MAX_RESPONSE_BYTES: u64 = 512 * 1024 * 1024;

/// A running server holding the store, and how to reach it.
pub struct Remote {
    served: ServedBy,
    /// The URL without its trailing slash.
    base: String,
    store: PathBuf,
    token: Option<String>,
    agent: ureq::Agent,
}

/// A work as the server resolved a name: `GET /api/lookup`.
#[derive(Debug, Deserialize)]
pub struct WorkRef {
    pub id: u64,
    pub paths: Vec<String>,
}

impl Remote {
    /// The server holding the store in `store`, if one runs.
    pub fn find(store: &Path) -> Option<Remote> {
        let served = artlens::store::served_by(store)?;
        let base = served.url.trim_end_matches('/').to_string();
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build();
        let token = std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty());
        Some(Remote {
            served,
            base,
            store: store.to_path_buf(),
            token,
            agent,
        })
    }

    /// The error of a command that cannot go through the server.
    pub fn refuse(&self, command: &str) -> anyhow::Error {
        anyhow!(
            "the store {} is served by `artlens serve` at {} (pid {}), and `artlens {command}` cannot go through the server: stop it (Ctrl-C in its terminal) and run the command again",
            self.store.display(),
            self.served.url,
            self.served.pid
        )
    }

    /// The error of an option that cannot go through the server: `what`
    /// says what the server can do instead.
    pub fn limit(&self, what: &str) -> anyhow::Error {
        anyhow!(
            "the store {} is served by `artlens serve` at {} (pid {}); through it, {what}; otherwise stop it (Ctrl-C in its terminal) and run the command again",
            self.store.display(),
            self.served.url,
            self.served.pid
        )
    }

    /// Refuses a rater other than the server's: its answers are all for
    /// the rater it was started with.
    pub fn check_rater(&self, rater: &Rater) -> Result<()> {
        #[derive(Deserialize)]
        struct Status {
            rater: String,
        }
        let s: Status = self.get("/api/status", &[])?;
        self.same_rater(&s.rater, rater)
    }

    /// [`Remote::check_rater`] with the server's rater already known.
    pub fn same_rater(&self, served: &str, rater: &Rater) -> Result<()> {
        if served != rater.name() {
            bail!(
                "the store {} is served by `artlens serve` at {} (pid {}) for rater `{served}`, and its answers are that rater's: to ask about rater `{rater}`, stop it (Ctrl-C in its terminal) and run the command again, or start it again with --rater {rater}",
                self.store.display(),
                self.served.url,
                self.served.pid
            );
        }
        Ok(())
    }

    /// `compare`'s view, from `GET /api/compare`.
    pub fn compare(
        &self,
        req: &artlens::app::CompareRequest,
    ) -> Result<artlens::report::CompareView> {
        self.check_rater(&req.rater)?;
        let mut first = vec![("k", req.k.to_string())];
        if let Some(label) = &req.label {
            first.push(("label", label.clone()));
        }
        self.get("/api/compare", &query_fields(first, &req.backbones, &[]))
    }

    /// `train`'s outcome, from `POST /api/train` (the server then answers
    /// with the new heads).
    pub fn train(&self, req: &artlens::app::TrainRequest) -> Result<artlens::app::TrainOutcome> {
        if req.backbones.is_some() {
            return Err(
                self.limit("`train` trains every backbone the store holds (no --backbones)")
            );
        }
        self.check_rater(&req.rater)?;
        self.send(
            "POST",
            "/api/train",
            &serde_json::json!({
                "head": req.head,
                "folds": req.folds,
                "bootstrap": req.bootstrap,
                "repeats": req.repeats,
                "seed": req.seed,
            }),
        )
    }

    /// `suggest`'s view, from `GET /api/suggest`.
    /// `map`, answered by `GET /api/map`.
    pub fn map(&self, req: &artlens::app::MapRequest) -> Result<artlens::app::MapView> {
        self.check_rater(&req.rater)?;
        self.get("/api/map", &query_fields(Vec::new(), &req.backbones, &[]))
    }

    pub fn suggest(&self, req: &artlens::app::SuggestRequest) -> Result<artlens::app::SuggestView> {
        self.check_rater(&req.rater)?;
        let goal = match req.goal {
            artlens::app::Goal::Verdict => "verdict",
            artlens::app::Goal::Taste => "taste",
        };
        let first = vec![("n", req.n.to_string()), ("goal", goal.into())];
        self.get("/api/suggest", &query_fields(first, &req.backbones, &[]))
    }

    /// The work a person named, as the server resolves it.
    pub fn lookup(&self, name: &str) -> Result<WorkRef> {
        self.get("/api/lookup", &[("work", name.to_string())])
    }

    /// `GET path?query`, read as JSON into `T`.
    pub fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T> {
        let body = self.get_text(path, query)?;
        self.parse(path, &body)
    }

    /// `GET path?query`, the body as text.
    pub fn get_text(&self, path: &str, query: &[(&str, String)]) -> Result<String> {
        let mut req = self.request("GET", path);
        for (k, v) in query {
            req = req.query(k, v);
        }
        self.body(path, req.call())
    }

    /// A JSON request (`POST`, `PUT`, `DELETE`) with `body`, its answer read
    /// into `T`.
    pub fn send<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T> {
        let text = self.body(path, self.request(method, path).send_json(body))?;
        self.parse(path, &text)
    }

    /// `DELETE path` without a body.
    pub fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let text = self.body(path, self.request("DELETE", path).call())?;
        self.parse(path, &text)
    }

    /// A multipart upload of `file` as the field `image`, under the name
    /// `shown` (what the answer calls it), with `fields` beside it.
    pub fn upload<T: DeserializeOwned>(
        &self,
        path: &str,
        file: &Path,
        shown: &str,
        fields: &[(&str, String)],
    ) -> Result<T> {
        self.upload_files(path, &[("image", file, shown)], fields)
    }

    /// A multipart upload of several files, each `(field, file, shown)`:
    /// the file's bytes under the field `field`, named `shown`.
    pub fn upload_files<T: DeserializeOwned>(
        &self,
        path: &str,
        files: &[(&str, &Path, &str)],
        fields: &[(&str, String)],
    ) -> Result<T> {
        let mut contents = Vec::with_capacity(files.len());
        let mut hasher = blake3::Hasher::new();
        for (_, file, _) in files {
            let bytes = std::fs::read(file).with_context(|| file.display().to_string())?;
            hasher.update(&bytes);
            contents.push(bytes);
        }
        // A boundary that cannot occur in the files: one made of their hash.
        let boundary = format!("artlens-{}", &hasher.finalize().to_hex()[..32]);
        let mut body = Vec::with_capacity(contents.iter().map(Vec::len).sum::<usize>() + 512);
        for (name, value) in fields {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        for ((field, _, shown), bytes) in files.iter().zip(&contents) {
            // The name travels in a quoted header value: quotes, backslashes
            // and line breaks would end it early, so they are escaped as
            // browsers do.
            let quoted = shown
                .replace('\\', "\\\\")
                .replace('"', "%22")
                .replace('\r', "%0D")
                .replace('\n', "%0A");
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{quoted}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let req = self.request("POST", path).set(
            "Content-Type",
            &format!("multipart/form-data; boundary={boundary}"),
        );
        let text = self.body(path, req.send_bytes(&body))?;
        self.parse(path, &text)
    }

    fn request(&self, method: &str, path: &str) -> ureq::Request {
        let req = self.agent.request(method, &format!("{}{path}", self.base));
        match &self.token {
            Some(t) => req.set("Authorization", &format!("Bearer {t}")),
            None => req,
        }
    }

    /// The answer's body, or the server's `{"error": ...}` as the error a
    /// direct call would have given (the same library error's text).
    fn body(&self, path: &str, answer: Result<ureq::Response, ureq::Error>) -> Result<String> {
        match answer {
            Ok(resp) => read_capped(resp).with_context(|| self.where_(path)),
            Err(ureq::Error::Status(code, resp)) => {
                let text = read_capped(resp).unwrap_or_default();
                // The command line's wording of the error where the web
                // app's differs (it names the command to run next).
                let msg = serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| {
                        v["command_line"]
                            .as_str()
                            .or_else(|| v["error"].as_str())
                            .map(str::to_string)
                    })
                    .unwrap_or(text);
                if code == 401 {
                    bail!(
                        "the server at {} that holds the store {} needs its access token: set {TOKEN_ENV} to the token it printed ({msg})",
                        self.served.url,
                        self.store.display()
                    );
                }
                Err(anyhow!(ServerSaid {
                    status: code,
                    message: msg
                }))
            }
            Err(e) => Err(anyhow!(
                "{}: {e}; if the server is stuck, stop it (Ctrl-C in its terminal) and run the command again",
                self.where_(path)
            )),
        }
    }

    fn parse<T: DeserializeOwned>(&self, path: &str, body: &str) -> Result<T> {
        serde_json::from_str(body).with_context(|| {
            format!(
                "{}: an answer this artlens cannot read (is the server another version?)",
                self.where_(path)
            )
        })
    }

    fn where_(&self, path: &str) -> String {
        format!(
            "asking `artlens serve` at {}{path} (pid {}, it holds the store {})",
            self.base,
            self.served.pid,
            self.store.display()
        )
    }
}

/// An answer of the server that is an error: its status and its message
/// (the library error's text, as the direct path would print it).
#[derive(Debug)]
pub struct ServerSaid {
    pub status: u16,
    pub message: String,
}

impl std::fmt::Display for ServerSaid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ServerSaid {}

/// A GET route's query: `first`, then a `backbone=` for each backbone asked
/// for and a `where=` for each metadata filter, as the routes read them.
pub fn query_fields(
    first: Vec<(&'static str, String)>,
    backbones: &Option<Vec<BackboneId>>,
    filters: &[String],
) -> Vec<(&'static str, String)> {
    let mut q = first;
    q.extend(backbones.iter().flatten().map(|b| ("backbone", b.name())));
    q.extend(filters.iter().map(|f| ("where", f.clone())));
    q
}

/// The status of a server's error answer, when `e` is one.
pub fn status_of(e: &anyhow::Error) -> Option<u16> {
    e.downcast_ref::<ServerSaid>().map(|s| s.status)
}

fn read_capped(resp: ureq::Response) -> std::io::Result<String> {
    let mut text = String::new();
    resp.into_reader()
        .take(MAX_RESPONSE_BYTES)
        .read_to_string(&mut text)?;
    Ok(text)
}

//! Index jobs inside the server: `POST /api/index` starts one on its own
//! thread (one at a time: a second is a 409), the library's progress events
//! become a [`JobSnapshot`] published on a `watch` channel, and
//! `GET /api/jobs/{id}/events` streams those snapshots as server-sent
//! events. A watch channel keeps only the newest snapshot, so a slow reader
//! skips to the present instead of queueing thousands of events.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;
use tokio::sync::watch;

use artlens::app::{Collection, Event, IndexRequest};
use artlens::model::registry::BackboneId;
use artlens::pipeline::IndexOptions;

/// The most failures a snapshot lists (the count is always whole).
const LISTED_FAILURES: usize = 200;

/// One failed file of a job.
#[derive(Debug, Clone, Serialize)]
pub struct JobFailure {
    pub path: String,
    pub reason: String,
}

/// A job as its readers see it.
#[derive(Debug, Clone, Serialize)]
pub struct JobSnapshot {
    pub id: u64,
    pub dir: String,
    /// `running`, `done` or `failed`.
    pub status: String,
    /// What the job is doing, in words (the last note or phase).
    pub phase: String,
    /// Images embedded (or failed) so far, of `total`.
    pub done: usize,
    pub total: usize,
    pub failed: usize,
    pub images_per_second: f64,
    /// Seconds left at the current rate, once there is one.
    pub eta_seconds: Option<f64>,
    pub elapsed_seconds: f64,
    pub failures: Vec<JobFailure>,
    /// The library's summary when done (`index --json`'s shape).
    pub summary: Option<serde_json::Value>,
    pub error: Option<String>,
}

/// The server's jobs, by id.
#[derive(Default)]
pub struct Jobs {
    next: AtomicU64,
    jobs: Mutex<HashMap<u64, watch::Receiver<JobSnapshot>>>,
    /// The canonical folders every indexed file must resolve into.
    confine_to: Vec<PathBuf>,
}

impl Jobs {
    /// Jobs that index only files whose real path (symlinks resolved) lies
    /// inside one of `allowed` (canonical folders): checking the folder a
    /// job is given is not enough, as the scan follows symlinks in it.
    pub fn confined_to(allowed: Vec<PathBuf>) -> Jobs {
        Jobs {
            confine_to: allowed,
            ..Jobs::default()
        }
    }

    /// The newest snapshot's channel of job `id`.
    pub fn get(&self, id: u64) -> Option<watch::Receiver<JobSnapshot>> {
        self.lock().get(&id).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, watch::Receiver<JobSnapshot>>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The newest job's channel: the running one, else the last to finish.
    /// A page that is left and opened again finds its job's progress here.
    pub fn latest(&self) -> Option<watch::Receiver<JobSnapshot>> {
        let jobs = self.lock();
        jobs.iter()
            .max_by_key(|(id, _)| **id)
            .map(|(_, rx)| rx.clone())
    }

    /// Starts indexing `dir` (with its metadata CSV, if any) with
    /// `backbones`; `Err(running id)` when a job is still running.
    pub fn start(
        &self,
        collection: Arc<Collection>,
        dir: PathBuf,
        metadata: Option<PathBuf>,
        backbones: Vec<BackboneId>,
    ) -> Result<u64, u64> {
        let mut jobs = self.lock();
        if let Some((id, _)) = jobs.iter().find(|(_, rx)| rx.borrow().status == "running") {
            return Err(*id);
        }
        let id = self.next.fetch_add(1, Ordering::SeqCst) + 1;
        let first = JobSnapshot {
            id,
            dir: dir.display().to_string(),
            status: "running".into(),
            phase: "starting".into(),
            done: 0,
            total: 0,
            failed: 0,
            images_per_second: 0.0,
            eta_seconds: None,
            elapsed_seconds: 0.0,
            failures: Vec::new(),
            summary: None,
            error: None,
        };
        let (tx, rx) = watch::channel(first.clone());
        jobs.insert(id, rx);
        drop(jobs);
        let allowed = self.confine_to.clone();
        std::thread::Builder::new()
            .name(format!("artlens-index-{id}"))
            .spawn(move || run_job(collection, dir, metadata, backbones, allowed, first, tx))
            .map_err(|_| id)?;
        Ok(id)
    }
}

fn run_job(
    collection: Arc<Collection>,
    dir: PathBuf,
    metadata: Option<PathBuf>,
    backbones: Vec<BackboneId>,
    allowed: Vec<PathBuf>,
    mut snap: JobSnapshot,
    tx: watch::Sender<JobSnapshot>,
) {
    let started = Instant::now();
    // The rate is measured from the first embedded image, so model loading
    // and the scan do not drag it down.
    let mut first_progress: Option<(Instant, usize)> = None;
    let req = IndexRequest {
        dir,
        metadata,
        skip_bad_metadata: false,
        backbones,
        rebuild: Vec::new(),
        shard: None,
        options: IndexOptions {
            confine_to: allowed,
            ..IndexOptions::default()
        },
    };
    let mut on_event = |e: Event| {
        match e {
            Event::Scanned { images, to_embed } => {
                snap.phase = format!("{images} images found, {to_embed} to embed");
                snap.total = to_embed;
            }
            Event::Failed { path, reason } => {
                if snap.failures.len() < LISTED_FAILURES {
                    snap.failures.push(JobFailure {
                        path: path.display().to_string(),
                        reason,
                    });
                }
            }
            Event::Progress {
                done,
                total,
                failed,
            } => {
                snap.phase = "embedding".into();
                snap.done = done;
                snap.total = total;
                snap.failed = failed;
                let (t0, d0) = *first_progress.get_or_insert((Instant::now(), done));
                let dt = t0.elapsed().as_secs_f64();
                if dt > 0.0 && done > d0 {
                    snap.images_per_second = (done - d0) as f64 / dt;
                    snap.eta_seconds =
                        Some(total.saturating_sub(done) as f64 / snap.images_per_second);
                }
            }
            Event::Note(n) => snap.phase = n,
        }
        snap.elapsed_seconds = started.elapsed().as_secs_f64();
        tx.send_replace(snap.clone());
    };
    let result = collection.index(&req, &mut on_event);
    snap.elapsed_seconds = started.elapsed().as_secs_f64();
    snap.eta_seconds = None;
    match result {
        Ok(summary) => {
            snap.status = "done".into();
            snap.phase = format!(
                "done: {} embedded, {} already stored, {} failed",
                summary.embedded, summary.already_stored, summary.failed
            );
            snap.images_per_second = summary.images_per_second;
            snap.summary = serde_json::to_value(&summary).ok();
        }
        Err(e) => {
            snap.status = "failed".into();
            snap.phase = "failed".into();
            snap.error = Some(e.to_string());
        }
    }
    tx.send_replace(snap);
}

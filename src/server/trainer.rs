//! Retraining in the background while a person rates: every change of a
//! rating or preference pokes the trainer, which runs
//! [`Collection::refresh_answer`] on its own thread, one run at a time. A
//! poke while a run is under way asks for one more run after it, so the
//! answer always catches up with the last rating without queueing one run
//! per rating. Training at these sizes takes well under a second
//! (docs/STATISTICS.md), so the answer on the rate page is current a moment
//! after each rating.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use artlens::app::Collection;
use artlens::ratings::Rater;

#[derive(Default)]
struct State {
    running: bool,
    again: bool,
    /// The last run's error, shown by the answer endpoint until a run succeeds.
    last_error: Option<String>,
}

/// The background trainer of one server.
#[derive(Default)]
pub struct Trainer {
    state: Mutex<State>,
    idle: Condvar,
}

impl Trainer {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks for the answer to be brought up to date.
    pub fn poke(self: &Arc<Self>, collection: Arc<Collection>, rater: Rater) {
        {
            let mut s = self.lock();
            if s.running {
                s.again = true;
                return;
            }
            s.running = true;
        }
        let me = self.clone();
        let spawned = std::thread::Builder::new()
            .name("artlens-retrain".into())
            .spawn(move || loop {
                let result = collection.refresh_answer(&rater);
                let mut s = me.lock();
                s.last_error = result.err().map(|e| e.to_string());
                if s.again {
                    s.again = false;
                    continue;
                }
                s.running = false;
                me.idle.notify_all();
                break;
            });
        if spawned.is_err() {
            let mut s = self.lock();
            s.running = false;
            s.last_error = Some("could not start the training thread".into());
        }
    }

    /// True while a run is under way or asked for.
    pub fn busy(&self) -> bool {
        let s = self.lock();
        s.running || s.again
    }

    /// The last run's error, if it failed.
    pub fn last_error(&self) -> Option<String> {
        self.lock().last_error.clone()
    }

    /// Waits up to `limit` for the runs under way to finish (on shutdown,
    /// so that the last rating's training is on disk before the store is
    /// flushed). Returns false when it gave up.
    pub fn wait_idle(&self, limit: Duration) -> bool {
        let s = self.lock();
        let (s, timeout) = self
            .idle
            .wait_timeout_while(s, limit, |s| s.running)
            .unwrap_or_else(|p| p.into_inner());
        drop(s);
        !timeout.timed_out()
    }
}

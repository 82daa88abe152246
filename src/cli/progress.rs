//! Drawing the library's progress events on stderr: a bar on a terminal,
//! a line every ten seconds in a log, errors always (also under `--quiet`).

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use artlens::app::Event;

use super::Messages;

/// One progress display for a command.
pub struct Progress {
    bar: ProgressBar,
    is_term: bool,
    quiet: bool,
    last_report: Instant,
    noun: &'static str,
    /// How many `Failed` events were drawn.
    pub failures: usize,
}

impl Progress {
    /// A display counting `noun` ("images").
    pub fn new(msg: Messages, noun: &'static str) -> Progress {
        let bar = ProgressBar::new(0);
        let is_term = std::io::IsTerminal::is_terminal(&std::io::stderr());
        if msg.quiet || !is_term {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        let template =
            format!("{{spinner}} {{pos}}/{{len}} {noun}  {{rate}}  ETA {{eta}}  {{msg}}");
        bar.set_style(
            ProgressStyle::with_template(&template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .with_key(
                    "rate",
                    move |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{:.2} {noun}/s", state.per_sec());
                    },
                ),
        );
        Progress {
            bar,
            is_term,
            quiet: msg.quiet,
            last_report: Instant::now(),
            noun,
            failures: 0,
        }
    }

    fn line(&self, text: &str) {
        if self.is_term && !self.quiet {
            self.bar.println(text);
        } else {
            eprintln!("{text}");
        }
    }

    /// Draws one event.
    pub fn event(&mut self, e: Event) {
        match e {
            Event::Scanned { images, to_embed } => {
                self.bar.set_length(to_embed as u64);
                self.bar.enable_steady_tick(Duration::from_millis(200));
                if !self.quiet {
                    self.line(&format!(
                        "{} found, {to_embed} to embed",
                        artlens::plain::count(images, "image", "images")
                    ));
                }
            }
            Event::Failed { path, reason } => {
                self.failures += 1;
                self.bar.set_message(format!("{} failed", self.failures));
                // Errors are shown even with --quiet (the bar is hidden then).
                let path = path.display().to_string();
                if reason.starts_with(&path) {
                    self.line(&format!("error: {reason}"));
                } else {
                    self.line(&format!("error: {path}: {reason}"));
                }
            }
            Event::Progress {
                done,
                total,
                failed,
            } => {
                if self.bar.length() != Some(total as u64) {
                    self.bar.set_length(total as u64);
                    self.bar.enable_steady_tick(Duration::from_millis(200));
                }
                self.bar.set_position(done as u64);
                // Without a terminal the bar is hidden; print a line now and
                // then so long runs in logs still show progress.
                if !self.is_term
                    && !self.quiet
                    && (self.last_report.elapsed().as_secs() >= 10 || done == total)
                {
                    eprintln!("{done}/{total} {} done, {failed} failed", self.noun);
                    self.last_report = Instant::now();
                }
            }
            Event::Note(note) => {
                if !self.quiet {
                    self.line(&note);
                }
            }
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Runs one library call with its events drawn as `noun` progress, and
/// returns its result with how many inputs failed on the way.
pub fn with_progress<T>(
    msg: Messages,
    noun: &'static str,
    call: impl FnOnce(&mut dyn FnMut(Event)) -> artlens::Result<T>,
) -> artlens::Result<(T, usize)> {
    let mut progress = Progress::new(msg, noun);
    let result = call(&mut |e| progress.event(e));
    progress.finish();
    result.map(|v| (v, progress.failures))
}

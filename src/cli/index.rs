//! `artlens index`: embed a collection into the store with both backbones.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use artlens::model::ModelKind;
use artlens::pipeline::{self, Event, IndexOptions};
use artlens::scan;

use super::store_args::{parse_models, ModelArgs, Models, StoreArgs};
use super::{out_line, Messages, EXIT_PARTIAL};

#[derive(Args, Debug)]
pub struct IndexArgs {
    /// The collection folder (walked recursively).
    dir: PathBuf,
    /// CSV with a column naming each file (path relative to DIR, or file
    /// name) and any of title, artist, style, genre, date (extra columns kept).
    #[arg(long)]
    metadata: Option<PathBuf>,
    /// Backbones to embed with: dino, dinov2, or both.
    #[arg(long, default_value = "both", value_parser = parse_models)]
    models: Models,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    model: ModelArgs,
    /// Images per forward pass.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=4096))]
    batch_size: u32,
    /// Threads decoding images (default: half the cores).
    #[arg(long)]
    decode_threads: Option<usize>,
    /// Discard MODEL's stored embeddings (built with other weights or
    /// preprocessing) and embed anew.
    #[arg(long, value_parser = super::embed::parse_model)]
    rebuild: Vec<ModelKind>,
    /// Forget stored paths that no longer exist (and works left with none).
    #[arg(long)]
    prune: bool,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: IndexArgs, msg: Messages) -> Result<i32> {
    if !args.dir.is_dir() {
        bail!("{}: not a folder", args.dir.display());
    }
    let store = args.store.open()?;
    // Scan and validate the metadata before anything is written, so a bad
    // CSV imports nothing.
    let root = pipeline::absolute(&args.dir);
    msg.info(format!("scanning {}", root.display()));
    let scan_report = scan::scan_collection(&root)?;
    let metadata = match &args.metadata {
        Some(csv) => Some(scan::read_metadata_csv(csv, &scan_report.files)?),
        None => None,
    };

    let mut backbones = Vec::new();
    for &kind in &args.models.0 {
        let (backbone, files) = args.model.load(kind, Some(&store))?;
        let check =
            store.ensure_fingerprint(backbone.fingerprint(), args.rebuild.contains(&kind))?;
        if check.changed() {
            msg.info(format!(
                "{kind}: discarded the embeddings made with other settings; embedding anew"
            ));
        }
        store.set_weights_location(kind, &files)?;
        msg.info(format!("{kind}: weights {}", files.weights.display()));
        backbones.push(backbone);
    }
    let refs: Vec<_> = backbones.iter().collect();

    let mut opts = IndexOptions {
        batch_size: args.batch_size as usize,
        prune: args.prune,
        ..Default::default()
    };
    if let Some(n) = args.decode_threads {
        opts.decode_threads = n.max(1);
    }

    let bar = ProgressBar::new(0);
    if msg.quiet {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{spinner} {pos}/{len} images  {rate}  ETA {eta}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .with_key(
                "rate",
                |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.2} images/s", state.per_sec());
                },
            ),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let is_term = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut failures = 0usize;
    let mut last_report = std::time::Instant::now();
    let mut on_event = |e: Event| match e {
        Event::Scanned { images, to_embed } => {
            bar.set_length(to_embed as u64);
            bar.println(format!("{images} images found, {to_embed} to embed"));
            if !is_term && !msg.quiet {
                eprintln!("{images} images found, {to_embed} to embed");
            }
        }
        Event::Failed { path, reason } => {
            failures += 1;
            bar.set_message(format!("{failures} failed"));
            // Errors are shown even with --quiet (the bar is hidden then).
            if is_term && !msg.quiet {
                bar.println(format!("error: {}: {reason}", path.display()));
            } else {
                eprintln!("error: {}: {reason}", path.display());
            }
        }
        Event::Progress {
            done,
            total,
            failed,
        } => {
            bar.set_position(done as u64);
            // Without a terminal the bar is hidden; print a line now and then
            // so long runs in logs still show progress.
            if !is_term && !msg.quiet && (last_report.elapsed().as_secs() >= 10 || done == total) {
                eprintln!("{done}/{total} images embedded, {failed} failed");
                last_report = std::time::Instant::now();
            }
        }
        Event::Note(note) => {
            if !msg.quiet {
                bar.println(&note);
                if !is_term {
                    eprintln!("{note}");
                }
            }
        }
    };
    let summary = pipeline::index_collection(
        &store,
        scan_report,
        metadata.as_ref(),
        &refs,
        &opts,
        &mut on_event,
    )?;
    bar.finish_and_clear();
    store.flush()?;

    if args.json {
        out_line(&serde_json::to_string(&summary)?);
    } else {
        msg.info(format!(
            "{} files ({} distinct): {} embedded, {} already stored, {} new paths, {} failed, {} vanished{} in {:.1} s ({:.2} images/s)",
            summary.files,
            summary.distinct,
            summary.embedded,
            summary.already_stored,
            summary.new_paths,
            summary.failed,
            summary.vanished,
            if args.prune { format!(" ({} pruned)", summary.pruned) } else { String::new() },
            summary.seconds,
            summary.images_per_second
        ));
        if summary.vanished > 0 && !args.prune {
            msg.info("some stored files no longer exist: `artlens status` lists them, `artlens index --prune` forgets them");
        }
    }
    Ok(if summary.failed > 0 { EXIT_PARTIAL } else { 0 })
}

//! `artlens index`: embed a collection into the store with each backbone.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use artlens::app::IndexRequest;
use artlens::imaging::DecodeMode;
use artlens::limits::{MAX_BATCH_SIZE, MAX_THREADS};
use artlens::model::registry::default_backbones;
use artlens::pipeline::IndexOptions;
use artlens::shard::Shard;
use artlens::store::NewStore;
use artlens::BackboneId;

use super::args::{
    backbones_help, count_in, parse_backbone, parse_backbones, with_image_size, BackboneList,
    WeightsArgs,
};
use super::progress::with_progress;
use super::{out_json, Ctx, EXIT_PARTIAL};

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  artlens index data/collection --metadata data/metadata.csv\n  artlens index data/collection --backbones dino,dinov2,dinov2@224\n  artlens index data/collection --shard 1/2 --store shards/1   # one task of two"
)]
pub struct IndexArgs {
    /// The collection folder (walked recursively).
    dir: PathBuf,
    /// CSV with a column naming each file (path relative to DIR, or file
    /// name) and any of title, artist, style, genre, date (extra columns kept).
    #[arg(long)]
    metadata: Option<PathBuf>,
    /// Import the metadata CSV's good rows and report the bad ones (exit
    /// status 1) instead of refusing the whole file.
    #[arg(long)]
    skip_bad: bool,
    #[arg(long, visible_alias = "models", value_name = "ID[,ID...]", value_parser = parse_backbones,
          help = backbones_help() + " [default: dino,dinov2]")]
    backbones: Option<BackboneList>,
    #[command(flatten)]
    weights: WeightsArgs,
    /// Square input size for every backbone named without @SIZE.
    #[arg(long)]
    image_size: Option<u32>,
    #[arg(long, default_value_t = 8, value_parser = count_in(1, MAX_BATCH_SIZE),
          help = format!("Images per forward pass, 1 to {MAX_BATCH_SIZE}"))]
    batch_size: usize,
    #[arg(long, value_name = "N", value_parser = count_in(1, MAX_THREADS),
          help = format!("Threads decoding images, 1 to {MAX_THREADS} (default: half the cores; all of them with --device cuda)"))]
    decode_threads: Option<usize>,
    /// Discard ID's stored embeddings (built with other weights or
    /// preprocessing) and embed anew (repeatable).
    #[arg(long, value_name = "ID", value_parser = parse_backbone)]
    rebuild: Vec<BackboneId>,
    /// Forget stored paths that no longer exist (and works left with none).
    #[arg(long)]
    prune: bool,
    /// Embed only shard I of N (0 <= I < N) of the collection, split by
    /// content hash, into a store of its own; `artlens merge` unites the
    /// shards. For scheduler arrays: --shard $SLURM_ARRAY_TASK_ID/N.
    #[arg(long, value_name = "I/N", value_parser = parse_shard, allow_hyphen_values = true)]
    shard: Option<Shard>,
    /// Try again the files that failed in an earlier run (by default they
    /// are skipped and counted, and only new failures make the exit
    /// status 1).
    #[arg(long)]
    retry_failed: bool,
    /// How JPEGs are decoded: `exact` decodes every pixel as Pillow does
    /// (embeddings equal to the Python reference's); `fast` decodes large
    /// JPEGs at 1/2, 1/4 or 1/8 size in the DCT domain first (several times
    /// faster on multi-megapixel scans, embeddings slightly different). A
    /// store keeps one mode: the other is refused.
    #[arg(long, value_name = "MODE", default_value = "exact", value_parser = parse_decode)]
    decode: DecodeMode,
    /// Print the summary as one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: IndexArgs, ctx: &Ctx) -> Result<i32> {
    let backbones = with_image_size(
        args.backbones
            .clone()
            .map(|l| l.0)
            .unwrap_or_else(default_backbones),
        args.image_size,
    )?;
    let rebuild = with_image_size(args.rebuild.clone(), args.image_size)?;
    let weights = args.weights.config(None)?;
    // Checked before the store is created, so a typo leaves nothing behind.
    weights.check_used(&backbones)?;
    // A run that fails before storing anything (a folder that does not
    // exist, weights that cannot be found) must not leave an empty store
    // behind: later commands would report "0 artworks" as if indexing had
    // worked.
    let before = NewStore::before_open(&ctx.store);
    let collection = ctx.create(weights)?;
    let mut options = IndexOptions {
        batch_size: args.batch_size,
        prune: args.prune,
        retry_failed: args.retry_failed,
        decode: args.decode,
        ..IndexOptions::on_gpu(args.weights.on_gpu())
    };
    if let Some(n) = args.decode_threads {
        options.decode_threads = n;
    }
    let req = IndexRequest {
        dir: args.dir.clone(),
        metadata: args.metadata.clone(),
        skip_bad_metadata: args.skip_bad,
        backbones,
        rebuild,
        shard: args.shard,
        options,
    };
    let indexed = with_progress(ctx.msg, "images", |on_event| {
        collection.index(&req, on_event)
    });
    let (summary, failures) = match indexed {
        Ok(done) => done,
        Err(e) => {
            drop(collection);
            if let Err(left) = before.discard_if_empty() {
                ctx.msg.warn(format!(
                    "the empty store {} could not be removed: {left}",
                    ctx.store.display()
                ));
            }
            return Err(e.into());
        }
    };
    if args.json {
        out_json(&summary)?;
    } else {
        ctx.msg.info(format!(
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
        if summary.known_failures > 0 {
            ctx.msg.info(format!(
                "{} skipped: {} failed in an earlier run (`artlens status` lists why); `artlens index --retry-failed` tries again",
                artlens::plain::count(summary.known_failures, "known failure", "known failures"),
                if summary.known_failures == 1 { "it" } else { "they" },
            ));
        }
        if let Some(shard) = summary.shard {
            ctx.msg.info(format!(
                "shard {shard}: {} files of other shards left to their own stores",
                summary.other_shards
            ));
        }
        if summary.vanished > 0 && !args.prune {
            ctx.msg.info("some stored files no longer exist: `artlens status` lists them, `artlens index --prune` forgets them");
        }
    }
    let partial = summary.failed > 0 || failures > summary.failed;
    Ok(if partial { EXIT_PARTIAL } else { 0 })
}

fn parse_decode(s: &str) -> std::result::Result<DecodeMode, String> {
    s.parse().map_err(|e: artlens::Error| e.to_string())
}

fn parse_shard(s: &str) -> std::result::Result<Shard, String> {
    s.parse().map_err(|e: artlens::Error| e.to_string())
}

//! `artlens embed`: raw embeddings of image files with one backbone, no store.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use artlens::app::{self, Event};
use artlens::limits::MAX_BATCH_SIZE;
use artlens::model::{Backbone, CheckpointFiles};
use artlens::pipeline::{self, IndexOptions};
use artlens::BackboneId;

use super::args::{parse_backbone, with_image_size, WeightsArgs};
use super::progress::Progress;
use super::{out_line, printable, Ctx, EXIT_PARTIAL};

/// One backbone and how to run it (`embed`, `bench`).
#[derive(Args, Debug)]
pub struct OneModelArgs {
    /// The backbone: an id or alias (dino, dinov2, facebook/dino-vitb16, ...), optionally @SIZE.
    #[arg(long, visible_alias = "backbone", value_parser = parse_backbone)]
    pub model: BackboneId,
    /// Square input size; the same as appending @SIZE to the backbone id.
    #[arg(long)]
    pub image_size: Option<u32>,
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=MAX_BATCH_SIZE as i64),
          help = format!("Images per forward pass, 1 to {MAX_BATCH_SIZE}"))]
    pub batch_size: u32,
    #[command(flatten)]
    pub weights: WeightsArgs,
}

impl OneModelArgs {
    /// The backbone with `--image-size` applied.
    pub fn id(&self) -> Result<BackboneId> {
        Ok(with_image_size(vec![self.model.clone()], self.image_size)?.remove(0))
    }

    pub fn load(&self) -> Result<(Backbone, CheckpointFiles)> {
        let id = self.id()?;
        let cfg = self.weights.config(Some(&id))?;
        cfg.check_used(std::slice::from_ref(&id))?;
        Ok(app::load_backbone(&id, &cfg)?)
    }
}

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  artlens embed --model dinov2 --json data/collection/Impressionism/jules-fennec_poplars-in-june-6.jpg\n  artlens embed --model dino@160 data/collection/Minimalism/*.png   # --weights dino=DIR for a local copy"
)]
pub struct EmbedArgs {
    #[command(flatten)]
    model: OneModelArgs,
    /// One JSON object per image on stdout: {"path","model","dim","embedding"}.
    #[arg(long)]
    json: bool,
    /// Image files to embed.
    #[arg(required = true)]
    images: Vec<PathBuf>,
}

pub fn run(args: EmbedArgs, ctx: &Ctx) -> Result<i32> {
    let (backbone, files) = args.model.load()?;
    for w in backbone.warnings() {
        ctx.msg.warn(w);
    }
    let id = backbone.id().clone();
    let (h, w) = backbone.preprocess().output_size();
    ctx.msg.info(format!(
        "{id}: weights {} ({w}x{h} input, {} MB of weights used in place from the mapped file)",
        files.weights.display(),
        backbone.weights_in_place() / 1_000_000
    ));
    let mut progress = Progress::new(ctx.msg, "images");
    let total = args.images.len();
    let mut done = 0usize;
    let mut failed = 0usize;
    let opts = IndexOptions {
        batch_size: args.model.batch_size as usize,
        ..IndexOptions::on_gpu(args.model.weights.on_gpu())
    };
    pipeline::embed_files(&backbone, &args.images, &opts, &mut |batch| {
        done += batch.len();
        for (path, result) in batch {
            let v = match result {
                Ok(v) => v,
                Err(reason) => {
                    failed += 1;
                    progress.event(Event::Failed { path, reason });
                    continue;
                }
            };
            if args.json {
                let obj = serde_json::json!({
                    "path": path.display().to_string(),
                    "model": id.name(),
                    "dim": v.len(),
                    "embedding": v,
                });
                out_line(&obj.to_string());
            } else {
                let nums: Vec<String> = v.iter().map(|x| format!("{x}")).collect();
                out_line(&format!(
                    "{}\t{}",
                    printable(&path.display().to_string()),
                    nums.join(" ")
                ));
            }
        }
        progress.event(Event::Progress {
            done,
            total,
            failed,
        });
    })?;
    progress.finish();
    if failed > 0 {
        ctx.msg
            .error(format!("{failed} of {total} images could not be embedded"));
        return Ok(EXIT_PARTIAL);
    }
    Ok(0)
}

//! `artlens export`: one backbone's embeddings for other tools.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use artlens::app::{ExportFormat, ExportRequest};
use artlens::BackboneId;

use super::args::{parse_backbone, WeightsArgs};
use super::{out_json, Ctx};

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  artlens export --backbone dinov2 out/\n  python -c \"import numpy as np; print(np.load('out/embeddings.npy').shape)\""
)]
pub struct ExportArgs {
    /// The backbone whose embeddings to write.
    #[arg(long, visible_alias = "model", value_parser = parse_backbone)]
    backbone: BackboneId,
    /// npy: embeddings.npy (float32, N×D); csv: embeddings.csv.
    #[arg(long, value_enum, default_value = "npy")]
    format: ExportFormat,
    /// The folder to write embeddings, items.csv (same row order) and manifest.json into.
    out_dir: PathBuf,
    /// Print the manifest as JSON on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: ExportArgs, ctx: &Ctx) -> Result<i32> {
    let collection = ctx.open(WeightsArgs::default().config(None)?)?;
    let view = collection.export(&ExportRequest {
        backbone: args.backbone.clone(),
        format: args.format.clone(),
        out_dir: args.out_dir.clone(),
    })?;
    if args.json {
        out_json(&view)?;
    }
    ctx.msg.info(format!(
        "wrote {} {} embeddings (dim {}), items.csv and manifest.json to {}",
        view.manifest.rows,
        view.manifest.backbone,
        view.manifest.dim,
        args.out_dir.display()
    ));
    Ok(0)
}

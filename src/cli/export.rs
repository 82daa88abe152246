//! `artlens export`: embeddings for other tools, as NumPy, CSV or Parquet.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;

use artlens::app::{ExportFormat, ExportRequest};
#[cfg(feature = "parquet")]
use artlens::app::{ParquetRequest, DEFAULT_ROW_GROUP_ROWS};
use artlens::limits::MAX_ROW_GROUP_ROWS;
use artlens::ratings::Rater;
use artlens::BackboneId;

use super::args::{parse_backbone, parse_rater, WeightsArgs};
use super::{out_json, Ctx};

/// The same default as `artlens::app::DEFAULT_ROW_GROUP_ROWS`, which a build
/// without the `parquet` feature lacks: the flag still parses there, with the
/// same help, so that scripts fail on the format, with a message that says
/// how to get it, rather than on an unknown flag.
#[cfg(not(feature = "parquet"))]
const DEFAULT_ROW_GROUP_ROWS: usize = 8192;

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  artlens export --backbone dinov2 out/\n  python -c \"import numpy as np; print(np.load('out/embeddings.npy').shape)\"\n  artlens export --format parquet parquet/          # every backbone, one file each\n  duckdb -c \"SELECT id, path, len(embedding) FROM 'parquet/*.parquet' LIMIT 3\""
)]
pub struct ExportArgs {
    /// The backbone whose embeddings to write (npy and csv: exactly one;
    /// parquet: repeat it to choose, default every backbone in the store).
    #[arg(long, visible_alias = "model", value_parser = parse_backbone)]
    backbone: Vec<BackboneId>,
    /// npy: embeddings.npy (float32, N×D) + items.csv (id, hash, path,
    /// rating, metadata); csv: embeddings.csv + items.csv; parquet: one
    /// <backbone>.parquet per backbone with ids, paths, the rating, metadata
    /// and the embedding as a fixed-size float32 list.
    #[arg(long, value_enum, default_value = "npy")]
    format: ExportFormat,
    /// The folder to write into (with manifest.json). An export replaces
    /// the files an earlier artlens export there lists, all at once; other
    /// files in the folder stay (one named like a file the export writes
    /// stops it, named).
    out_dir: PathBuf,
    #[arg(long, default_value_t = DEFAULT_ROW_GROUP_ROWS as u32, value_parser = clap::value_parser!(u32).range(1..=MAX_ROW_GROUP_ROWS as i64),
          help = format!("Parquet rows per row group, 1 to {MAX_ROW_GROUP_ROWS}"))]
    row_group_rows: u32,
    /// Whose ratings fill the `rating` column (empty, or null in Parquet,
    /// for works that rater has not rated).
    #[arg(long, default_value = "me", value_parser = parse_rater)]
    rater: Rater,
    /// Print the manifest as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// The export through the running server: it writes the files, into the
/// folder made absolute (the server's working folder is not this
/// command's); the view names the folder as it was given, as the direct
/// path's does.
fn remote_export<T: serde::de::DeserializeOwned>(
    args: &ExportArgs,
    r: &super::remote::Remote,
) -> Result<T> {
    r.check_rater(&args.rater)?;
    let out_dir = std::path::absolute(&args.out_dir)?;
    r.send(
        "POST",
        "/api/export",
        &serde_json::json!({
            "backbone": args.backbone.iter().map(BackboneId::name).collect::<Vec<_>>(),
            "format": args.format,
            "out_dir": out_dir,
            "row_group_rows": args.row_group_rows,
        }),
    )
}

pub fn run(args: ExportArgs, ctx: &Ctx) -> Result<i32> {
    // Said before the store is opened, so that this is the message whatever
    // else is wrong.
    #[cfg(not(feature = "parquet"))]
    if args.format == ExportFormat::Parquet {
        bail!("this artlens was built without the `parquet` feature; rebuild with `cargo install artlens --features parquet`");
    }
    // Either the store, or the server that holds it.
    let through = match &ctx.remote {
        Some(r) => Err(r),
        None => Ok(ctx.open(WeightsArgs::default().config(None)?)?),
    };
    #[cfg(feature = "parquet")]
    if args.format == ExportFormat::Parquet {
        let view: artlens::app::ParquetExportView = match &through {
            Ok(c) => c.export_parquet(&ParquetRequest {
                backbones: args.backbone.clone(),
                out_dir: args.out_dir.clone(),
                row_group_rows: args.row_group_rows as usize,
                rater: args.rater.clone(),
            })?,
            Err(r) => {
                let mut v: artlens::app::ParquetExportView = remote_export(&args, r)?;
                v.out_dir = args.out_dir.display().to_string();
                v
            }
        };
        if args.json {
            out_json(&view)?;
        }
        for f in &view.files {
            ctx.msg.info(format!(
                "wrote {} {} embeddings (dim {}, {} row groups) to {}",
                f.embeddings.rows,
                f.embeddings.backbone,
                f.embeddings.dim,
                f.row_groups,
                args.out_dir.join(&f.file).display()
            ));
        }
        if view.replaced {
            ctx.msg.info(format!(
                "replaced the older export in {}",
                args.out_dir.display()
            ));
        }
        return Ok(0);
    }
    let backbone = match args.backbone.as_slice() {
        [one] => one.clone(),
        [] => bail!(
            "--format {} writes one backbone: name it with --backbone ID (the store's backbones: `artlens status`)",
            format_name(&args.format)
        ),
        _ => bail!(
            "--format {} writes one backbone per folder; give one --backbone, or use --format parquet for several",
            format_name(&args.format)
        ),
    };
    let view: artlens::app::ExportView = match &through {
        Ok(c) => c.export(&ExportRequest {
            backbone,
            format: args.format.clone(),
            out_dir: args.out_dir.clone(),
            rater: args.rater.clone(),
        })?,
        Err(r) => {
            let mut v: artlens::app::ExportView = remote_export(&args, r)?;
            v.out_dir = args.out_dir.display().to_string();
            v
        }
    };
    if args.json {
        out_json(&view)?;
    }
    ctx.msg.info(format!(
        "wrote {} {} embeddings (dim {}), items.csv and manifest.json to {}",
        view.manifest.embeddings.rows,
        view.manifest.embeddings.backbone,
        view.manifest.embeddings.dim,
        args.out_dir.display()
    ));
    Ok(0)
}

fn format_name(f: &ExportFormat) -> &'static str {
    match f {
        ExportFormat::Npy => "npy",
        ExportFormat::Csv => "csv",
        ExportFormat::Parquet => "parquet",
    }
}

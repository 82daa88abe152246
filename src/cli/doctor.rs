//! `artlens doctor`: checks the store record by record, and with `--into`
//! salvages every readable record into a fresh store.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use artlens::plain;
use artlens::store::{check_store, salvage_store};

use super::{out_json, out_line, Ctx, EXIT_ERROR};

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  artlens doctor\n  artlens doctor --into index-salvaged\n\nEmbeddings can be recomputed from the collection (`artlens index`); ratings cannot, so a salvage copies them first."
)]
pub struct DoctorArgs {
    /// Copy every readable record (ratings first) into this new store folder.
    #[arg(long, value_name = "NEW_DIR")]
    into: Option<PathBuf>,

    /// One JSON object on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: DoctorArgs, ctx: &Ctx) -> Result<i32> {
    if let Some(r) = &ctx.remote {
        return Err(r.refuse(ctx.command));
    }
    let report = match check_store(&ctx.store) {
        // sled cannot open a store it may not write, but a salvage only
        // reads: it works from a copy, so read-only media can be rescued.
        Err(e @ artlens::Error::StoreNotWritable { .. }) if args.into.is_some() => {
            ctx.msg.info(format!("{e}; salvaging from a copy"));
            None
        }
        checked => Some(checked?),
    };
    let salvage = match &args.into {
        Some(into) => Some(salvage_store(&ctx.store, into)?),
        None => None,
    };
    let Some(report) = report else {
        if args.json {
            out_json(&serde_json::json!({ "check": null, "salvage": salvage }))?;
        } else if let Some(s) = &salvage {
            print_salvage(s);
        }
        return Ok(0);
    };
    if args.json {
        out_json(&serde_json::json!({ "check": report, "salvage": salvage }))?;
    } else {
        for r in &report.recovered {
            out_line(&format!("recovered   {r}"));
        }
        if report.healthy {
            out_line(&format!(
                "healthy     {}: {} artworks, {} embeddings, {} ratings, {} other records, all readable",
                report.store.display(),
                report.artworks,
                report.embeddings,
                report.ratings,
                report.other_records
            ));
        } else {
            out_line(&format!(
                "damaged     {}: {}; readable: {}, {}, {}",
                report.store.display(),
                plain::count(report.problems.len(), "problem", "problems"),
                plain::count(report.artworks, "artwork", "artworks"),
                plain::count(report.embeddings, "embedding", "embeddings"),
                plain::count(report.ratings, "rating", "ratings")
            ));
            for p in &report.problems {
                out_line(&format!("problem     {p}"));
            }
            if salvage.is_none() {
                for a in &report.advice {
                    out_line(&format!("next        {a}"));
                }
            }
        }
        if let Some(s) = &salvage {
            print_salvage(s);
        }
    }
    Ok(if report.healthy || salvage.is_some() {
        0
    } else {
        EXIT_ERROR
    })
}

fn print_salvage(s: &artlens::store::SalvageReport) {
    out_line(&format!(
        "salvaged    into {}: {} ratings, {} preferences, {} artworks, {} embeddings, {} other records",
        s.into.display(),
        s.ratings,
        s.preferences,
        s.artworks,
        s.embeddings,
        s.other_records
    ));
    for d in &s.dropped {
        out_line(&format!("dropped     {d}"));
    }
    for a in &s.advice {
        out_line(&format!("next        {a}"));
    }
}

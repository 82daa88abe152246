//! `artlens merge`: unite shard stores (or any stores with the same
//! backbones) into one, then build its ANN indexes once.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use artlens::app::{merge, MergeRequest};

use super::progress::with_progress;
use super::{out_json, printable, Ctx};

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  artlens index data/collection --shard 0/2 --store shards/0 && artlens merge shards/0 shards/1 --into merged\n  artlens merge shards/0 shards/1 --into merged --json   # again: nothing new\n\nA work in several stores is kept once; paths, metadata and ratings are united (a rating of one\nwork by one rater that differs between stores: the newer one is kept, and reported). Merging\nagain after a crash, or with more shards, completes the store. Heads are not merged: run\n`artlens train` on the merged store."
)]
pub struct MergeArgs {
    /// The stores to merge (shard stores from `index --shard`, or any stores
    /// with the same backbones). Where two disagree on a metadata field the
    /// later one's value is kept.
    #[arg(required = true, value_name = "STORE")]
    sources: Vec<PathBuf>,
    /// The merged store: created when missing, else merged into.
    #[arg(long, value_name = "STORE")]
    into: PathBuf,
    /// Print the merge report as one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: MergeArgs, ctx: &Ctx) -> Result<i32> {
    for store in args.sources.iter().chain([&args.into]) {
        if let Some(r) = super::remote::Remote::find(store) {
            return Err(r.refuse(ctx.command));
        }
    }
    let req = MergeRequest {
        sources: args.sources.clone(),
        into: args.into.clone(),
    };
    let (report, _) = with_progress(ctx.msg, "works", |on_event| merge(&req, on_event))?;
    if args.json {
        out_json(&report)?;
    }
    for c in &report.metadata_conflicts {
        ctx.msg.warn(format!(
            "work {}: `{}` differs between stores; kept {:?} (from {}), dropped {:?}",
            &c.hash[..12],
            printable(&c.key),
            printable(&c.kept),
            printable(&c.from),
            printable(&c.dropped)
        ));
    }
    for c in &report.record_conflicts {
        ctx.msg.warn(format!(
            "{} {}: differs between stores; kept the {} {} (recorded {}), dropped {} (recorded {})",
            c.tree,
            printable(&c.key),
            if c.decided_by == "newer" {
                "newer"
            } else {
                "larger (both were recorded in the same second)"
            },
            c.kept,
            c.kept_time,
            c.dropped,
            c.dropped_time
        ));
    }
    for v in &report.differing_vectors {
        ctx.msg.warn(format!(
            "{v}: the stores hold different vectors under the same fingerprint; kept the one already merged"
        ));
    }
    for n in &report.notes {
        ctx.msg.info(n);
    }
    let embeddings: Vec<String> = report
        .embeddings_added
        .iter()
        .map(|(b, n)| format!("{n} {b}"))
        .collect();
    let records: Vec<String> = report
        .records_added
        .iter()
        .map(|(t, n)| format!("{n} {t}"))
        .collect();
    ctx.msg.info(format!(
        "merged {} stores into {}: {} works ({} new, {} updated, {} already there); embeddings added: {}; records added: {}; {} failures carried over",
        report.sources.len(),
        args.into.display(),
        report.works,
        report.added,
        report.updated,
        report.unchanged,
        if embeddings.is_empty() { "none".into() } else { embeddings.join(", ") },
        if records.is_empty() { "none".into() } else { records.join(", ") },
        report.failures,
    ));
    Ok(0)
}

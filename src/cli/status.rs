//! `artlens status`: what the store holds.

use anyhow::Result;
use clap::Args;

use artlens::ratings::Rater;

use super::args::{parse_rater, WeightsArgs};
use super::{out_json, out_line, printable, Ctx};

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  artlens status\n  artlens status --store index --json\n  artlens status --rater anna"
)]
pub struct StatusArgs {
    /// Whose ratings, heads and training to report (every rater is counted
    /// either way).
    #[arg(long, default_value = "me", value_parser = parse_rater)]
    rater: Rater,
    /// One JSON object on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: StatusArgs, ctx: &Ctx) -> Result<i32> {
    let view = match &ctx.remote {
        Some(r) => {
            let mut view: artlens::app::StatusView = r.get("/api/status", &[])?;
            r.same_rater(&view.rater, &args.rater)?;
            // The store as this command named it, as the direct path says.
            view.store = ctx.store.display().to_string();
            view
        }
        None => ctx
            .open(WeightsArgs::default().config(None)?)?
            .status(&args.rater)?,
    };
    if args.json {
        out_json(&view)?;
        return Ok(0);
    }
    out_line(&format!(
        "store       {} (format {}, {:.1} MiB)",
        view.store,
        view.format_version,
        view.size_bytes as f64 / (1 << 20) as f64
    ));
    out_line(&format!("artworks    {}", view.artworks));
    for r in &view.roots {
        out_line(&format!("root        {}", printable(&r.path)));
    }
    if let Some(shard) = view.shard {
        out_line(&format!(
            "shard       {shard} of its collection (`artlens merge` unites the shards)"
        ));
    }
    if view.models.is_empty() {
        out_line("backbones   none indexed yet (`artlens index DIR`)");
    }
    for (name, m) in &view.models {
        match &m.fingerprint {
            Some(fp) => out_line(&format!(
                "{name:<11} {} embeddings, dim {}, weights blake3 {}…, {}{}",
                m.embeddings,
                fp.dim,
                &fp.weights_blake3[..12.min(fp.weights_blake3.len())],
                m.description,
                if m.head { ", taste head trained" } else { "" }
            )),
            None => out_line(&format!("{name:<11} not indexed")),
        }
    }
    if args.rater.is_default() {
        out_line(&format!("ratings     {}", view.ratings));
    } else {
        out_line(&format!("ratings     {} by `{}`", view.ratings, view.rater));
    }
    for r in &view.raters {
        let contradictions = if r.contradictions > 0 {
            format!(" ({} contradictory pairs, kept)", r.contradictions)
        } else {
            String::new()
        };
        let trained = if r.trained { ", trained" } else { "" };
        out_line(&format!(
            "rater       {}: {} ratings, {} preferences{contradictions}{trained}",
            r.name, r.ratings, r.preferences,
        ));
    }
    let flag = if args.rater.is_default() {
        String::new()
    } else {
        format!(" --rater {}", args.rater)
    };
    if let Some(t) = &view.training {
        if let Some(e) = t.get("error") {
            out_line(&format!(
                "training    unusable: {}",
                e.as_str().unwrap_or("")
            ));
        } else {
            out_line(&format!(
                "training    {} heads on {}{}",
                t["head"].as_str().unwrap_or(""),
                t["backbones"]
                    .as_array()
                    .map(|a| a
                        .iter()
                        .filter_map(|v| v.as_str())
                        .collect::<Vec<_>>()
                        .join(", "))
                    .unwrap_or_default(),
                if t["ratings_changed_since"].as_bool() == Some(true) {
                    format!(" (ratings changed since: run `artlens train{flag}`)")
                } else {
                    String::new()
                }
            ));
        }
    }
    if view.copies > 0 {
        out_line(&format!(
            "copies      {} marked (`artlens dups`)",
            artlens::plain::count(view.copies, "work", "works")
        ));
    }
    if let Some(merged) = view
        .training
        .as_ref()
        .and_then(|t| t["merged_groups"].as_u64())
        .filter(|&m| m > 0)
    {
        out_line(&format!(
            "            training kept {} of a rated work and its copies in one fold",
            artlens::plain::count(merged as usize, "group", "groups")
        ));
    }
    out_line(&format!("failures    {}", view.failures.len()));
    for f in &view.failures {
        out_line(&format!(
            "  {}: {}",
            printable(&f.path),
            printable(&f.reason)
        ));
    }
    out_line(&format!("vanished    {}", view.vanished.len()));
    for p in &view.vanished {
        out_line(&format!("  {}", printable(p)));
    }
    if !view.vanished.is_empty() {
        out_line("(`artlens index DIR --prune` forgets vanished files)");
    }
    Ok(0)
}

//! `artlens compare`: the side-by-side report of the backbones on this
//! collection — label metrics, the taste heads' cross-validated metrics,
//! neighbour agreement, the learning curve, and one verdict line.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use artlens::app::CompareRequest;
use artlens::head::percent;
use artlens::limits::MAX_NEIGHBOURS;
use artlens::report;

use super::args::{parse_rater, BackboneArgs};
use super::progress::with_progress;
use super::{out_line, print_view, Ctx};

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  artlens compare\n  artlens compare --label artist -k 5 --html compare.html"
)]
pub struct CompareArgs {
    /// The metadata key whose agreement among neighbours is measured
    /// [default: style]; a label no work has is an error.
    #[arg(long)]
    label: Option<String>,
    #[arg(short, long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=MAX_NEIGHBOURS as i64),
          help = format!("Neighbours for the label metrics and the agreement, 1 to {MAX_NEIGHBOURS}"))]
    k: u32,
    #[command(flatten)]
    backbones: BackboneArgs,
    /// One JSON object on stdout: {"models":{ID:{...}},"comparisons","verdict",...}.
    #[arg(long)]
    json: bool,
    /// Write a self-contained HTML report to FILE.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Whose training the verdict reports.
    #[arg(long, default_value = "me", value_parser = parse_rater)]
    rater: artlens::ratings::Rater,
}

pub fn run(args: CompareArgs, ctx: &Ctx) -> Result<i32> {
    let req = CompareRequest {
        label: args.label.clone(),
        k: args.k as usize,
        backbones: args.backbones.get(),
        rater: args.rater.clone(),
    };
    let view: report::CompareView = match &ctx.remote {
        Some(r) => r.compare(&req)?,
        None => {
            let collection = ctx.open(Default::default())?;
            with_progress(ctx.msg, "backbones", |on_event| {
                collection.compare(&req, on_event)
            })?
            .0
        }
    };
    for w in &view.warnings {
        ctx.msg.warn(w);
    }
    ctx.write_html(args.html.as_deref(), || report::render_compare_html(&view))?;
    print_view(&view, args.json, |v| print_text(v, args.label.as_deref()))
}

/// The table of figures, the data ladder, the agreements, the paired
/// comparisons and the verdict; `asked_label` names the label when the
/// view does not (no work has one).
fn print_text(view: &report::CompareView, asked_label: Option<&str>) {
    let k = view.k;
    let label = if view.label.is_empty() {
        asked_label.unwrap_or("style").to_ascii_lowercase()
    } else {
        view.label.clone()
    };
    // Columns along the data ladder (the view's order), not alphabetically.
    let ordered: Vec<(&String, &report::CompareModel)> = view
        .ladder
        .iter()
        .filter_map(|p| view.models.get_key_value(&p.id))
        .chain(
            view.models
                .iter()
                .filter(|(k, _)| !view.ladder.iter().any(|p| &&p.id == k)),
        )
        .collect();
    let width = ordered
        .iter()
        .map(|(n, _)| n.len() + 2)
        .max()
        .unwrap_or(14)
        .max(14);
    let cols: String = ordered
        .iter()
        .map(|(n, _)| format!("{n:>width$}"))
        .collect();
    out_line(&format!("{:<46}{cols}", ""));
    let fmt = |v: Option<f64>| {
        v.map(|x| format!("{x:>width$.3}"))
            .unwrap_or_else(|| format!("{:>width$}", "-"))
    };
    let row = |title: String, f: &dyn Fn(&report::CompareModel) -> Option<f64>| {
        let cells: String = ordered.iter().map(|(_, m)| fmt(f(m))).collect();
        out_line(&format!("{title:<46}{cells}"));
    };
    row(format!("LOO {k}-NN {label} accuracy"), &|m| m.loo_accuracy);
    row("  (chance)".into(), &|m| m.chance);
    row(format!("{label} precision@{k}"), &|m| m.precision_at_k);
    // The headline figure, written as every page writes it.
    if !view.headline_name.is_empty() {
        let cells: String = ordered
            .iter()
            .map(|(id, _)| {
                let cell = view
                    .ladder
                    .iter()
                    .find(|p| &&p.id == id)
                    .and_then(|p| Some((p.headline?, p.headline_low?, p.headline_high?)))
                    .map_or("not yet".to_string(), |(v, a, b)| {
                        format!("{} ({}–{})", percent(v), percent(a), percent(b))
                    });
                format!("{cell:>width$}")
            })
            .collect();
        out_line(&format!("{:<46}{cells}", view.headline_name));
    }
    for key in ["spearman", "pearson", "mae", "pairwise_accuracy"] {
        if view.models.values().any(|m| m.cv.contains_key(key)) {
            row(
                format!("{}, cross-validated", artlens::report::cv_label(key)),
                &|m| m.cv.get(key).copied(),
            );
        }
    }
    for p in &view.ladder {
        let data = match p.pretraining_images {
            0 => "pretraining data unknown".to_string(),
            n => format!(
                "{} ({} images)",
                p.pretraining_data,
                artlens::model::registry::human_count(n)
            ),
        };
        let taste = match (p.headline, p.headline_low, p.headline_high) {
            (Some(v), Some(a), Some(b)) => format!(
                "agrees with your ratings {} (95% sure {} … {})",
                percent(v),
                percent(a),
                percent(b)
            ),
            (Some(v), _, _) => format!("agrees with your ratings {}", percent(v)),
            _ if view.first_answer > 0 => format!(
                "not enough ratings yet ({} of {})",
                view.n_ratings, view.first_answer
            ),
            _ => "no taste head".to_string(),
        };
        out_line(&format!("data ladder  {:<22} {data:<32} {taste}", p.id));
    }
    for p in &view.agreements {
        out_line(&format!(
            "neighbour agreement@{k} {} / {}: {:.3} (unrelated spaces: {:.3})",
            p.a, p.b, p.agreement, p.chance
        ));
    }
    for c in &view.comparisons {
        out_line(&comparison_line(c));
    }
    out_line(&format!("verdict: {}", view.verdict));
    if !view.verdict_detail.is_empty() {
        out_line(&format!("detail: {}", view.verdict_detail));
    }
    if !view.procedure.is_empty() {
        out_line(&format!("procedure: {}", view.procedure));
    }
}

/// One paired comparison as `compare` and `train` print it: `b − a`, the
/// metric, the difference and its interval, and `*` when it excludes 0.
pub(super) fn comparison_line(c: &artlens::app::PairComparison) -> String {
    format!(
        "{} − {} {:<18} {:+.3}  ({:.0}% CI {:+.3} … {:+.3}){}",
        c.b,
        c.a,
        c.metric,
        c.diff,
        c.ci_level * 100.0,
        c.ci_low,
        c.ci_high,
        if c.significant { "  *" } else { "" }
    )
}

//! `artlens train`: cross-validate a head per backbone on the same folds
//! (on a rater's scores, preferences or both), compare every pair, and save
//! heads fit on everything.

use anyhow::Result;
use clap::Args;

use artlens::app::TrainRequest;
use artlens::head::{self, HeadKind};
use artlens::limits::{
    MAX_BOOTSTRAP, MAX_FOLDS, MAX_REPEATS, MAX_THREADS, MIN_BOOTSTRAP, MIN_FOLDS,
};

use super::args::{count_in, parse_rater, set_threads, BackboneArgs};
use super::compare::comparison_line;
use super::progress::with_progress;
use super::{out_json, out_line, Ctx};

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  artlens train\n  artlens train --head mlp --folds 10 --backbones dino,dinov2,dinov2@224 --json"
)]
pub struct TrainArgs {
    /// ridge (standardised features, λ by inner cross-validation) or mlp.
    #[arg(long, default_value = "ridge", value_parser = parse_head)]
    head: HeadKind,
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(MIN_FOLDS as i64..=MAX_FOLDS as i64),
          help = format!("Cross-validation folds, {MIN_FOLDS} to {MAX_FOLDS}"))]
    folds: u32,
    /// Seed of folds, bootstrap resamples and MLP initialisation.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value_t = head::DEFAULT_REPEATS as u32, value_parser = clap::value_parser!(u32).range(1..=MAX_REPEATS as i64),
          help = format!("Independent K-fold splits the comparison on ratings averages over, 1 to {MAX_REPEATS} (1: a single K-fold, as before; more splits, more power)"))]
    repeats: u32,
    /// Whose ratings and preferences to learn.
    #[arg(long, default_value = "me", value_parser = parse_rater)]
    rater: artlens::ratings::Rater,
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(MIN_BOOTSTRAP as i64..=MAX_BOOTSTRAP as i64),
          help = format!("Bootstrap resamples for the confidence intervals, {MIN_BOOTSTRAP} to {MAX_BOOTSTRAP}"))]
    bootstrap: u32,
    #[command(flatten)]
    backbones: BackboneArgs,
    #[arg(long, value_name = "N", value_parser = count_in(1, MAX_THREADS),
          help = format!("Threads for training, 1 to {MAX_THREADS} (default: all cores)"))]
    threads: Option<usize>,
    /// The reports as one JSON object: {"rater","backbones":{ID:{"headline","headline_low","headline_high","pooled","per_fold","learning_curve"}},"live":[...],"comparisons":[...],"verdict","verdict_detail","procedure","ratings_needed","preferences":{"backbones","comparisons","verdict"}} (the ratings' keys absent without ratings).
    #[arg(long)]
    json: bool,
}

fn parse_head(s: &str) -> Result<HeadKind, String> {
    match s.to_ascii_lowercase().as_str() {
        "ridge" => Ok(HeadKind::Ridge),
        "mlp" => Ok(HeadKind::Mlp),
        other => Err(format!("unknown head `{other}` (ridge or mlp)")),
    }
}

pub fn run(args: TrainArgs, ctx: &Ctx) -> Result<i32> {
    set_threads(args.threads);
    let req = TrainRequest {
        head: args.head,
        folds: args.folds as usize,
        seed: args.seed,
        bootstrap: args.bootstrap as usize,
        backbones: args.backbones.get(),
        repeats: args.repeats as usize,
        rater: args.rater.clone(),
    };
    let outcome: artlens::app::TrainOutcome = match &ctx.remote {
        Some(r) => r.train(&req)?,
        None => {
            let collection = ctx.open(Default::default())?;
            with_progress(ctx.msg, "heads", |on_event| {
                collection.train_taste(&req, on_event)
            })?
            .0
        }
    };
    if args.json {
        out_json(&outcome)?;
        return Ok(0);
    }
    if let Some(report) = &outcome.ratings {
        print_ratings_report(report);
    }
    if let Some(p) = &outcome.preferences {
        out_line(&format!(
            "pairwise (Bradley–Terry) head, {} preferences ({} contradictory pairs), {}-fold cross-validation on held-out preferences (seed {})",
            p.n_preferences, p.contradictions, p.folds, p.seed
        ));
        for (id, b) in &p.backbones {
            out_line(&format!(
                "  {id:<14} held-out pairwise accuracy {:.3}",
                b.accuracy
            ));
        }
        for c in &p.comparisons {
            out_line(&comparison_line(&c.into()));
        }
        out_line(&format!("verdict on preferences: {}", p.verdict));
    }
    Ok(0)
}

fn print_ratings_report(report: &head::TrainReport) {
    out_line(&format!(
        "{} head, {} ratings, {}-fold cross-validation repeated {}× (seed {})",
        report.kind.name(),
        report.n_ratings,
        report.folds,
        report.repeats,
        report.seed
    ));
    let names: Vec<&String> = report.backbones.keys().collect();
    let cols: String = names.iter().map(|n| format!("{:>14}", n)).collect();
    out_line(&format!("{:<22}{cols}", ""));
    // The headline figure first, written as every page writes it.
    let headline: String = report
        .backbones
        .values()
        .map(|b| {
            let cell = if report.answer_ready() {
                format!(
                    "{} ({}–{})",
                    head::percent(b.headline),
                    head::percent(b.headline_low),
                    head::percent(b.headline_high)
                )
            } else {
                "not yet".to_string()
            };
            format!("{cell:>14}")
        })
        .collect();
    out_line(&format!("{:<22}{headline}", report.headline_name));
    type Column = (&'static str, fn(&head::Metrics) -> f64);
    let rows: [Column; 4] = [
        ("Spearman", |m| m.spearman),
        ("Pearson", |m| m.pearson),
        ("MAE", |m| m.mae),
        ("pairwise accuracy", |m| m.pairwise_accuracy),
    ];
    for (name, f) in rows {
        let cells: String = report
            .backbones
            .values()
            .map(|b| format!("{:>14.3}", f(&b.pooled)))
            .collect();
        out_line(&format!("{name:<22}{cells}"));
    }
    out_line("learning curve (Spearman):");
    let first = report.backbones.values().next();
    if let Some(first) = first {
        for (i, p) in first.learning_curve.iter().enumerate() {
            let cells: String = report
                .backbones
                .values()
                .map(|b| {
                    b.learning_curve
                        .get(i)
                        .map(|q| format!("{:>14.3}", q.metrics.spearman))
                        .unwrap_or_else(|| format!("{:>14}", "-"))
                })
                .collect();
            out_line(&format!(
                "  {:>4.0}% (~{} per fold){cells}",
                p.fraction * 100.0,
                p.n_train
            ));
        }
    }
    for c in &report.comparisons {
        out_line(&comparison_line(&c.into()));
    }
    out_line(&format!("verdict: {}", report.verdict));
    out_line(&format!("detail: {}", report.verdict_detail));
    out_line(&format!("procedure: {}", report.procedure));
}

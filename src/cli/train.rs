//! `artlens train`: cross-validate a head per backbone on the same folds,
//! compare them with a paired bootstrap, and save heads fit on all ratings.

use anyhow::{bail, Result};
use clap::Args;

use artlens::head::{self, HeadKind};
use artlens::model::ModelKind;

use super::store_args::StoreArgs;
use super::{out_line, Messages};

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// ridge (standardised features, λ by inner cross-validation) or mlp.
    #[arg(long, default_value = "ridge", value_parser = parse_head)]
    head: HeadKind,
    /// Cross-validation folds.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(2..=100))]
    folds: u32,
    /// Seed of folds, bootstrap resamples and MLP initialisation.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Bootstrap resamples for the confidence interval.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(100..=100000))]
    bootstrap: u32,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
}

fn parse_head(s: &str) -> Result<HeadKind, String> {
    match s.to_ascii_lowercase().as_str() {
        "ridge" => Ok(HeadKind::Ridge),
        "mlp" => Ok(HeadKind::Mlp),
        other => Err(format!("unknown head `{other}` (ridge or mlp)")),
    }
}

pub fn run(args: TrainArgs, msg: Messages) -> Result<i32> {
    let store = args.store.open_existing()?;
    let mut fingerprints = Vec::new();
    for kind in ModelKind::ALL {
        match store.fingerprint(kind)? {
            Some(fp) => fingerprints.push(fp),
            None => bail!("the store holds no {kind} embeddings; `artlens index DIR` with both backbones first"),
        }
    }
    let set = head::paired_training_set(&store)?;
    if set.skipped > 0 {
        msg.info(format!(
            "{} rated works lack an embedding of one backbone and are left out (run `artlens index`)",
            set.skipped
        ));
    }
    msg.info(format!(
        "training {} heads on {} ratings ({} folds, {} bootstrap resamples)",
        args.head.name(),
        set.y.len(),
        args.folds,
        args.bootstrap
    ));
    let report = head::compare_backbones(
        &set.x_dino,
        &set.x_dinov2,
        &set.y,
        args.head,
        args.folds as usize,
        args.seed,
        args.bootstrap as usize,
    )?;
    for (kind, x, fp) in [
        (ModelKind::Dino, &set.x_dino, &fingerprints[0]),
        (ModelKind::Dinov2, &set.x_dinov2, &fingerprints[1]),
    ] {
        let fitted = head::fit(x, &set.y, args.head, args.seed)?;
        head::save_head(&store, kind, &fitted, fp)?;
    }
    head::save_report(&store, &report)?;
    store.flush()?;

    if args.json {
        out_line(&serde_json::to_string(&report)?);
        return Ok(0);
    }
    out_line(&format!(
        "{} head, {} ratings, {}-fold cross-validation (seed {})",
        report.kind.name(),
        report.n_ratings,
        report.folds,
        report.seed
    ));
    out_line(&format!("{:<22}{:>10}{:>10}", "", "DINO", "DINOv2"));
    type Column = (&'static str, fn(&head::Metrics) -> f64);
    let rows: [Column; 4] = [
        ("Spearman", |m| m.spearman),
        ("Pearson", |m| m.pearson),
        ("MAE", |m| m.mae),
        ("pairwise accuracy", |m| m.pairwise_accuracy),
    ];
    for (name, f) in rows {
        out_line(&format!(
            "{name:<22}{:>10.3}{:>10.3}",
            f(&report.dino.pooled),
            f(&report.dinov2.pooled)
        ));
    }
    out_line("learning curve (Spearman):");
    for (a, b) in report
        .dino
        .learning_curve
        .iter()
        .zip(&report.dinov2.learning_curve)
    {
        out_line(&format!(
            "  {:>4.0}% of ratings (~{} per fold){:>10.3}{:>10.3}",
            a.fraction * 100.0,
            a.n_train,
            a.metrics.spearman,
            b.metrics.spearman
        ));
    }
    for c in &report.comparisons {
        out_line(&format!(
            "DINOv2 − DINO {:<18} {:+.3}  (95% CI {:+.3} … {:+.3})",
            c.metric.label(),
            c.diff,
            c.ci_low,
            c.ci_high
        ));
    }
    out_line(&format!("verdict: {}", report.verdict));
    Ok(0)
}

//! `artlens compare`: the side-by-side report of the two backbones on this
//! collection — label metrics, the taste heads' cross-validated metrics,
//! neighbour agreement, the learning curve, and one verdict line.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;

use artlens::explain;
use artlens::head;
use artlens::model::ModelKind;
use artlens::report::{self, CompareModel, CompareView, CurvePoint};

use super::store_args::StoreArgs;
use super::{out_line, Messages};

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// The metadata key whose agreement among neighbours is measured.
    #[arg(long, default_value = "style")]
    label: String,
    /// Neighbours for the label metrics and the agreement.
    #[arg(short, long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    k: u32,
    #[arg(long)]
    json: bool,
    /// Write a self-contained HTML report to FILE.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    #[command(flatten)]
    store: StoreArgs,
}

pub fn run(args: CompareArgs, msg: Messages) -> Result<i32> {
    let store = args.store.open_existing()?;
    let label = args.label.to_ascii_lowercase();
    let dino = store.embeddings(ModelKind::Dino)?;
    let dinov2 = store.embeddings(ModelKind::Dinov2)?;
    if dino.is_empty() || dinov2.is_empty() {
        bail!("compare needs both backbones' embeddings; run `artlens index DIR` (with --models both)");
    }
    // The same works in both spaces, in one order.
    let v2: HashMap<&str, &[f32]> = dinov2
        .iter()
        .map(|(_, h, v)| (h.as_str(), v.as_slice()))
        .collect();
    let mut va = Vec::new();
    let mut vb = Vec::new();
    let mut labels: Vec<Option<String>> = Vec::new();
    for (_, hash, v) in &dino {
        if let Some(w) = v2.get(hash.as_str()) {
            va.push(v.as_slice());
            vb.push(*w);
            let art = store
                .artwork(hash)?
                .with_context(|| format!("embedding {hash} has no artwork"))?;
            labels.push(
                art.metadata
                    .get(&label)
                    .cloned()
                    .filter(|s| !s.trim().is_empty()),
            );
        }
    }
    let k = args.k as usize;
    let labelled = labels.iter().filter(|l| l.is_some()).count();
    let mut models = BTreeMap::new();
    for (kind, vectors) in [(ModelKind::Dino, &va), (ModelKind::Dinov2, &vb)] {
        let m = if labelled >= 2 {
            CompareModel::from_label_metrics(&explain::label_metrics(vectors, &labels, k)?)
        } else {
            CompareModel {
                loo_accuracy: None,
                precision_at_k: None,
                chance: None,
                precision_chance: None,
                n: labelled,
                cv: BTreeMap::new(),
            }
        };
        models.insert(kind.name().to_string(), m);
    }
    if labelled < 2 {
        msg.info(format!(
            "fewer than two works have a `{label}` in their metadata: no label metrics (index with --metadata, or the WikiArt folder layout)"
        ));
    }
    let agreement = explain::neighbour_agreement(&va, &vb, k)?;

    let mut learning_curve = BTreeMap::new();
    let mut train_json = None;
    let verdict = match head::load_report(&store) {
        Ok(r) => {
            for (kind, b) in [(ModelKind::Dino, &r.dino), (ModelKind::Dinov2, &r.dinov2)] {
                if let Some(m) = models.get_mut(kind.name()) {
                    m.cv = BTreeMap::from([
                        ("spearman".to_string(), b.pooled.spearman),
                        ("pearson".to_string(), b.pooled.pearson),
                        ("mae".to_string(), b.pooled.mae),
                        ("pairwise_accuracy".to_string(), b.pooled.pairwise_accuracy),
                    ]);
                }
                learning_curve.insert(
                    kind.name().to_string(),
                    b.learning_curve
                        .iter()
                        .map(|p| CurvePoint {
                            fraction: p.fraction,
                            n_train: p.n_train,
                            spearman: p.metrics.spearman,
                        })
                        .collect(),
                );
            }
            train_json = Some(serde_json::to_value(&r)?);
            r.verdict.clone()
        }
        Err(artlens::Error::NotFound(_)) => {
            msg.info("no trained heads yet: `artlens rate import CSV` and `artlens train` add the taste metrics and the verdict");
            "No verdict on taste yet: rate some works and run `artlens train`.".to_string()
        }
        Err(e) => return Err(e.into()),
    };
    let view = CompareView {
        label: if labelled >= 2 {
            label.clone()
        } else {
            String::new()
        },
        models,
        neighbour_agreement: agreement,
        neighbour_agreement_chance: explain::neighbour_agreement_chance(va.len(), k),
        k,
        learning_curve,
        verdict,
        train_report_json: train_json,
    };
    if let Some(path) = &args.html {
        std::fs::write(path, report::render_compare_html(&view))
            .with_context(|| format!("{}", path.display()))?;
        msg.info(format!("wrote {}", path.display()));
    }
    if args.json {
        out_line(&serde_json::to_string(&view)?);
        return Ok(0);
    }
    out_line(&format!(
        "{} works in both spaces; label `{label}` on {labelled}; k = {k}",
        va.len()
    ));
    out_line(&format!("{:<30}{:>10}{:>10}", "", "DINO", "DINOv2"));
    let fmt = |v: Option<f64>| v.map(|x| format!("{x:.3}")).unwrap_or_else(|| "-".into());
    let (a, b) = (&view.models["dino"], &view.models["dinov2"]);
    out_line(&format!(
        "{:<30}{:>10}{:>10}",
        format!("LOO {k}-NN {label} accuracy"),
        fmt(a.loo_accuracy),
        fmt(b.loo_accuracy)
    ));
    out_line(&format!(
        "{:<30}{:>10}{:>10}",
        "  (chance)",
        fmt(a.chance),
        fmt(b.chance)
    ));
    out_line(&format!(
        "{:<30}{:>10}{:>10}",
        format!("{label} precision@{k}"),
        fmt(a.precision_at_k),
        fmt(b.precision_at_k)
    ));
    for key in ["spearman", "pearson", "mae", "pairwise_accuracy"] {
        if a.cv.contains_key(key) {
            out_line(&format!(
                "{:<30}{:>10}{:>10}",
                format!("taste head {key} (CV)"),
                fmt(a.cv.get(key).copied()),
                fmt(b.cv.get(key).copied())
            ));
        }
    }
    out_line(&format!(
        "neighbour agreement@{k}: {:.3} (unrelated spaces: {:.3})",
        view.neighbour_agreement, view.neighbour_agreement_chance
    ));
    out_line(&format!("verdict: {}", view.verdict));
    Ok(0)
}

//! The data ladder: the backbones ordered by the size of their pretraining
//! data, each with the taste head's cross-validated Spearman and its
//! corrected 95% interval, and the headline figure: the seed's question
//! ("does more pretraining data understand a taste better?") as one list.

use serde::{Deserialize, Serialize};

use super::TrainingFigures;
use crate::head::corrected_fold_interval;
use crate::model::registry::BackboneId;

/// One backbone on the data ladder: its pretraining data and the taste
/// head's cross-validated Spearman with an interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LadderPoint {
    /// The backbone's id (`dinov2`, `dinov2@224`).
    pub id: String,
    /// What pages call it (`DINOv2 ViT-B/14`).
    pub display_name: String,
    /// `dino`, `dinov2`, ...; empty for an unlisted checkpoint.
    pub family: String,
    /// The data set it was pretrained on (`LVD-142M`); empty when unknown.
    pub pretraining_data: String,
    /// 0 when unknown (an unlisted checkpoint without a known tag).
    pub pretraining_images: u64,
    /// Parameters of the image model, classifier head excluded.
    pub params: u64,
    /// Mean held-out Spearman over the R×K folds of the last training.
    pub spearman: Option<f64>,
    /// The 95% interval of that mean with Nadeau & Bengio's corrected
    /// variance for repeated K-fold, `(1/J + 1/(K − 1)) · s²` over the J
    /// fold values (Bouckaert & Frank 2004), and Student's t with J − 1
    /// degrees of freedom.
    pub ci_low: Option<f64>,
    /// The upper end of that interval; `None` with `spearman`.
    pub ci_high: Option<f64>,
    /// Fold values the interval is made of (R·K).
    pub folds: usize,
    /// The headline figure ([`crate::head::BackboneReport::headline`]), 0–1,
    /// with its 95% confidence sequence: what the chart plots. `None` until
    /// the training has an answer (enough ratings).
    #[serde(default)]
    pub headline: Option<f64>,
    /// The lower end of the headline's confidence sequence.
    #[serde(default)]
    pub headline_low: Option<f64>,
    /// The upper end of the headline's confidence sequence.
    #[serde(default)]
    pub headline_high: Option<f64>,
}

/// One ladder point per backbone, in the order given (the caller sorts them
/// along the ladder, [`BackboneId::ladder_key`]), with the figures of the
/// saved training where it covered the backbone.
pub fn ladder(backbones: &[BackboneId], figures: &TrainingFigures) -> Vec<LadderPoint> {
    backbones
        .iter()
        .map(|id| {
            let spec = id.spec();
            let name = id.name();
            let interval = figures
                .fold_spearman
                .get(&name)
                .map(|(values, k)| corrected_fold_interval(values, *k))
                .unwrap_or_default();
            let headline = figures.headlines.get(&name);
            LadderPoint {
                display_name: id.display_name(),
                family: spec
                    .family
                    .map(|f| format!("{f:?}").to_ascii_lowercase())
                    .unwrap_or_default(),
                pretraining_data: spec
                    .pretraining
                    .map(|p| p.name.to_string())
                    .unwrap_or_default(),
                pretraining_images: spec.pretraining_images(),
                params: spec.params,
                spearman: interval.mean,
                ci_low: interval.low,
                ci_high: interval.high,
                folds: interval.n,
                headline: headline.map(|h| h.0),
                headline_low: headline.map(|h| h.1),
                headline_high: headline.map(|h| h.2),
                id: name,
            }
        })
        .collect()
}

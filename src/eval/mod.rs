//! Evaluating backbones side by side: what `compare` reports. On the works
//! every backbone holds, the label metrics (leave-one-out k-NN accuracy and
//! precision@k against chance) and the neighbour agreement of each pair
//! (`compare.rs`); from the saved training, each backbone's cross-validated
//! figures, learning curve, paired comparisons and the verdict in words
//! (`compare.rs`); and the data ladder, the backbones ordered by their
//! pretraining data with the taste head's Spearman and its corrected
//! interval (`ladder.rs`).
//!
//! Pure functions over embeddings and saved reports: this module never
//! opens a store or runs a model (`app::Collection::compare` does, and
//! calls it). The measurement types it returns are plain serde data that
//! the compare view ([`crate::app::CompareView`]) holds as they are, the
//! way a score view holds [`crate::explain::Reference`]s. The statistics:
//! [STATISTICS.md](../../docs/STATISTICS.md).

mod compare;
mod ladder;
pub mod words;

pub use compare::{
    agreements, CompareModel, CurvePoint, PairAgreement, PairComparison, TrainingFigures,
};
pub(crate) use compare::{
    label_columns, training_figures, DEFAULT_COMPARE_LABEL, NO_TRAINING_NOTE,
};
pub use ladder::{ladder, LadderPoint};

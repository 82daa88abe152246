//! Self-contained HTML reports: the score report (each query image with
//! every backbone's score, the rated works that made it and its references
//! side by side, with the patch maps of the top reference), the explain page
//! (heat maps of where a query and a reference look alike) and the compare
//! report (label metrics, paired comparisons, neighbourhood agreement and
//! the learning curves of the backbones), for any number of backbones.
//!
//! The details are in `docs/DESIGN.md`, section "The HTML reports".

mod chart;
mod columns;
mod document;
mod map;
mod maps;
mod pages;
mod score;
mod text;
mod thumbs;
mod words;

pub use map::{map_panels, render_map_html, MAP_CSS};
pub use pages::{cv_label, render_compare_html, render_explain_html, render_score_html};
pub use score::{
    contribution_words, model_score_html, your_rating_words, ContributionWords, ServedPictures,
    WorkPictures, MODEL_SCORE_CSS,
};
pub use thumbs::thumbnail_data_uri;
pub use words::{render_taste_words_html, taste_words_panel};
// The views a page is drawn from live in the application layer
// ([`crate::app::views`]); they are named here too so that a caller
// rendering a report finds them beside the renderer.
pub use crate::app::views::{
    BackboneLabel, CompareModel, CompareView, CurvePoint, ExplainImage, ExplainModel, ExplainView,
    LadderPoint, ModelScore, PairAgreement, PairComparison, PairMaps, Provenance, ScoreView,
    ScoredImage,
};

#[cfg(test)]
mod tests;

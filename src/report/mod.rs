//! Self-contained HTML reports: the score report (each query image with
//! every backbone's score, the rated works that made it and its references
//! side by side, with the patch maps of the top reference), the explain page
//! (heat maps of where a query and a reference look alike) and the compare
//! report (label metrics, paired comparisons, neighbourhood agreement and
//! the learning curves of the backbones), for any number of backbones.
//!
//! A report is one HTML file that needs nothing else: styles are inline,
//! each picture is a JPEG thumbnail embedded once as a `data:` URI however
//! often it recurs ([`thumbnail_data_uri`]; the scheme is described in
//! `thumbs.rs`), the chart is inline SVG, and a Content-Security-Policy
//! forbids the page to fetch anything or run scripts, so it can be mailed,
//! archived or opened offline and never calls out. The pages are written
//! with the [`maud`] template macro, which HTML-escapes every value spliced
//! in, so user data (paths, metadata, labels, error messages, the verdict)
//! shows as text and never as markup. Each page says how it was made (the
//! [`Provenance`]: backbones, head, store, time, version).
//!
//! This module is a renderer and owns no types: the views it draws
//! ([`ScoreView`], [`CompareView`], [`ExplainView`]) are the application
//! layer's ([`crate::app::views`]), the same structures the binary prints
//! with `--json`, so the page and the JSON cannot disagree.
//!
//! Layout: `thumbs` (the once-per-report registry of `data:` thumbnails,
//! made by [`crate::imaging::thumbnail_jpeg_sized`]), `pages` (the pages),
//! `columns` (a backbone as a column and its colour, shared by the pages and
//! the charts), `score` (one backbone's score of one image, the partial the
//! report and the web app share, and the sentences that explain it), `maps`
//! (heat maps over thumbnails), `chart` (the learning-curve and ladder
//! SVG), `text` (number and date formatting).

mod chart;
mod columns;
mod maps;
mod pages;
mod score;
mod text;
mod thumbs;
mod words;

pub use pages::{cv_label, render_compare_html, render_explain_html, render_score_html};
pub use score::{
    contribution_words, model_score_html, your_rating_words, ContributionWords, ServedPictures,
    WorkPictures, MODEL_SCORE_CSS,
};
pub use thumbs::thumbnail_data_uri;
pub use words::{render_taste_words_html, taste_words_panel, TASTE_WORDS_CSS};
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

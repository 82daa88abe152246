//! Every view the application layer returns, one file per command: plain
//! data with serde derives, numbers and strings only, so that a view does
//! not depend on how the head or the index computed it. The CLI prints a
//! view as text or `--json`, the web server answers the same JSON, and
//! [`crate::report`] draws the HTML pages from the same structures, so the
//! page, the JSON and the text cannot disagree.

mod answer;
mod compare;
mod dups;
mod explain;
mod export;
mod gallery;
mod map;
mod models;
mod provenance;
mod ratings;
mod score;
mod search;
mod show;
mod similar;
mod status;
mod suggest;
mod train;
mod words;

pub use answer::{AnswerBackbone, AnswerView, RatingScale};
pub use compare::{
    CompareModel, CompareView, CurvePoint, LadderPoint, PairAgreement, PairComparison,
};
pub use dups::{CopyChange, DupGroup, DupMember, DupsView};
pub use explain::{ExplainImage, ExplainModel, ExplainView};
pub use export::{
    ExportFormat, ExportManifest, ExportRequest, ExportStamp, ExportView, ExportedEmbeddings,
    ParquetExportView, ParquetManifest,
};
pub use gallery::{Facet, FacetValue, GalleryItem, GalleryView, RangeFacet, SortOption};
pub use map::{MapPanel, MapPoint, MapView, MapWork};
pub use models::ModelEntry;
pub use provenance::{BackboneLabel, Provenance};
pub use ratings::{PreferenceView, RatingChange, RatingView};
pub use score::{ModelScore, PairMaps, ScoreView, ScoredImage};
pub use search::{SearchHit, SearchTerm, SearchView, SkippedBackbone};
pub use show::{WorkSummary, WorkView};
pub use similar::{Hit, QueryView, SimilarView};
pub use status::{RaterStatus, StatusBackbone, StatusView};
pub use suggest::{Goal, SuggestView, Suggestion};
pub use train::TrainOutcome;
pub use words::{PhraseFinding, TasteWords, TasteWordsColumn, TasteWordsView, VocabularyReport};

/// A work a query found, as a column of results shows it. The hits of
/// `similar` and of `search` are both one, so that the command line's
/// columns and the web page's are each drawn by one renderer.
pub trait FoundWork {
    /// The work's id in the store.
    fn id(&self) -> u64;
    /// Its similarity to the query, from −1 to 1.
    fn similarity(&self) -> f32;
    /// Its title, else its first stored file's name, else nothing.
    fn title(&self) -> String;
}

/// A work's title from its metadata, else the file name of `path`.
fn title_or_file_name(metadata: &crate::scan::Metadata, path: Option<&str>) -> String {
    metadata
        .get("title")
        .cloned()
        .or_else(|| {
            path.map(|p| {
                std::path::Path::new(p)
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_else(|| p.to_string())
            })
        })
        .unwrap_or_default()
}

// The two hits carry the same fields under the same names.
macro_rules! found_work {
    ($($hit:ty),*) => {$(
        impl FoundWork for $hit {
            fn id(&self) -> u64 {
                self.id
            }
            fn similarity(&self) -> f32 {
                self.similarity
            }
            fn title(&self) -> String {
                title_or_file_name(&self.metadata, self.path.as_deref())
            }
        }
    )*};
}
found_work!(Hit, SearchHit);

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

//! The application layer: one [`Collection`] that every front end (the CLI,
//! the web server) calls, with typed requests in and serde views out.
//!
//! The details are in `docs/ARCHITECTURE.md`, section "More on the application layer".

mod answer;
mod browse;
mod compare;
mod dups;
mod explain;
mod export_files;
mod gallery;
mod image;
mod index;
mod map;
mod merge;
mod models;
#[cfg(feature = "parquet")]
mod parquet;
mod query;
mod ratings;
mod restore;
mod score;
mod search;
mod suggest;
mod text_tower;
mod thumbs;
mod train;
pub mod views;
mod words;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub use crate::pipeline::Event;
pub use answer::FIRST_ANSWER_AT;
pub use compare::CompareRequest;
pub use dups::DupsRequest;
pub use explain::ExplainRequest;
pub use gallery::{fold, work_title, GalleryRequest, GallerySort, MAX_FACET_VALUES};
pub use image::ImageRef;
pub use index::IndexRequest;
pub use map::{MapRequest, MAP_TRUST_K, MAX_COLOUR_VALUES};
pub use merge::{merge, MergeRequest};
pub use models::models;
#[cfg(feature = "parquet")]
pub use parquet::{ParquetRequest, DEFAULT_ROW_GROUP_ROWS};
pub use query::{ListRequest, ListSort, SimilarRequest};
pub use score::ScoreRequest;
pub use search::SearchRequest;
pub use suggest::{verdict_order, SuggestRequest};
pub use thumbs::{Thumbnail, RENDITION_SIZES, THUMB_SIZES};
pub use train::TrainRequest;
pub use views::{
    AnswerBackbone, AnswerView, BackboneLabel, CompareModel, CompareView, CopyChange, CurvePoint,
    DupGroup, DupMember, DupsView, ExplainImage, ExplainModel, ExplainView, ExportFormat,
    ExportManifest, ExportRequest, ExportStamp, ExportView, ExportedEmbeddings, Facet, FacetValue,
    GalleryItem, GalleryView, Goal, Hit, LadderPoint, MapPanel, MapPoint, MapView, MapWork,
    ModelEntry, ModelScore, PairAgreement, PairComparison, PairMaps, ParquetExportView,
    ParquetManifest, PhraseFinding, PreferenceView, Provenance, QueryView, RangeFacet, RaterStatus,
    RatingChange, RatingScale, RatingView, ScoreView, ScoredImage, SearchHit, SearchTerm,
    SearchView, SimilarView, SkippedBackbone, SortOption, StatusBackbone, StatusView, SuggestView,
    Suggestion, TasteWords, TasteWordsColumn, TasteWordsView, TrainOutcome, VocabularyReport,
    WorkSummary, WorkView,
};
pub use words::TasteWordsRequest;

use crate::ann::AnnIndex;
use crate::error::{Error, Result};
use crate::model::registry::{BackboneId, BackboneSpec};
use crate::model::{
    parse_device, Backbone, BackboneOptions, CheckpointFiles, Precision, WeightsSource,
};
use crate::store::{Artwork, Migration, Store};

/// Where backbones' weights come from and where they run.
#[derive(Debug, Clone, Default)]
pub struct WeightsConfig {
    /// Checkpoint folders given by the user, per checkpoint (hub id): one
    /// folder serves every resolution of its checkpoint.
    pub dirs: BTreeMap<String, PathBuf>,
    /// Checkpoints whose folder was named explicitly (`--weights ID=DIR`),
    /// as opposed to through an environment variable: only those are an
    /// error when the command does not use them.
    pub explicit: Vec<String>,
    /// Never touch the network.
    pub offline: bool,
    /// `cpu`, `cuda` or `cuda:N`; empty means cpu.
    pub device: String,
    /// The forward pass's arithmetic (bf16 on CUDA only).
    pub precision: Precision,
}

impl WeightsConfig {
    /// Adds `dir` as the checkpoint folder of `id`'s checkpoint.
    pub fn set_dir(&mut self, id: &BackboneId, dir: PathBuf, explicit: bool) {
        let hub = id.spec().hub_id.to_string();
        if explicit && !self.explicit.contains(&hub) {
            self.explicit.push(hub.clone());
        }
        self.dirs.insert(hub, dir);
    }

    /// The folder given for `id`'s checkpoint, if any.
    pub fn dir(&self, id: &BackboneId) -> Option<&Path> {
        self.dirs
            .get(id.spec().hub_id.as_ref())
            .map(PathBuf::as_path)
    }

    /// [`Error::UnusedWeights`] when a folder was named explicitly for a
    /// checkpoint none of `using` runs: a typo or a forgotten backbone.
    pub fn check_used(&self, using: &[BackboneId]) -> Result<()> {
        for hub in &self.explicit {
            if !using.iter().any(|b| b.spec().hub_id == hub.as_str()) {
                let name = BackboneSpec::find(hub)
                    .map(|s| s.alias.to_string())
                    .unwrap_or_else(|| hub.clone());
                return Err(Error::UnusedWeights {
                    backbone: name,
                    using: using
                        .iter()
                        .map(BackboneId::name)
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
        Ok(())
    }

    fn options(&self) -> Result<BackboneOptions> {
        let device = if self.device.trim().is_empty() {
            "cpu"
        } else {
            &self.device
        };
        Ok(BackboneOptions {
            device: parse_device(device)?,
            precision: self.precision,
        })
    }
}

/// Loads a backbone without a store: the folder given, else the hub cache
/// or a download. For `embed` and `bench`.
pub fn load_backbone(
    id: &BackboneId,
    weights: &WeightsConfig,
) -> Result<(Backbone, CheckpointFiles)> {
    let opts = weights.options()?;
    let source = match weights.dir(id) {
        Some(d) => WeightsSource::Dir(d.to_path_buf()),
        None => WeightsSource::Hub {
            offline: weights.offline,
        },
    };
    crate::model::load_backbone(id, &source, &opts)
}

/// An open collection: the store and what is loaded from it.
pub struct Collection {
    store: Store,
    weights: WeightsConfig,
    backbones: Mutex<HashMap<BackboneId, Arc<Backbone>>>,
    /// Text towers loaded so far (`text_tower.rs`), kept like the backbones.
    text_towers: Mutex<HashMap<BackboneId, Arc<crate::model::text::TextTower>>>,
    /// Read-only ANN indexes, with the store state they were loaded for.
    anns: Mutex<HashMap<BackboneId, (String, Arc<AnnIndex>)>>,
    /// Bumped by every write made through this collection. sled lets one
    /// process open a store, so while this collection is open nothing else
    /// writes it, and a value computed at one revision stays true until the
    /// next: the key of [`Collection::memo`].
    revision: AtomicU64,
    /// Views of the whole collection (the listing, head predictions, the
    /// suggestion order) kept for the revision they were made at, so that a
    /// long-running front end (the web app) pages through 10,000 works
    /// without reading them all from sled for every page.
    memo: Mutex<HashMap<String, Memo>>,
}

/// A memoised value and the revision it was made at.
type Memo = (u64, Arc<dyn std::any::Any + Send + Sync>);

impl std::fmt::Debug for Collection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collection")
            .field("store", &self.store.path())
            .finish_non_exhaustive()
    }
}

impl Collection {
    /// Opens the store in `dir`, which must exist ([`Error::NoStore`]).
    pub fn open(dir: &Path, weights: WeightsConfig) -> Result<Collection> {
        Ok(Collection::from_store(Store::open_existing(dir)?, weights))
    }

    /// Opens the store in `dir`, creating it when there is none (for
    /// `index`).
    pub fn create(dir: &Path, weights: WeightsConfig) -> Result<Collection> {
        Ok(Collection::from_store(Store::open(dir)?, weights))
    }

    fn from_store(store: Store, weights: WeightsConfig) -> Collection {
        Collection {
            store,
            weights,
            backbones: Mutex::new(HashMap::new()),
            text_towers: Mutex::new(HashMap::new()),
            anns: Mutex::new(HashMap::new()),
            revision: AtomicU64::new(0),
            memo: Mutex::new(HashMap::new()),
        }
    }

    /// Marks that the store changed: memoised views are made again. Called
    /// after a write, never before: a view made while the write was under
    /// way is then stored under the older revision and made again.
    pub(crate) fn touch(&self) {
        self.revision.fetch_add(1, Ordering::SeqCst);
    }

    /// Runs a write, then [`Collection::touch`]es, whether it succeeded or
    /// not (a failed multi-record write may still have changed something).
    pub(crate) fn wrote<T>(&self, write: impl FnOnce() -> T) -> T {
        let r = write();
        self.touch();
        r
    }

    /// The number of writes made through this collection so far: equal
    /// revisions mean equal contents.
    pub(crate) fn revision(&self) -> u64 {
        self.revision.load(Ordering::SeqCst)
    }

    /// `make()`'s value for `key` at the current revision: remembered, or
    /// made and remembered. A write racing with `make` bumps the revision
    /// after `make` read the store, so the value is stored under the older
    /// revision and made again on the next call.
    pub(crate) fn memo<T: std::any::Any + Send + Sync>(
        &self,
        key: &str,
        make: impl FnOnce() -> Result<T>,
    ) -> Result<Arc<T>> {
        let rev = self.revision();
        if let Some((r, v)) = self.memo.lock().unwrap_or_else(|p| p.into_inner()).get(key) {
            if *r == rev {
                if let Ok(v) = v.clone().downcast::<T>() {
                    return Ok(v);
                }
            }
        }
        let value = Arc::new(make()?);
        self.memo
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_string(), (rev, value.clone()));
        Ok(value)
    }

    /// The store underneath, for the commands that work on the store
    /// itself (`doctor`, `merge`) and for tests. Front ends that serve
    /// requests go through the methods of [`Collection`] only.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The store's folder.
    pub fn store_dir(&self) -> &Path {
        self.store.path()
    }

    /// Writes everything buffered to disk.
    pub fn flush(&self) -> Result<()> {
        self.store.flush()
    }

    /// The backbones the store holds embeddings of.
    pub fn stored_backbones(&self) -> Result<Vec<BackboneId>> {
        self.store.backbones()
    }

    /// Records, beside the store, that this process serves it at `url`, so
    /// that other commands talk to the server instead of opening the store
    /// ([`crate::store::write_served_by`]).
    pub fn announce_server(&self, url: &str) -> Result<()> {
        crate::store::write_served_by(self.store.path(), url)
    }

    /// Takes back [`Collection::announce_server`] (on a clean stop).
    pub fn withdraw_server(&self) {
        crate::store::remove_served_by(self.store.path())
    }

    /// The collection folders the store was indexed from.
    pub fn roots(&self) -> Vec<crate::store::Root> {
        self.store.roots()
    }

    /// What opening did to a store of an older format.
    pub fn migration(&self) -> Option<&Migration> {
        self.store.migration()
    }

    /// Finds the work a person named (`crate::works::resolve_work`).
    pub fn resolve(&self, name: &str) -> Result<Artwork> {
        crate::works::resolve_work(&self.store, name)
    }

    /// Each backbone's embeddings by content hash, in the order given: the
    /// spaces `compare`, `suggest` and the pairwise training look works up
    /// in.
    pub(crate) fn spaces(
        &self,
        backbones: &[BackboneId],
    ) -> Result<Vec<HashMap<String, Vec<f32>>>> {
        backbones
            .iter()
            .map(|id| {
                Ok(self
                    .store
                    .embeddings(id)?
                    .into_iter()
                    .map(|(_, h, v)| (h, v))
                    .collect())
            })
            .collect()
    }

    /// The backbones to work with: `wanted` when given (each must be in the
    /// store, [`Error::NotIndexed`] otherwise), else every backbone the
    /// store holds (none is [`Error::NothingIndexed`]).
    pub(crate) fn select_backbones(
        &self,
        wanted: Option<&[BackboneId]>,
    ) -> Result<Vec<BackboneId>> {
        let stored = self.store.backbones()?;
        match wanted {
            Some(w) if !w.is_empty() => {
                for b in w {
                    if !stored.contains(b) {
                        return Err(Error::NotIndexed {
                            store: self.store.path().to_path_buf(),
                            backbone: b.name(),
                        });
                    }
                }
                Ok(w.to_vec())
            }
            _ if stored.is_empty() => Err(Error::NothingIndexed {
                store: self.store.path().to_path_buf(),
            }),
            _ => Ok(stored),
        }
    }

    /// `id`'s model, loaded once: from the folder given for its checkpoint,
    /// else where the store found it last, else the hub cache (or a
    /// download unless offline). When the store holds embeddings of `id`,
    /// the loaded model must make the same embeddings
    /// ([`Error::FingerprintMismatch`] otherwise).
    pub fn backbone(&self, id: &BackboneId) -> Result<Arc<Backbone>> {
        if let Some(b) = self.lock_backbones().get(id) {
            return Ok(b.clone());
        }
        let (backbone, files) = self.load_backbone_files(id)?;
        if let Some(stored) = self.store.fingerprint(id)? {
            let diffs = backbone.fingerprint().model_differences(&stored);
            if !diffs.is_empty() {
                return Err(Error::FingerprintMismatch {
                    path: self.store.path().to_path_buf(),
                    model: id.name(),
                    differences: format!(
                        "{}; the weights found at {} are not the ones the store was built with",
                        diffs.join(", "),
                        files.dir().display()
                    ),
                });
            }
        }
        let b = Arc::new(backbone);
        self.lock_backbones().insert(id.clone(), b.clone());
        Ok(b)
    }

    /// Loads `id` for indexing, without checking it against the store (the
    /// caller records or checks its fingerprint), and keeps it.
    pub(crate) fn load_for_index(
        &self,
        id: &BackboneId,
    ) -> Result<(Arc<Backbone>, CheckpointFiles)> {
        let (backbone, files) = self.load_backbone_files(id)?;
        let b = Arc::new(backbone);
        self.lock_backbones().insert(id.clone(), b.clone());
        Ok((b, files))
    }

    fn load_backbone_files(&self, id: &BackboneId) -> Result<(Backbone, CheckpointFiles)> {
        let opts = self.weights.options()?;
        if let Some(dir) = self.weights.dir(id) {
            let files = crate::model::resolve(id, &WeightsSource::Dir(dir.to_path_buf()))?;
            let b = Backbone::load(id, &files, &opts)?;
            return Ok((b, files));
        }
        // Where the store found this checkpoint last, at any resolution.
        let mut remembered = vec![self.store.weights_location(id)?];
        for other in self.store.backbones()? {
            if other.spec().hub_id == id.spec().hub_id && &other != id {
                remembered.push(self.store.weights_location(&other)?);
            }
        }
        for files in remembered.into_iter().flatten() {
            if files.weights.is_file() && files.config.is_file() {
                let b = Backbone::load(id, &files, &opts)?;
                return Ok((b, files));
            }
        }
        let files = crate::model::resolve(
            id,
            &WeightsSource::Hub {
                offline: self.weights.offline,
            },
        )?;
        let b = Backbone::load(id, &files, &opts)?;
        Ok((b, files))
    }

    fn lock_backbones(&self) -> std::sync::MutexGuard<'_, HashMap<BackboneId, Arc<Backbone>>> {
        self.backbones.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `id`'s nearest-neighbour index for the store as it is now: kept in
    /// memory between calls, reloaded when the store's vectors changed.
    /// Never writes the ANN files.
    pub fn ann(&self, id: &BackboneId, on_event: &mut dyn FnMut(Event)) -> Result<Arc<AnnIndex>> {
        let state = self.ann_state(id)?;
        let mut anns = self.anns.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((s, index)) = anns.get(id) {
            if *s == state {
                return Ok(index.clone());
            }
        }
        let index = Arc::new(crate::pipeline::load_ann_index(&self.store, id, on_event)?);
        anns.insert(id.clone(), (state, index.clone()));
        Ok(index)
    }

    /// Brings `id`'s saved ANN index up to date (extending or rebuilding
    /// it) and keeps it loaded: the update path, for writers.
    pub fn update_ann(&self, id: &BackboneId, on_event: &mut dyn FnMut(Event)) -> Result<()> {
        let state = self.ann_state(id)?;
        let index = Arc::new(crate::pipeline::sync_ann_index(&self.store, id, on_event)?);
        self.anns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), (state, index));
        Ok(())
    }

    /// A cheap digest of what `id`'s index must hold: its embedding count
    /// and fingerprint (ids are never reused, so a count change is every
    /// change an index can see, except a rebuild, which the fingerprint
    /// catches).
    fn ann_state(&self, id: &BackboneId) -> Result<String> {
        // Counting embeddings scans their records; between two writes
        // through this collection the answer cannot change.
        let state = self.memo(&format!("ann_state:{}", id.name()), || {
            self.ann_state_now(id)
        })?;
        Ok(state.as_ref().clone())
    }

    fn ann_state_now(&self, id: &BackboneId) -> Result<String> {
        let n = self
            .store
            .counts()?
            .embeddings
            .get(&id.name())
            .copied()
            .unwrap_or(0);
        let fp = serde_json::to_string(&self.store.fingerprint(id)?).unwrap_or_default();
        Ok(format!("{n}:{}", blake3::hash(fp.as_bytes()).to_hex()))
    }

    /// What a view says about where it came from.
    pub fn provenance(&self, backbones: &[BackboneId], head_kind: Option<String>) -> Provenance {
        Provenance {
            artlens_version: env!("CARGO_PKG_VERSION").to_string(),
            generated_at: crate::store::now_secs(),
            store: self.store.path().display().to_string(),
            head_kind,
            backbones: backbones.iter().map(backbone_label).collect(),
        }
    }
}

/// How a view labels a backbone.
pub(crate) fn backbone_label(id: &BackboneId) -> BackboneLabel {
    BackboneLabel {
        id: id.name(),
        hub_id: id.spec().hub_id.to_string(),
        display_name: id.display_name(),
        description: id.description(),
        resolution: id.resolution(),
    }
}

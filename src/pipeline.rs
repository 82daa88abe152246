//! The index job: scan a collection, decode each new image once, embed it
//! with every backbone that lacks it, and record it in the store — then
//! bring each backbone's ANN index up to date.
//!
//! Decoding and preprocessing run on their own small rayon pool, a batch
//! ahead of the model (a bounded channel of depth one between them), so the
//! CPU kernels are rarely idle waiting for JPEGs. Every image is written in
//! one atomic store batch with all its embeddings, and the store is flushed
//! after every model batch: a kill at any moment loses at most the batch in
//! flight, and the next run redoes exactly what is missing.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;
use std::time::Instant;

use rayon::prelude::*;

use crate::ann::{AnnIndex, IndexMeta};
use crate::error::{Error, Result};
use crate::imaging::{decode_file, decode_file_fast, DecodeLimits, DecodeMode, Preprocess};
use crate::limits;
use crate::model::{Backbone, BackboneId};
use crate::scan::{self, Metadata, ScanReport};
use crate::store::{NewArtwork, Store};

/// Options of an index run ([`crate::app::Collection::index`]).
#[derive(Debug, Clone)]
pub struct IndexOptions {
    /// Images per forward pass.
    pub batch_size: usize,
    /// Threads decoding and preprocessing (a separate pool from the model's).
    pub decode_threads: usize,
    /// Bounds on a file's size and an image's pixels; a file over them is
    /// reported as failed instead of decoded.
    pub limits: DecodeLimits,
    /// Forget stored paths that no longer exist, and artworks left with none.
    pub prune: bool,
    /// When not empty, only files whose real path (symlinks resolved) lies
    /// inside one of these canonical folders are indexed; any other is
    /// reported as failed. The server's `--allow-dir` rule.
    pub confine_to: Vec<PathBuf>,
    /// Try again the files that failed in an earlier run. Without it, a
    /// content (by hash) or an unreadable path that failed before is
    /// skipped and counted in [`IndexSummary::known_failures`], so that a
    /// scheduled re-index of a folder holding one bad file does not fail
    /// forever; only new failures make a run partial.
    pub retry_failed: bool,
    /// How JPEGs are decoded: every pixel as Pillow does (the default), or
    /// large ones at a reduced size first (`--decode fast`). The store's
    /// fingerprint records it, so the two never mix in one store.
    pub decode: DecodeMode,
}

impl Default for IndexOptions {
    fn default() -> Self {
        IndexOptions::on_gpu(false)
    }
}

impl IndexOptions {
    /// The defaults for a model on the CPU (`false`: decoding gets half the
    /// cores, the model's GEMMs want the rest) or on a GPU (`true`: decoding
    /// is all the CPU has to do, so it gets every core; at thousands of
    /// images a second it is what bounds an index run).
    pub fn on_gpu(gpu: bool) -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        IndexOptions {
            batch_size: 8,
            decode_threads: if gpu { cores } else { (cores / 2).max(1) },
            limits: DecodeLimits::default(),
            prune: false,
            confine_to: Vec::new(),
            retry_failed: false,
            decode: DecodeMode::Exact,
        }
    }

    /// Refuses a batch size or a number of decode threads outside
    /// [`limits::MAX_BATCH_SIZE`] and [`limits::MAX_THREADS`], naming the
    /// flag that sets it: every caller (the command line, the web app's
    /// index jobs) builds these options, and a thread pool of thousands is
    /// started before anything else could stop it.
    pub fn validate(&self) -> Result<()> {
        limits::check_count("--batch-size", self.batch_size, 1, limits::MAX_BATCH_SIZE)?;
        limits::check_count(
            "--decode-threads",
            self.decode_threads,
            1,
            limits::MAX_THREADS,
        )?;
        Ok(())
    }
}

/// What happens during an index run, for the caller to draw.
#[derive(Debug, Clone)]
pub enum Event {
    /// The scan is done: `images` files, of which `to_embed` distinct contents need embedding.
    Scanned {
        /// Image files found.
        images: usize,
        /// Distinct contents among them that some backbone has not embedded.
        to_embed: usize,
    },
    /// One file failed; the run goes on.
    Failed {
        /// The file (or folder) that failed.
        path: PathBuf,
        /// Why, as a sentence for the user.
        reason: String,
    },
    /// `done` of `total` images embedded (or failed) so far.
    Progress {
        /// Images handled so far, embedded or failed.
        done: usize,
        /// Images this run will handle.
        total: usize,
        /// Images among `done` that failed.
        failed: usize,
    },
    /// Something worth telling the user (index rebuilds, prunes).
    Note(String),
}

/// The outcome of an index run.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct IndexSummary {
    /// Image files found.
    pub files: usize,
    /// Distinct contents among them.
    pub distinct: usize,
    /// Contents embedded in this run (by at least one backbone).
    pub embedded: usize,
    /// Contents already complete in the store.
    pub already_stored: usize,
    /// New paths recorded for known contents (renamed, moved or duplicated files).
    pub new_paths: usize,
    /// Files or folders that failed in this run (new failures, or known
    /// ones tried again with [`IndexOptions::retry_failed`]).
    pub failed: usize,
    /// Files that failed in an earlier run and were skipped, not tried again.
    pub known_failures: usize,
    /// Stored paths that no longer exist.
    pub vanished: usize,
    /// Artworks removed by `prune`.
    pub pruned: usize,
    /// Wall-clock duration of the run, in seconds.
    pub seconds: f64,
    /// Embedded images per second (decode included).
    pub images_per_second: f64,
    /// The shard indexed (`index --shard I/N`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::shard::Shard>,
    /// Image files found that belong to other shards (not counted in `files`).
    pub other_shards: usize,
}

/// One content to embed.
struct Todo {
    hash: String,
    paths: Vec<String>,
    /// The same paths as the OS names them: every file access goes through
    /// these, the strings are only what the store records and shows.
    files: Vec<PathBuf>,
    size: u64,
    metadata: Metadata,
    /// Backbones (indices into the caller's slice) that lack this content.
    needs: Vec<usize>,
}

/// One decoded image (or why it failed): its todo index and its size.
type DecodedItem = (usize, std::result::Result<(u32, u32), String>);
/// An image's full (width, height) and its input tensor for each backbone.
type SizedInputs = ((u32, u32), Vec<Vec<f32>>);
/// A decoded image's size with its preprocessed pixels per backbone that
/// needs it, or why it failed.
type Prepared = std::result::Result<SizedInputs, String>;

/// A decoded batch on its way to the model.
struct Decoded {
    items: Vec<DecodedItem>,
    /// Per backbone: the todo indices it embeds and their pixels.
    pixels: Vec<(Vec<usize>, Vec<f32>)>,
}

/// Absolute form of a path, for the store (so queries from anywhere match).
pub fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    })
}

/// Indexes the collection `scan` found (with [`scan::scan_collection`]) into
/// `store` with `backbones`.
///
/// `metadata`: per content hash, from a CSV ([`scan::read_metadata_csv`]);
/// without it, the WikiArt folder/name layout is parsed. The caller has
/// checked each backbone's fingerprint against the store
/// ([`Store::ensure_fingerprint`]).
pub(crate) fn index_collection(
    store: &Store,
    scan: ScanReport,
    metadata: Option<&HashMap<String, Metadata>>,
    backbones: &[&Backbone],
    opts: &IndexOptions,
    on_event: &mut dyn FnMut(Event),
) -> Result<IndexSummary> {
    let start = Instant::now();
    let ScanReport {
        files, failures, ..
    } = scan;
    let mut summary = IndexSummary {
        files: files.len(),
        ..Default::default()
    };
    for f in &failures {
        let path = f.path.display().to_string();
        if !opts.retry_failed && store.failure(&path)?.is_some_and(|r| r.hash.is_none()) {
            // It could not be read last time either; a file fixed since
            // would have been read this time and not be here.
            summary.known_failures += 1;
            continue;
        }
        store.record_failure(&path, None, &f.reason)?;
        on_event(Event::Failed {
            path: f.path.clone(),
            reason: f.reason.clone(),
        });
        summary.failed += 1;
    }

    // Group by content: a duplicated file is embedded once.
    let mut by_hash: BTreeMap<&str, Vec<&scan::ScannedFile>> = BTreeMap::new();
    for f in &files {
        by_hash.entry(f.hash.as_str()).or_default().push(f);
    }
    summary.distinct = by_hash.len();
    let mut todo = Vec::new();
    let mut csv_updates: HashMap<String, Metadata> = HashMap::new();
    for (hash, group) in &by_hash {
        let paths: Vec<String> = group.iter().map(|f| f.path.display().to_string()).collect();
        let files: Vec<PathBuf> = group.iter().map(|f| f.path.clone()).collect();
        let stored = store.artwork(hash)?;
        // What each path implies, merged without overwriting: the stored
        // metadata (earlier paths, a CSV) first, then this run's paths in
        // order; a metadata CSV row wins over anything a name implies.
        let mut meta = stored
            .as_ref()
            .map(|a| a.metadata.clone())
            .unwrap_or_default();
        for f in group.iter() {
            for (k, v) in scan::wikiart_metadata(&f.rel_path) {
                meta.entry(k).or_insert(v);
            }
        }
        let csv_meta = metadata.and_then(|m| m.get(*hash));
        if let Some(m) = csv_meta {
            meta.extend(m.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let mut needs = Vec::new();
        for (i, b) in backbones.iter().enumerate() {
            if !store.has_embedding(b.id(), hash)? {
                needs.push(i);
            }
        }
        if let Some(art) = &stored {
            for p in &paths {
                if !art.paths.contains(p) {
                    store.add_path(hash, p)?;
                    summary.new_paths += 1;
                }
            }
            if meta != art.metadata {
                csv_updates.insert(hash.to_string(), meta.clone());
            }
        }
        let known = if needs.is_empty() || opts.retry_failed {
            None
        } else {
            store.failure_of_hash(hash)?
        };
        if let Some(known) = known {
            // The same bytes failed before and would fail again (a changed
            // file has another hash). Copies of them at new paths are
            // recorded as failed too, so that `status` lists every one.
            for p in &paths {
                if store.failure(p)?.is_none() {
                    store.record_failure(p, Some(hash), &known.reason)?;
                }
            }
            summary.known_failures += 1;
            continue;
        }
        if needs.is_empty() {
            summary.already_stored += 1;
            // A file that failed before and is complete now needs no retry record.
            for p in &paths {
                store.clear_failure(p)?;
            }
            continue;
        }
        todo.push(Todo {
            hash: hash.to_string(),
            paths,
            files,
            size: group[0].size,
            metadata: meta,
            needs,
        });
    }
    if !csv_updates.is_empty() {
        store.merge_metadata(&csv_updates)?;
    }
    on_event(Event::Scanned {
        images: files.len(),
        to_embed: todo.len(),
    });

    let failed_images = embed_todo(store, &todo, backbones, opts, on_event)?;
    summary.failed += failed_images;
    summary.embedded = todo.len() - failed_images;
    store.flush()?;

    let (vanished, pruned) = vanished_paths(store, opts.prune)?;
    summary.vanished = vanished.len();
    summary.pruned = pruned;
    if opts.prune && !vanished.is_empty() {
        on_event(Event::Note(format!(
            "pruned {} vanished paths ({} artworks removed)",
            vanished.len(),
            pruned
        )));
    }
    store.flush()?;
    for b in backbones {
        sync_ann_index(store, b.id(), on_event)?;
    }
    summary.seconds = start.elapsed().as_secs_f64();
    summary.images_per_second = if summary.seconds > 0.0 {
        summary.embedded as f64 / summary.seconds
    } else {
        0.0
    };
    Ok(summary)
}

/// Decodes (on a separate pool, a batch ahead) and embeds `todo`, recording
/// each image atomically. Returns how many failed.
fn embed_todo(
    store: &Store,
    todo: &[Todo],
    backbones: &[&Backbone],
    opts: &IndexOptions,
    on_event: &mut dyn FnMut(Event),
) -> Result<usize> {
    if todo.is_empty() {
        return Ok(0);
    }
    let pool = decode_pool(opts)?;
    let batch = opts.batch_size.max(1);
    let total = todo.len();
    let mut done = 0;
    let mut failed = 0;
    std::thread::scope(|scope| -> Result<()> {
        let (tx, rx) = sync_channel::<(usize, Decoded)>(1);
        scope.spawn(move || {
            for (chunk_no, chunk) in todo.chunks(batch).enumerate() {
                let base = chunk_no * batch;
                let decoded = pool.install(|| decode_batch(chunk, base, backbones, opts));
                if tx.send((base, decoded)).is_err() {
                    return; // The consumer stopped on an error.
                }
            }
        });
        for (_, decoded) in rx {
            let mut vectors: HashMap<(usize, usize), Vec<f32>> = HashMap::new();
            for (b, (indices, pixels)) in decoded.pixels.into_iter().enumerate() {
                if indices.is_empty() {
                    continue;
                }
                let out = backbones[b].embed_pixels(pixels, indices.len())?;
                for (i, v) in indices.into_iter().zip(out) {
                    vectors.insert((i, b), v);
                }
            }
            for (i, result) in decoded.items {
                let item = &todo[i];
                match result {
                    Ok((width, height)) => {
                        let embs: Vec<(&BackboneId, &[f32])> = item
                            .needs
                            .iter()
                            .map(|&b| (backbones[b].id(), vectors[&(i, b)].as_slice()))
                            .collect();
                        let art = NewArtwork {
                            hash: item.hash.clone(),
                            paths: item.paths.clone(),
                            size: item.size,
                            width,
                            height,
                            metadata: item.metadata.clone(),
                        };
                        match store.record_image(&art, &embs) {
                            Ok(_) => {}
                            // A degenerate (zero or non-finite) embedding is this image's failure.
                            Err(Error::InvalidArgument(reason)) => {
                                failed += 1;
                                fail(store, item, &reason, on_event)?;
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    Err(reason) => {
                        failed += 1;
                        fail(store, item, &reason, on_event)?;
                    }
                }
                done += 1;
            }
            store.flush()?;
            on_event(Event::Progress {
                done,
                total,
                failed,
            });
        }
        Ok(())
    })?;
    Ok(failed)
}

fn fail(store: &Store, item: &Todo, reason: &str, on_event: &mut dyn FnMut(Event)) -> Result<()> {
    for p in &item.paths {
        store.record_failure(p, Some(&item.hash), reason)?;
        on_event(Event::Failed {
            path: PathBuf::from(p),
            reason: reason.to_string(),
        });
    }
    Ok(())
}

fn decode_batch(
    chunk: &[Todo],
    base: usize,
    backbones: &[&Backbone],
    opts: &IndexOptions,
) -> Decoded {
    // Decode each image once (fast: once per reduction the backbones need);
    // preprocess it for every backbone that needs it.
    let results: Vec<Prepared> = chunk
        .par_iter()
        .map(|item| {
            let path = item.files[0].as_path();
            let recipes: Vec<&Preprocess> = item
                .needs
                .iter()
                .map(|&b| backbones[b].preprocess())
                .collect();
            decode_prepared(path, &recipes, opts)
                .map_err(|e| strip_path(&e.to_string(), &item.paths[0]))
        })
        .collect();
    let mut pixels: Vec<(Vec<usize>, Vec<f32>)> = vec![(Vec::new(), Vec::new()); backbones.len()];
    let mut items = Vec::with_capacity(chunk.len());
    for (k, (item, r)) in chunk.iter().zip(results).enumerate() {
        let i = base + k;
        match r {
            Ok((size, per)) => {
                for (&b, p) in item.needs.iter().zip(per) {
                    pixels[b].0.push(i);
                    pixels[b].1.extend(p);
                }
                items.push((i, Ok(size)));
            }
            Err(reason) => items.push((i, Err(reason))),
        }
    }
    Decoded { items, pixels }
}

/// Decodes `path` as `opts.decode` says and applies each recipe: the
/// image's full size (after EXIF orientation) and one input tensor per
/// recipe.
fn decode_prepared(
    path: &Path,
    recipes: &[&Preprocess],
    opts: &IndexOptions,
) -> Result<SizedInputs> {
    match opts.decode {
        DecodeMode::Exact => {
            let img = decode_file(path, &opts.limits)?;
            let per = recipes.iter().map(|p| p.apply(&img)).collect();
            Ok((img.dimensions(), per))
        }
        DecodeMode::Fast => {
            let d = decode_file_fast(path, &opts.limits, recipes)?;
            let per = recipes
                .iter()
                .zip(&d.which)
                .map(|(p, &k)| p.apply(&d.images[k]))
                .collect();
            Ok((d.full_size, per))
        }
    }
}

/// The decoders' own pool, apart from the model's threads.
fn decode_pool(opts: &IndexOptions) -> Result<rayon::ThreadPool> {
    opts.validate()?;
    rayon::ThreadPoolBuilder::new()
        .num_threads(opts.decode_threads.max(1))
        .thread_name(|i| format!("artlens-decode-{i}"))
        .build()
        .map_err(|e| Error::InvalidArgument(format!("cannot start decode threads: {e}")))
}

/// One file's outcome in [`embed_files`]: its embedding, or why it failed.
pub(crate) type FileEmbedding = (PathBuf, std::result::Result<Vec<f32>, String>);

/// Embeds image files with one backbone, no store: `embed`'s engine.
///
/// Decoding and preprocessing run on a pool of `opts.decode_threads`, one
/// batch ahead of the model (the same arrangement as an index run), so the
/// model's kernels do not wait for JPEGs. `on_batch` receives each batch's
/// files in order, each with its embedding or its error; a model error stops
/// the run and is returned.
pub fn embed_files(
    backbone: &Backbone,
    files: &[PathBuf],
    opts: &IndexOptions,
    on_batch: &mut dyn FnMut(Vec<FileEmbedding>),
) -> Result<()> {
    if files.is_empty() {
        return Ok(());
    }
    let pool = decode_pool(opts)?;
    let batch = opts.batch_size.max(1);
    type PreparedFile = (PathBuf, std::result::Result<Vec<f32>, String>);
    std::thread::scope(|scope| -> Result<()> {
        let (tx, rx) = sync_channel::<Vec<PreparedFile>>(1);
        scope.spawn(move || {
            for chunk in files.chunks(batch) {
                let prepared: Vec<PreparedFile> = pool.install(|| {
                    chunk
                        .par_iter()
                        .map(|path| {
                            let pixels = decode_prepared(path, &[backbone.preprocess()], opts)
                                .map(|(_, mut per)| per.remove(0))
                                .map_err(|e| e.to_string());
                            (path.clone(), pixels)
                        })
                        .collect()
                });
                if tx.send(prepared).is_err() {
                    return; // The consumer stopped on an error.
                }
            }
        });
        for prepared in rx {
            let mut pixels = Vec::new();
            let mut n = 0;
            for (_, p) in &prepared {
                if let Ok(p) = p {
                    pixels.extend_from_slice(p);
                    n += 1;
                }
            }
            let mut vectors = if n > 0 {
                backbone.embed_pixels(pixels, n)?.into_iter()
            } else {
                Vec::new().into_iter()
            };
            let out = prepared
                .into_iter()
                .map(|(path, p)| {
                    let r = p.map(|_| vectors.next().expect("one embedding per decoded image"));
                    (path, r)
                })
                .collect();
            on_batch(out);
        }
        Ok(())
    })
}

/// Decode errors start with the path; the failure record already has it.
fn strip_path(msg: &str, path: &str) -> String {
    msg.strip_prefix(path)
        .map(|s| s.trim_start_matches(':').trim().to_string())
        .unwrap_or_else(|| msg.to_string())
}

/// Stored paths that no longer exist on disk; with `prune`, forgets them
/// and removes artworks left without any path. Returns (vanished, removed).
pub(crate) fn vanished_paths(store: &Store, prune: bool) -> Result<(Vec<String>, usize)> {
    let mut vanished = Vec::new();
    let mut removed = 0;
    for art in store.artworks()? {
        if art.paths.is_empty() {
            // Its only file now holds other content (the store moved the path
            // to the new content): nothing on disk is this artwork any more.
            if prune {
                store.remove_artwork(&art.hash)?;
                removed += 1;
            }
            vanished.push(format!(
                "(content {} whose file now holds other content)",
                art.hash
            ));
            continue;
        }
        let (gone, kept): (Vec<String>, Vec<String>) = art
            .paths
            .iter()
            .cloned()
            .partition(|p| !Path::new(p).exists());
        if gone.is_empty() {
            continue;
        }
        if prune {
            if kept.is_empty() {
                store.remove_artwork(&art.hash)?;
                removed += 1;
            } else {
                store.set_paths(&art.hash, kept)?;
            }
        }
        vanished.extend(gone);
    }
    Ok((vanished, removed))
}

/// The folder of `model`'s ANN index inside the store folder.
pub fn ann_dir(store: &Store, model: &BackboneId) -> PathBuf {
    store.path().join("ann").join(model.folder_name())
}

/// The saved ANN index of `model` when it matches the store, or what is
/// needed to extend or rebuild it.
enum Saved {
    Current(AnnIndex),
    Stale {
        reason: String,
        dim: usize,
        fp_json: String,
        items: Vec<(u64, String, Vec<f32>)>,
        expected: IndexMeta,
        dir: PathBuf,
    },
}

fn saved_index(store: &Store, model: &BackboneId) -> Result<Saved> {
    let Some(fp) = store.fingerprint(model)? else {
        return Err(Error::NotIndexed {
            store: store.path().to_path_buf(),
            backbone: model.name(),
        });
    };
    let fp_json = serde_json::to_string(&fp).map_err(|e| Error::InvalidArgument(e.to_string()))?;
    let items = store.embeddings(model)?;
    // The index belongs to this store's vectors, not only to its ids: a
    // folder copied from another store with the same weights and ids 1…N
    // must not answer for this one.
    let expected = IndexMeta::new(fp_json.clone(), items.iter().map(|(id, _, _)| *id))
        .with_content(digest_of(&items, None));
    let dir = ann_dir(store, model);
    let found = match unusable_dir(&dir) {
        Some(why) => Err(why),
        None => match AnnIndex::load_or_reason(&dir, &expected) {
            Ok(found) => found,
            // Unreadable (permissions, a file in the way): the index is
            // rebuilt in memory and the answer does not depend on the folder.
            Err(e) => Err(format!("cannot read it: {e}")),
        },
    };
    Ok(match found {
        Ok(index) => Saved::Current(index),
        Err(reason) => Saved::Stale {
            reason,
            dim: fp.dim,
            fp_json,
            items,
            expected,
            dir,
        },
    })
}

/// Why `dir` cannot hold an index folder (something other than a folder is
/// in the way), or `None`.
fn unusable_dir(dir: &Path) -> Option<String> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => None,
        Ok(m) if m.file_type().is_symlink() && dir.is_dir() => None,
        Ok(_) => Some(format!("{} is not a folder", dir.display())),
        Err(_) => None,
    }
}

/// [`crate::ann::content_digest`] of the stored `items`, or of those among
/// them whose id is in `only`.
fn digest_of(
    items: &[(u64, String, Vec<f32>)],
    only: Option<&std::collections::HashSet<u64>>,
) -> String {
    crate::ann::content_digest(
        items
            .iter()
            .filter(|(id, _, _)| only.is_none_or(|o| o.contains(id)))
            .map(|(id, h, v)| (*id, h.as_str(), v.as_slice())),
    )
}

fn build_from(items: &[(u64, String, Vec<f32>)], dim: usize) -> Result<AnnIndex> {
    let refs: Vec<(u64, &[f32])> = items.iter().map(|(id, _, v)| (*id, v.as_slice())).collect();
    AnnIndex::build(dim, &refs)
}

/// `model`'s ANN index for reading: the saved one when it matches the store,
/// else one built in memory from the stored vectors. Never writes: a
/// read-only command must not change the store folder (`index` and
/// [`sync_ann_index`] save indexes).
pub(crate) fn load_ann_index(
    store: &Store,
    model: &BackboneId,
    on_event: &mut dyn FnMut(Event),
) -> Result<AnnIndex> {
    match saved_index(store, model)? {
        Saved::Current(index) => Ok(index),
        Saved::Stale {
            reason, dim, items, ..
        } => {
            if !items.is_empty() {
                on_event(Event::Note(format!(
                    "{model}: building the ANN index in memory ({reason}); `artlens index` saves it"
                )));
            }
            build_from(&items, dim)
        }
    }
}

/// Loads `model`'s saved ANN index if it matches the store, else extends or
/// rebuilds it from the stored vectors, and saves it: the update path. When
/// the index cannot be saved (a file where its folder should be, a folder
/// that cannot be written) a note says where and why, and the index built
/// in memory is returned all the same.
pub(crate) fn sync_ann_index(
    store: &Store,
    model: &BackboneId,
    on_event: &mut dyn FnMut(Event),
) -> Result<AnnIndex> {
    let (reason, dim, fp_json, items, expected, dir) = match saved_index(store, model)? {
        Saved::Current(index) => return Ok(index),
        Saved::Stale {
            reason,
            dim,
            fp_json,
            items,
            expected,
            dir,
        } => (reason, dim, fp_json, items, expected, dir),
    };
    // A saved index that is intact, holds a subset of the store's vectors
    // and was built from those very vectors is extended in place: hnsw
    // insertion is incremental.
    let reusable = if unusable_dir(&dir).is_some() {
        None
    } else {
        AnnIndex::load_for_update_with_meta(&dir, &fp_json)
            .ok()
            .and_then(|r| r.ok())
    };
    let mut reason = reason;
    if let Some((mut index, found)) = reusable {
        let have: std::collections::HashSet<u64> = index.ids().into_iter().collect();
        let ids: std::collections::HashSet<u64> = items.iter().map(|(id, _, _)| *id).collect();
        if have.is_subset(&ids) && found.content == digest_of(&items, Some(&have)) {
            let new: Vec<(u64, &[f32])> = items
                .iter()
                .filter(|(id, _, _)| !have.contains(id))
                .map(|(id, _, v)| (*id, v.as_slice()))
                .collect();
            index.insert_many(&new)?;
            save_or_note(&index, &dir, &expected, model, on_event);
            return Ok(index);
        }
        if have.is_subset(&ids) {
            reason = if found.content.is_empty() {
                "it was saved without a digest of the works it indexes".into()
            } else {
                "it was built from other images or vectors than this store's \
                 (copied from another store?)"
                    .into()
            };
        }
    }
    if !items.is_empty() {
        on_event(Event::Note(format!(
            "{model}: building the ANN index ({reason})"
        )));
    }
    let index = build_from(&items, dim)?;
    save_or_note(&index, &dir, &expected, model, on_event);
    Ok(index)
}

/// Saves `index` into `dir`, or says in a note why it could not (the index
/// in memory still answers).
fn save_or_note(
    index: &AnnIndex,
    dir: &Path,
    meta: &IndexMeta,
    model: &BackboneId,
    on_event: &mut dyn FnMut(Event),
) {
    let result = match unusable_dir(dir) {
        Some(why) => Err(why),
        None => index.save(dir, meta).map_err(|e| e.to_string()),
    };
    if let Err(why) = result {
        on_event(Event::Note(format!(
            "{model}: cannot save the ANN index to {} ({why}); using the index built in memory, \
             which is rebuilt by every command until it can be saved",
            dir.display()
        )));
    }
}

/// How `index DIR` related DIR to the collection roots the store knows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub(crate) enum RootChange {
    /// DIR is a known root, or lies inside one.
    Known,
    /// DIR is recorded as a new root.
    Added { root: String },
    /// DIR holds a known root's works at the same relative paths, and that
    /// root's folder no longer exists: the collection was moved, and every
    /// work under it is re-linked to DIR by changing the root.
    Moved {
        from: String,
        to: String,
        works: usize,
    },
}

/// Relates the scanned folder `root` (absolute) to the store's collection
/// roots before indexing: see [`RootChange`].
pub(crate) fn attach_root(
    store: &Store,
    root: &Path,
    files: &[scan::ScannedFile],
) -> Result<RootChange> {
    let dir = root.display().to_string();
    let inside = |r: &str| dir == r || dir.starts_with(&format!("{}/", r.trim_end_matches('/')));
    if store.roots().iter().any(|r| inside(&r.path)) {
        return Ok(RootChange::Known);
    }
    let scanned: HashMap<&str, &str> = files
        .iter()
        .map(|f| (f.rel_path.as_str(), f.hash.as_str()))
        .collect();
    for r in store.roots() {
        if Path::new(&r.path).exists() {
            continue;
        }
        let stored = store.paths_under_root(r.id)?;
        if stored.is_empty() {
            continue;
        }
        let same = stored
            .iter()
            .filter(|(rel, hash)| scanned.get(rel.as_str()) == Some(&hash.as_str()))
            .count();
        // Half of the smaller side at the same places with the same bytes
        // is a move, not a coincidence; a folder with a few files in common
        // with a vanished one is a new root.
        if same > 0 && same * 2 >= stored.len().min(scanned.len()) {
            store.move_root(r.id, &dir)?;
            return Ok(RootChange::Moved {
                from: r.path,
                to: dir,
                works: same,
            });
        }
    }
    store.add_root(&dir)?;
    Ok(RootChange::Added { root: dir })
}

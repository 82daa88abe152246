//! Indexing a collection folder into the store with N backbones.

use std::path::PathBuf;

use super::{Collection, Event};
use crate::error::{Error, Result};
use crate::imaging::{DecodeMode, Decoder};
use crate::model::registry::BackboneId;
use crate::model::Fingerprint;
use crate::pipeline::{self, IndexOptions, IndexSummary, RootChange};
use crate::scan;
use crate::shard::Shard;

/// What `index` is asked to do.
#[derive(Debug, Clone)]
pub struct IndexRequest {
    /// The collection folder (walked recursively).
    pub dir: PathBuf,
    /// A metadata CSV naming each file.
    pub metadata: Option<PathBuf>,
    /// Import the good rows of the metadata CSV and report the bad ones,
    /// instead of refusing the whole file.
    pub skip_bad_metadata: bool,
    /// The backbones to embed with.
    pub backbones: Vec<BackboneId>,
    /// Backbones whose stored embeddings (made with other weights or
    /// preprocessing) are discarded and made anew.
    pub rebuild: Vec<BackboneId>,
    /// Embed only the works whose content hash falls in this shard
    /// ([`crate::shard`]); the store remembers it and refuses other shards.
    pub shard: Option<Shard>,
    /// How the run embeds: batch size, decode threads, decode limits,
    /// pruning, allowed folders and retries.
    pub options: IndexOptions,
}

impl Collection {
    /// Embeds every (content, backbone) pair of `req.dir` the store lacks,
    /// records each image atomically, and brings the ANN indexes up to date.
    /// The metadata CSV is validated before anything is written.
    pub fn index(
        &self,
        req: &IndexRequest,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<IndexSummary> {
        // Every image recorded changes what readers see: the caches keyed by
        // the revision must not outlive it.
        let on_event = &mut |e: Event| {
            if matches!(e, Event::Progress { .. } | Event::Scanned { .. }) {
                self.touch();
            }
            on_event(e)
        };
        self.wrote(|| self.index_inner(req, on_event))
    }

    fn index_inner(
        &self,
        req: &IndexRequest,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<IndexSummary> {
        if !req.dir.is_dir() {
            return Err(Error::Io {
                path: req.dir.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "not a folder"),
            });
        }
        if req.backbones.is_empty() {
            return Err(Error::InvalidArgument(
                "index needs at least one backbone".into(),
            ));
        }
        for r in &req.rebuild {
            if !req.backbones.contains(r) {
                return Err(Error::InvalidArgument(format!(
                    "--rebuild {r}: {r} is not among the backbones being indexed ({})",
                    names(&req.backbones)
                )));
            }
        }
        self.weights.check_used(&req.backbones)?;
        self.check_shard(req.shard)?;
        let root = pipeline::absolute(&req.dir);
        on_event(Event::Note(format!("scanning {}", root.display())));
        let mut scan_report = scan::scan_collection(&root)?;
        if !req.options.confine_to.is_empty() {
            // The scan follows symlinks; a link inside an allowed folder
            // must not bring in files from outside it.
            let allowed = &req.options.confine_to;
            scan_report.files.retain(|f| {
                let inside = std::fs::canonicalize(&f.path)
                    .is_ok_and(|real| allowed.iter().any(|a| real.starts_with(a)));
                if !inside {
                    on_event(Event::Failed {
                        path: f.path.clone(),
                        reason: "resolves (through a symlink) to a file outside the folders this server may index (--allow-dir); not indexed".into(),
                    });
                }
                inside
            });
        }
        let metadata = match &req.metadata {
            Some(csv) => {
                let (m, bad) = scan::read_metadata_csv_lenient(
                    csv,
                    &scan_report.files,
                    req.skip_bad_metadata,
                )?;
                for b in bad {
                    on_event(Event::Failed {
                        path: csv.clone(),
                        reason: format!("row {}: {} (skipped)", b.row, b.reason),
                    });
                }
                Some(m)
            }
            None => None,
        };
        // The metadata CSV was checked against the whole collection above, so
        // that every shard accepts (or refuses) the same file; only then is
        // the scan cut down to this shard's works.
        let mut other_shards = 0;
        if let Some(shard) = req.shard {
            let before = scan_report.files.len();
            scan_report.files.retain(|f| shard.contains(&f.hash));
            other_shards = before - scan_report.files.len();
            on_event(Event::Note(format!(
                "shard {shard}: {} of {before} files",
                scan_report.files.len()
            )));
        }

        let mut backbones = Vec::new();
        for id in &req.backbones {
            let (backbone, files) = self.load_for_index(id)?;
            // What loading had to assume (a missing preprocessor_config.json
            // read as the model card's defaults) is said where indexing is
            // watched: the command line and the web app's index job.
            for w in backbone.warnings() {
                on_event(Event::Note(format!("{id}: {w}")));
            }
            let rebuild = req.rebuild.contains(id);
            // The run's decoder is part of what the embeddings are: a store
            // built with one never takes embeddings made with another.
            let fingerprint = Fingerprint {
                decode: req.options.decode.decoder(),
                ..backbone.fingerprint().clone()
            };
            let check = match self.store.ensure_fingerprint(&fingerprint, rebuild) {
                // Only the decoder differs and every file is embedded already:
                // this run adds nothing, so nothing is mixed; the store keeps
                // its fingerprint.
                Err(Error::FingerprintMismatch { .. })
                    if self.only_decoder_differs(&fingerprint)?
                        && self.all_embedded(id, &scan_report.files)? =>
                {
                    on_event(Event::Note(format!(
                        "{id}: the stored embeddings were made by another decoder; every file is embedded already, so none are added"
                    )));
                    crate::store::FingerprintCheck::Unchanged
                }
                Err(Error::FingerprintMismatch {
                    path,
                    mut differences,
                    ..
                }) => {
                    let stored = self.store.fingerprint(id).ok().flatten();
                    if let Some(mode) = stored.and_then(|s| stored_mode(s.decode)) {
                        if mode != req.options.decode {
                            differences.push_str(&format!(
                                "; its embeddings were made with `--decode {mode}`: index with \
                                 `--decode {mode}` to add to it"
                            ));
                        }
                    }
                    return Err(Error::FingerprintMismatch {
                        path,
                        model: id.name(),
                        differences,
                    });
                }
                other => other?,
            };
            if check.changed() {
                on_event(Event::Note(format!(
                    "{id}: discarded the embeddings made with other settings; embedding anew"
                )));
            } else if rebuild {
                on_event(Event::Note(format!(
                    "{id}: nothing to rebuild, the stored embeddings were made with these weights and settings"
                )));
            }
            self.store.set_weights_location(id, &files)?;
            on_event(Event::Note(format!(
                "{id}: weights {}",
                files.weights.display()
            )));
            backbones.push(backbone);
        }
        match pipeline::attach_root(&self.store, &root, &scan_report.files)? {
            RootChange::Known => {}
            RootChange::Added { root } => {
                on_event(Event::Note(format!("new collection root {root}")))
            }
            RootChange::Moved { from, to, works } => on_event(Event::Note(format!(
                "the collection moved from {from} to {to}: {works} works re-linked without re-embedding"
            ))),
        }
        let refs: Vec<&crate::model::Backbone> = backbones.iter().map(|b| b.as_ref()).collect();
        if req.shard.is_some() && self.store.shard()?.is_none() {
            self.store.set_shard(req.shard)?;
        }
        // Works stored so far: each progress event follows a flushed batch.
        // A full disk stops the run, but what was stored stays, and saying
        // "nothing was changed" would be wrong.
        let mut stored = 0;
        let indexed = pipeline::index_collection(
            &self.store,
            scan_report,
            metadata.as_ref(),
            &refs,
            &req.options,
            &mut |e: Event| {
                if let Event::Progress { done, failed, .. } = e {
                    stored = done - failed;
                }
                on_event(e)
            },
        );
        let mut summary = match indexed {
            Err(Error::NoSpace { path }) if stored > 0 => {
                return Err(Error::IndexNoSpace { path, stored })
            }
            other => other?,
        };
        summary.shard = req.shard;
        summary.other_shards = other_shards;
        self.store.flush()?;
        // index_collection saved each backbone's ANN index; `ann` loads it
        // when a query first needs it.
        Ok(summary)
    }
}

impl Collection {
    /// Whether the stored fingerprint of `fp`'s backbone differs from `fp`
    /// in the decoder alone.
    fn only_decoder_differs(&self, fp: &Fingerprint) -> Result<bool> {
        Ok(match self.store.fingerprint(&fp.backbone)? {
            Some(stored) => stored.decode != fp.decode && fp.model_differences(&stored).is_empty(),
            None => false,
        })
    }

    /// Whether every file's content already has an embedding of `id`.
    fn all_embedded(&self, id: &BackboneId, files: &[scan::ScannedFile]) -> Result<bool> {
        for f in files {
            if !self.store.has_embedding(id, &f.hash)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Refuses to mix shards in one store: a shard store takes only its own
    /// shard again, and a store holding a whole collection takes no shard.
    fn check_shard(&self, requested: Option<Shard>) -> Result<()> {
        let stored = self.store.shard()?;
        let path = self.store.path().display().to_string();
        match (stored, requested) {
            (Some(s), Some(r)) if s == r => Ok(()),
            (Some(s), Some(r)) => Err(Error::InvalidArgument(format!(
                "the store {path} holds shard {s} of its collection, not {r}; give each shard its own --store \
                 (then `artlens merge` them)"
            ))),
            (Some(s), None) => Err(Error::InvalidArgument(format!(
                "the store {path} holds shard {s} of its collection; index it with --shard {s}, \
                 or merge the shards into a whole store with `artlens merge SHARD... --into STORE`"
            ))),
            (None, Some(r)) if self.store.counts()?.artworks > 0 => {
                Err(Error::InvalidArgument(format!(
                    "the store {path} holds works of a whole collection; --shard {r} needs a store of its own \
                     (a new --store folder)"
                )))
            }
            (None, _) => Ok(()),
        }
    }
}

/// The `--decode` mode that made embeddings recorded with `decoder`; `None`
/// for the decoder no mode gives any more.
fn stored_mode(decoder: Decoder) -> Option<DecodeMode> {
    match decoder {
        Decoder::Exact => Some(DecodeMode::Exact),
        Decoder::Fast => Some(DecodeMode::Fast),
        Decoder::ImageCrate => None,
    }
}

pub(super) fn names(ids: &[BackboneId]) -> String {
    ids.iter()
        .map(BackboneId::name)
        .collect::<Vec<_>>()
        .join(", ")
}

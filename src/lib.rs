//! # artlens
//!
//! artlens embeds an art collection with self-supervised vision backbones —
//! named by id from a registry ([`model::registry`]): DINO ViT-B/16
//! (ImageNet-1k), DINOv2 ViT-B/14 (LVD-142M), at any resolution their patch
//! size allows — and answers, for every backbone side by side: which works
//! are similar to this one, how would my taste score this image, and which
//! works did each backbone draw on.
//!
//! The pipeline, one module per stage:
//!
//! ```text
//! scan → decode/preprocess → embed → store → index → head → explain → report
//!                              └──────────── app::Collection ────────────┘
//! ```
//!
//! On top sits the application layer, [`app::Collection`]: it opens a store,
//! loads backbones lazily, keeps their ANN indexes loaded, and answers
//! `index`, `similar`, `score`, `explain`, `train`, `compare`, ratings,
//! `status`, `show`, `ls`, `export` (NumPy, CSV, Parquet) and `merge` with
//! typed requests in and serde views out.
//! Every front end (the `artlens` command line in `src/cli/`, and the web
//! app `artlens serve` in `src/server/`) is glue around it.
//!
//! * [`imaging`] decodes untrusted files safely and reproduces each reference
//!   library's preprocessing bit for bit ([`imaging::Preprocess`]).
//! * [`model`] resolves checkpoints (local folder, Hugging Face cache,
//!   download), and runs one Vision Transformer (`model::Vit`) configured
//!   per checkpoint; a [`model::Backbone`] pairs it with its preprocessing and
//!   its fingerprint, and turns images into raw `[B, 768]` CLS embeddings (or,
//!   on demand, every token and the last block's CLS attention).
//! * [`scan`] walks a collection, hashes each image's bytes (blake3, the
//!   content address) and reads metadata (CSV, WikiArt folder/name layout).
//! * [`pipeline`] is the index job: decode each new image once on its own
//!   thread pool, embed it with every backbone that lacks it, record it
//!   atomically, and bring the ANN indexes up to date.
//! * [`store`] is the sled store: artworks, embeddings per backbone checked
//!   against its [`model::Fingerprint`], failures, one atomic batch per image.
//!   Stores merge ([`store::merge_stores`]): the shards of one collection,
//!   or any stores with the same backbones, united into one.
//! * [`shard`] splits a collection by content hash (`index --shard I/N`),
//!   so that scheduler tasks on several machines each embed one part.
//! * [`ann`] is the nearest-neighbour index per backbone (hnsw_rs, cosine on
//!   normalised vectors), persisted and verified, with an exact fallback.
//! * [`vector`] is the vector math every stage shares: dot products,
//!   normalisation, the checks on embeddings, the ANN's 16-bit codes, and
//!   the SIMD kernels, one file per instruction set, chosen once per process.
//! * [`explain`] finds the rated works a score draws on (references, kNN
//!   estimate), reads a ridge score as an exact weighted vote of the rated
//!   works (the head's equivalent kernel), turns two images' patch tokens and
//!   CLS attention into heat maps of where they look alike, flags
//!   out-of-distribution queries, and measures label metrics.
//! * [`eval`] compares the backbones side by side: label metrics,
//!   neighbour agreement, the saved training's figures and the data ladder.
//! * [`report`] renders self-contained HTML reports (scores, comparison,
//!   the explain page's heat maps).
//! * [`ratings`] keeps people's ratings in the store, keyed by rater and
//!   content hash, imported from CSV (all or nothing) or set one by one;
//!   [`preferences`] keeps their "this one over that one" choices.
//! * [`head`] learns the taste from the ratings (ridge or MLP on the raw
//!   embeddings) and from preferences (a Bradley–Terry head on embedding
//!   differences), cross-validates them, and compares the backbones on the
//!   same folds with a paired bootstrap ([`head::TrainReport`]).
//! * [`works`] turns what a person typed (id, hash prefix, path, file name)
//!   into a stored work, the same way in every command.
//! * [`map`] lays a collection out in 2D per backbone (a UMAP-style
//!   layout), measures how well it keeps neighbourhoods, and aligns the
//!   maps of several backbones.
//! * [`app`] is the application layer every front end calls.
//! * [`error`] is the typed error every stage returns.
//! * [`plain`] writes counts a person reads ("1 work", "24 works") the same
//!   on every front end.
//! * [`limits`] holds the bound of every count a user or a request sets
//!   (threads, batch sizes, neighbours, folds), read by the CLI's parsers
//!   and help, the server and the library.
//!
//! The library never prints; progress is reported through callbacks and the
//! binary (`src/main.rs`, `src/cli/`) draws it.

#![deny(missing_docs)]

pub mod ann;
pub mod app;
pub mod dups;
pub mod error;
pub mod eval;
pub mod explain;
pub mod head;
pub mod imaging;
pub mod limits;
pub mod map;
pub mod model;
pub mod pipeline;
pub mod plain;
pub mod preferences;
pub mod ratings;
pub mod report;
pub mod scan;
pub mod shard;
pub mod store;
pub mod vector;
pub mod works;

pub use app::Collection;
pub use error::{Error, Result};
pub use model::BackboneId;

//! `artlens similar`: nearest works by each backbone, side by side.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::json;

use artlens::ann::ExactIndex;
use artlens::imaging::{decode_file, DecodeLimits};
use artlens::model::ModelKind;
use artlens::pipeline::{self, Event};
use artlens::store::{Artwork, Store};

use super::store_args::{parse_models, ModelArgs, Models, StoreArgs};
use super::{out_line, Messages};

#[derive(Args, Debug)]
pub struct SimilarArgs {
    /// An image file: a stored one is looked up (and left out of its own
    /// results), a new one is embedded (and not added to the store).
    image: Option<PathBuf>,
    /// A stored work: numeric id, content hash (or a unique prefix) or path.
    #[arg(long, conflicts_with = "image")]
    id: Option<String>,
    /// Results per backbone.
    #[arg(short, long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10000))]
    k: u32,
    /// dino, dinov2 or both.
    #[arg(long, default_value = "both", value_parser = parse_models)]
    model: Models,
    /// Keep only works whose metadata KEY equals VALUE (case-insensitive); repeatable.
    #[arg(long = "where", value_name = "KEY=VALUE")]
    filters: Vec<String>,
    /// Brute-force search instead of the ANN index.
    #[arg(long)]
    exact: bool,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    weights: ModelArgs,
}

/// The query: a stored work or a new image.
enum Query {
    Stored(Artwork),
    New(PathBuf),
}

fn parse_filters(filters: &[String]) -> Result<Vec<(String, String)>> {
    filters
        .iter()
        .map(|f| {
            let (k, v) = f.split_once('=').with_context(|| {
                format!("--where {f}: expected KEY=VALUE, e.g. style=Impressionism")
            })?;
            Ok((k.trim().to_ascii_lowercase(), v.trim().to_lowercase()))
        })
        .collect()
}

fn matches(art: &Artwork, filters: &[(String, String)]) -> bool {
    filters.iter().all(|(k, v)| {
        art.metadata
            .get(k)
            .is_some_and(|x| x.trim().to_lowercase() == *v)
    })
}

pub fn run(args: SimilarArgs, msg: Messages) -> Result<i32> {
    let store = args.store.open_existing()?;
    let filters = parse_filters(&args.filters)?;
    let query = match (&args.id, &args.image) {
        (Some(id), _) => Query::Stored(store.find(id)?),
        (None, Some(path)) => {
            let (hash, _) = artlens::scan::hash_file_bytes(path)
                .with_context(|| format!("{}", path.display()))?;
            match store.artwork(&hash)? {
                Some(art) => Query::Stored(art),
                None => Query::New(path.clone()),
            }
        }
        (None, None) => bail!("name an image file or --id ID"),
    };
    let arts: HashMap<u64, Artwork> = store.artworks()?.into_iter().map(|a| (a.id, a)).collect();
    let self_id = match &query {
        Query::Stored(a) => Some(a.id),
        Query::New(_) => None,
    };
    let allowed =
        |id: u64| Some(id) != self_id && arts.get(&id).is_some_and(|a| matches(a, &filters));

    let mut results: Vec<(ModelKind, Vec<(u64, f32)>)> = Vec::new();
    for &kind in &args.model.0 {
        let vector = query_vector(&store, kind, &query, &args.weights, msg)?;
        let hits = if args.exact {
            let items = store.embeddings(kind)?;
            let refs: Vec<(u64, &[f32])> =
                items.iter().map(|(id, _, v)| (*id, v.as_slice())).collect();
            ExactIndex::new(vector.len(), &refs)?.search(
                &vector,
                args.k as usize,
                Some(&allowed),
            )?
        } else {
            let mut note = |e: Event| {
                if let Event::Note(n) = e {
                    msg.info(n);
                }
            };
            let index = pipeline::sync_ann_index(&store, kind, &mut note)?;
            index.search(&vector, args.k as usize, Some(&allowed))?
        };
        results.push((kind, hits));
    }
    let overlap = if results.len() == 2 {
        let a: HashSet<u64> = results[0].1.iter().map(|h| h.0).collect();
        Some(results[1].1.iter().filter(|h| a.contains(&h.0)).count())
    } else {
        None
    };

    if args.json {
        let mut res = serde_json::Map::new();
        for (kind, hits) in &results {
            let list: Vec<_> = hits
                .iter()
                .map(|(id, sim)| {
                    let a = &arts[id];
                    json!({"id": id, "hash": a.hash, "path": a.paths.first(), "similarity": sim, "metadata": a.metadata})
                })
                .collect();
            res.insert(kind.name().to_string(), json!(list));
        }
        let q = match &query {
            Query::Stored(a) => {
                json!({"id": a.id, "hash": a.hash, "path": a.paths.first(), "metadata": a.metadata, "stored": true})
            }
            Query::New(p) => json!({"path": p.display().to_string(), "stored": false}),
        };
        out_line(&json!({"query": q, "results": res, "overlap": overlap}).to_string());
    } else {
        print_table(&results, &arts, overlap);
    }
    Ok(0)
}

fn query_vector(
    store: &Store,
    kind: ModelKind,
    query: &Query,
    weights: &ModelArgs,
    msg: Messages,
) -> Result<Vec<f32>> {
    match query {
        Query::Stored(art) => store.embedding(kind, &art.hash)?.with_context(|| {
            format!(
                "work {} has no {kind} embedding yet; run `artlens index` with --models {kind}",
                art.id
            )
        }),
        Query::New(path) => {
            let Some(stored_fp) = store.fingerprint(kind)? else {
                bail!("the store holds no {kind} embeddings; run `artlens index DIR` first");
            };
            let (backbone, _) = weights.load(kind, Some(store))?;
            let diffs = backbone.fingerprint().differences(&stored_fp);
            if !diffs.is_empty() {
                bail!(
                    "{kind}: these weights differ from the store's ({}); pass the weights the store was built with",
                    diffs.join(", ")
                );
            }
            msg.info(format!("{kind}: embedding {}", path.display()));
            let img = decode_file(path, &DecodeLimits::default())?;
            Ok(backbone.embed_images(&[&img])?.remove(0))
        }
    }
}

fn print_table(
    results: &[(ModelKind, Vec<(u64, f32)>)],
    arts: &HashMap<u64, Artwork>,
    overlap: Option<usize>,
) {
    let name = |id: &u64| {
        let a = &arts[id];
        let title = a.metadata.get("title").cloned();
        let path = a.paths.first().map(|p| {
            std::path::Path::new(p)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.clone())
        });
        format!("#{id} {}", title.or(path).unwrap_or_default())
    };
    let rows = results.iter().map(|r| r.1.len()).max().unwrap_or(0);
    let header: Vec<String> = results
        .iter()
        .map(|(k, _)| format!("{:<48}", k.name()))
        .collect();
    out_line(&format!("rank  {}", header.join("  ")));
    for i in 0..rows {
        let cells: Vec<String> = results
            .iter()
            .map(|(_, hits)| match hits.get(i) {
                Some((id, sim)) => {
                    let s: String = format!("{sim:.3} {}", name(id)).chars().take(48).collect();
                    format!("{s:<48}")
                }
                None => format!("{:<48}", ""),
            })
            .collect();
        out_line(&format!("{:>4}  {}", i + 1, cells.join("  ")));
    }
    if let Some(o) = overlap {
        out_line(&format!("overlap: {o} works in both lists"));
    }
}

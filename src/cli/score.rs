//! `artlens score`: each backbone's taste score of new images, with the
//! rated works it drew on, side by side.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;

use artlens::explain::{self, RatedSet};
use artlens::head;
use artlens::imaging::{decode_file, DecodeLimits};
use artlens::ratings;
use artlens::report::{self, ModelScore, ScoreView, ScoredImage};

use super::store_args::{parse_models, ModelArgs, Models, StoreArgs};
use super::{out_line, Messages, EXIT_PARTIAL};

#[derive(Args, Debug)]
pub struct ScoreArgs {
    /// Images to score (stored works are looked up and left out of their
    /// own references).
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// Rated references per backbone.
    #[arg(short, long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    k: u32,
    #[arg(long, default_value = "both", value_parser = parse_models)]
    model: Models,
    /// Percentile of the collection's nearest-neighbour distances beyond
    /// which an image is flagged out of distribution.
    #[arg(long, default_value_t = explain::DEFAULT_OOD_PERCENTILE)]
    ood_percentile: f64,
    /// One JSON object per image on stdout.
    #[arg(long)]
    json: bool,
    /// Write a self-contained HTML report to FILE.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    weights: ModelArgs,
}

pub fn run(args: ScoreArgs, msg: Messages) -> Result<i32> {
    if !(0.0..=100.0).contains(&args.ood_percentile) {
        bail!("--ood-percentile must be between 0 and 100");
    }
    let store = args.store.open_existing()?;
    let all_ratings = ratings::ratings(&store)?;
    if all_ratings.is_empty() {
        bail!("no ratings in the store; `artlens rate import CSV` then `artlens train`");
    }
    let limits = DecodeLimits::default();
    let mut images: Vec<ScoredImage> = args
        .images
        .iter()
        .map(|p| ScoredImage {
            path: p.display().to_string(),
            ..Default::default()
        })
        .collect();
    // Per image: its pixels and, for a stored work, its (id, hash).
    type Decoded = Option<(image::RgbImage, Option<(u64, String)>)>;
    let decoded: Vec<Decoded> = args
        .images
        .iter()
        .zip(images.iter_mut())
        .map(|(p, out)| {
            let stored = artlens::scan::hash_file_bytes(p)
                .ok()
                .and_then(|(h, _)| store.artwork(&h).ok().flatten())
                .map(|a| (a.id, a.hash));
            match decode_file(p, &limits) {
                Ok(img) => Some((img, stored)),
                Err(e) => {
                    msg.error(&e);
                    out.error = Some(e.to_string());
                    None
                }
            }
        })
        .collect();

    for &kind in &args.model.0 {
        // The head first: without one there is nothing to explain.
        let trained = head::load_head(&store, kind)?;
        let Some(stored_fp) = store.fingerprint(kind)? else {
            bail!("the store holds no {kind} embeddings; run `artlens index DIR` first");
        };
        let rated = RatedSet::from_store(&store, kind, &all_ratings)?;
        if rated.is_empty() {
            bail!("no rated work has a {kind} embedding; run `artlens index` on the rated works");
        }
        let collection = store.embeddings(kind)?;
        let threshold = ood_threshold(&store, kind, &collection, args.ood_percentile)?;

        // Stored works reuse their stored vector; the others are embedded.
        let mut vectors: Vec<Option<Vec<f32>>> = vec![None; decoded.len()];
        let mut to_embed = Vec::new();
        for (i, d) in decoded.iter().enumerate() {
            if let Some((img, stored)) = d {
                match stored {
                    Some((_, hash)) => vectors[i] = store.embedding(kind, hash)?,
                    None => to_embed.push((i, img)),
                }
                if vectors[i].is_none() && stored.is_some() {
                    to_embed.push((i, img));
                }
            }
        }
        if !to_embed.is_empty() {
            let (backbone, _) = args.weights.load(kind, Some(&store))?;
            let diffs = backbone.fingerprint().differences(&stored_fp);
            if !diffs.is_empty() {
                bail!(
                    "{kind}: these weights differ from the store's ({}); pass the weights the store was built with",
                    diffs.join(", ")
                );
            }
            msg.info(format!("{kind}: embedding {} images", to_embed.len()));
            for chunk in to_embed.chunks(8) {
                let imgs: Vec<&image::RgbImage> = chunk.iter().map(|(_, img)| *img).collect();
                let out = backbone.embed_images(&imgs)?;
                for ((i, _), v) in chunk.iter().zip(out) {
                    vectors[*i] = Some(v);
                }
            }
        }
        for (i, v) in vectors.into_iter().enumerate() {
            let Some(v) = v else { continue };
            let exclude = decoded[i].as_ref().and_then(|d| d.1.as_ref().map(|s| s.0));
            let references = rated.references(&v, args.k as usize, exclude)?;
            // The rule: flagged when even the nearest rated work is
            // farther than the collection's usual nearest-neighbour distance.
            let nearest_ref = references.first().map(|r| r.similarity).unwrap_or(-1.0);
            images[i].models.insert(
                kind.name().to_string(),
                ModelScore {
                    score: trained.predict_f64(&v),
                    knn_estimate: explain::knn_estimate(&references),
                    references,
                    out_of_distribution: explain::is_out_of_distribution(nearest_ref, threshold),
                    nearest_similarity: nearest_ref,
                    threshold_similarity: 1.0 - threshold,
                },
            );
        }
    }
    for img in &mut images {
        if let (Some(a), Some(b)) = (img.models.get("dino"), img.models.get("dinov2")) {
            img.reference_overlap = Some(explain::reference_overlap(&a.references, &b.references));
        }
    }

    let view = ScoreView { images };
    if let Some(path) = &args.html {
        std::fs::write(path, report::render_score_html(&view))
            .with_context(|| format!("{}", path.display()))?;
        msg.info(format!("wrote {}", path.display()));
    }
    if args.json {
        for img in &view.images {
            out_line(&serde_json::to_string(img)?);
        }
    } else {
        print_text(&view);
    }
    let failed = view.images.iter().filter(|i| i.error.is_some()).count();
    if failed > 0 {
        msg.error(format!(
            "{failed} of {} images could not be scored",
            view.images.len()
        ));
        return Ok(EXIT_PARTIAL);
    }
    Ok(0)
}

/// The collection's nearest-neighbour distance at `percentile`, cached in the
/// store for this exact set of vectors: computing it is an all-pairs search
/// (seconds at tens of thousands of works), the same for every `score` call
/// until the collection changes.
fn ood_threshold(
    store: &artlens::store::Store,
    kind: artlens::model::ModelKind,
    collection: &[(u64, String, Vec<f32>)],
    percentile: f64,
) -> Result<f32> {
    #[derive(serde::Serialize, serde::Deserialize, PartialEq)]
    struct Cached {
        ids_hash: String,
        fingerprint: String,
        percentile: f64,
        threshold: f32,
    }
    let ids_hash = artlens::ann::ids_hash(collection.iter().map(|(id, _, _)| *id));
    let fingerprint = serde_json::to_string(&store.fingerprint(kind)?)?;
    let key = format!("ood/{}", kind.name());
    if let Some(c) = store.get_json::<Cached>("explain", &key)? {
        if c.ids_hash == ids_hash && c.fingerprint == fingerprint && c.percentile == percentile {
            return Ok(c.threshold);
        }
    }
    let refs: Vec<&[f32]> = collection.iter().map(|(_, _, v)| v.as_slice()).collect();
    let threshold = explain::nn_distance_threshold(&refs, percentile)?;
    store.put_json(
        "explain",
        &key,
        &Cached {
            ids_hash,
            fingerprint,
            percentile,
            threshold,
        },
    )?;
    Ok(threshold)
}

fn print_text(view: &ScoreView) {
    for img in &view.images {
        out_line(&img.path);
        if let Some(e) = &img.error {
            out_line(&format!("  error: {e}"));
            continue;
        }
        let models: BTreeMap<_, _> = img.models.iter().collect();
        for (name, m) in models {
            out_line(&format!(
                "  {name:<7} score {:>6.2}   kNN estimate {:>6}{}",
                m.score,
                m.knn_estimate
                    .map(|v| format!("{v:.2}"))
                    .unwrap_or_else(|| "-".into()),
                if m.out_of_distribution {
                    "   OUT OF DISTRIBUTION: far from every rated work, the score is a guess"
                } else {
                    ""
                }
            ));
            for r in &m.references {
                let name = r
                    .metadata
                    .get("title")
                    .cloned()
                    .or_else(|| r.path.clone())
                    .unwrap_or_else(|| r.hash.clone());
                out_line(&format!(
                    "      {:.3}  rated {:<5} #{} {name}",
                    r.similarity, r.rating, r.id
                ));
            }
        }
        if let Some(o) = img.reference_overlap {
            out_line(&format!("  references shared by both backbones: {o}"));
        }
    }
}

//! `artlens status`: what the store holds.

use anyhow::Result;
use clap::Args;
use serde_json::json;

use artlens::model::ModelKind;
use artlens::pipeline;

use super::store_args::StoreArgs;
use super::{out_line, Messages};

#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[arg(long)]
    json: bool,
}

pub fn run(args: StatusArgs, _msg: Messages) -> Result<i32> {
    let store = args.store.open_existing()?;
    let counts = store.counts()?;
    let failures = store.failures()?;
    let (vanished, _) = pipeline::vanished_paths(&store, false)?;
    let size = store.size_on_disk()?;
    let mut models = serde_json::Map::new();
    for kind in ModelKind::ALL {
        let fp = store.fingerprint(kind)?;
        let weights = store.weights_location(kind)?;
        models.insert(
            kind.name().into(),
            json!({
                "embeddings": counts.embeddings.get(&kind).copied().unwrap_or(0),
                "fingerprint": fp,
                "weights": weights,
            }),
        );
    }
    if args.json {
        out_line(
            &json!({
                "store": store.path().display().to_string(),
                "format_version": artlens::store::FORMAT_VERSION,
                "artworks": counts.artworks,
                "models": models,
                "failures": failures,
                "vanished": vanished,
                "size_bytes": size,
            })
            .to_string(),
        );
        return Ok(0);
    }
    out_line(&format!(
        "store       {} (format {}, {:.1} MiB)",
        store.path().display(),
        artlens::store::FORMAT_VERSION,
        size as f64 / (1 << 20) as f64
    ));
    out_line(&format!("artworks    {}", counts.artworks));
    for kind in ModelKind::ALL {
        let n = counts.embeddings.get(&kind).copied().unwrap_or(0);
        match store.fingerprint(kind)? {
            Some(fp) => out_line(&format!(
                "{:<11} {n} embeddings, dim {}, weights blake3 {}…, preprocessing {}",
                kind.name(),
                fp.dim,
                &fp.weights_blake3[..12.min(fp.weights_blake3.len())],
                serde_json::to_string(&fp.preprocess).unwrap_or_default()
            )),
            None => out_line(&format!("{:<11} not indexed", kind.name())),
        }
    }
    out_line(&format!("failures    {}", failures.len()));
    for f in &failures {
        out_line(&format!("  {}: {}", f.path, f.reason));
    }
    out_line(&format!("vanished    {}", vanished.len()));
    for p in &vanished {
        out_line(&format!("  {p}"));
    }
    if !vanished.is_empty() {
        out_line("(`artlens index DIR --prune` forgets vanished files)");
    }
    Ok(0)
}

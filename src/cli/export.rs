//! `artlens export`: one backbone's raw embeddings as `embeddings.npy`
//! (or `.csv`) plus `items.csv` in the same row order.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};

use artlens::model::ModelKind;

use super::store_args::StoreArgs;
use super::Messages;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Npy,
    Csv,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[arg(long, value_parser = super::embed::parse_model)]
    model: ModelKind,
    #[arg(long, value_enum, default_value = "npy")]
    format: Format,
    /// Folder to write into (created if needed).
    out_dir: PathBuf,
    #[command(flatten)]
    store: StoreArgs,
}

/// A version-1.0 `.npy` file of little-endian float32, `rows × cols`.
pub fn npy_bytes(rows: usize, cols: usize, data: impl Iterator<Item = f32>) -> Vec<u8> {
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    // Magic (6) + version (2) + header length (2) + header + '\n' is a multiple of 64.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + rows * cols * 4);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a
/// reader never sees half a file.
fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("partial");
    let mut f = std::fs::File::create(&tmp).with_context(|| format!("{}", tmp.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("{}", tmp.display()))?;
    f.sync_all().ok();
    std::fs::rename(&tmp, path).with_context(|| format!("{}", path.display()))?;
    Ok(())
}

pub fn run(args: ExportArgs, msg: Messages) -> Result<i32> {
    let store = args.store.open_existing()?;
    let items = store.embeddings(args.model)?;
    if items.is_empty() {
        bail!(
            "the store holds no {} embeddings; run `artlens index DIR` first",
            args.model
        );
    }
    let dim = items[0].2.len();
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("{}", args.out_dir.display()))?;
    let mut arts = Vec::with_capacity(items.len());
    for (_, hash, _) in &items {
        arts.push(
            store
                .artwork(hash)?
                .with_context(|| format!("embedding {hash} has no artwork record"))?,
        );
    }
    let keys: BTreeSet<String> = arts
        .iter()
        .flat_map(|a| a.metadata.keys().cloned())
        .collect();
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["id".to_string(), "hash".into(), "path".into()];
    header.extend(keys.iter().cloned());
    w.write_record(&header)?;
    for a in &arts {
        let mut row = vec![
            a.id.to_string(),
            a.hash.clone(),
            a.paths.first().cloned().unwrap_or_default(),
        ];
        row.extend(
            keys.iter()
                .map(|k| a.metadata.get(k).cloned().unwrap_or_default()),
        );
        w.write_record(&row)?;
    }
    let items_csv = w.into_inner().context("writing items.csv")?;
    match args.format {
        Format::Npy => {
            let bytes = npy_bytes(
                items.len(),
                dim,
                items.iter().flat_map(|(_, _, v)| v.iter().copied()),
            );
            write_atomic(&args.out_dir.join("embeddings.npy"), &bytes)?;
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            for (_, _, v) in &items {
                w.write_record(v.iter().map(|x| x.to_string()))?;
            }
            write_atomic(
                &args.out_dir.join("embeddings.csv"),
                &w.into_inner().context("writing embeddings.csv")?,
            )?;
        }
    }
    write_atomic(&args.out_dir.join("items.csv"), &items_csv)?;
    msg.info(format!(
        "wrote {} {} embeddings (dim {dim}) and items.csv to {}",
        items.len(),
        args.model,
        args.out_dir.display()
    ));
    Ok(0)
}

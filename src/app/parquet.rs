//! `export --format parquet`: the embeddings as Apache Parquet, the columnar
//! format pandas, DuckDB, Spark, LanceDB and FAISS tooling read directly.
//!
//! The details are in `docs/API.md`, section "The Parquet export".

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{
    ArrayRef, FixedSizeListArray, Float32Array, Float64Array, RecordBatch, StringArray, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use serde::Serialize;

use super::export_files::{listed_export_files, MANIFEST_FILE};
use super::views::{ExportStamp, ExportedEmbeddings, ParquetExportView, ParquetManifest};
use super::Collection;
use crate::error::{Error, Result};
use crate::model::registry::BackboneId;
use crate::ratings::Rater;
use crate::store::atomic::{write_synced, FolderUpdate};
use crate::store::Artwork;

/// Rows per row group: 8192 rows of 768 floats are 25 MB, large enough for
/// fast scans, small enough to build in memory beside the store's vectors.
pub const DEFAULT_ROW_GROUP_ROWS: usize = 8192;

/// Names of the fixed columns; a metadata key spelled like one of them is
/// written as `metadata.<key>`.
const FIXED_COLUMNS: [&str; 6] = ["id", "hash", "path", "paths", "rating", "embedding"];

/// What `export --format parquet` is asked.
#[derive(Debug, Clone)]
pub struct ParquetRequest {
    /// Backbones to export; empty: every backbone the store holds.
    pub backbones: Vec<BackboneId>,
    /// The folder the Parquet files and their manifest are written to.
    pub out_dir: PathBuf,
    /// Rows per row group ([`DEFAULT_ROW_GROUP_ROWS`]).
    pub row_group_rows: usize,
    /// Whose ratings fill the `rating` column.
    pub rater: Rater,
}

impl Collection {
    /// Writes each backbone's embeddings as a Parquet file (see the module
    /// documentation) and replaces the folder's older export atomically.
    pub fn export_parquet(&self, req: &ParquetRequest) -> Result<ParquetExportView> {
        let backbones = self.select_backbones(if req.backbones.is_empty() {
            None
        } else {
            Some(&req.backbones)
        })?;
        let out = &req.out_dir;
        let names: Vec<String> = backbones
            .iter()
            .map(|id| format!("{}.parquet", id.folder_name()))
            .chain([MANIFEST_FILE.to_string()])
            .collect();
        // Dropped on an error before `commit`, the update removes its
        // staging folder: the folder is left as it was.
        let update = FolderUpdate::begin(out, &names, listed_export_files)?;
        let staging = update.staging().to_path_buf();
        let mut files = Vec::new();
        for id in &backbones {
            files.push(self.write_parquet(id, &req.rater, &staging, req.row_group_rows.max(1))?);
        }
        let mut view = ParquetExportView {
            out_dir: out.display().to_string(),
            format: "parquet".into(),
            files,
            replaced: false,
            artlens_version: env!("CARGO_PKG_VERSION").to_string(),
        };
        let json = serde_json::to_vec_pretty(&view)
            .map_err(|e| Error::InvalidArgument(format!("manifest.json: {e}")))?;
        write_synced(&staging.join(MANIFEST_FILE), &json)?;
        view.replaced = update.commit()?.0;
        Ok(view)
    }

    fn write_parquet(
        &self,
        id: &BackboneId,
        rater: &Rater,
        dir: &Path,
        row_group_rows: usize,
    ) -> Result<ParquetManifest> {
        let store = self.store();
        let not_indexed = || Error::NotIndexed {
            store: store.path().to_path_buf(),
            backbone: id.name(),
        };
        let fingerprint = store.fingerprint(id)?.ok_or_else(not_indexed)?;
        let items = store.embeddings(id)?;
        if items.is_empty() {
            return Err(not_indexed());
        }
        let dim = items[0].2.len();
        let mut arts: HashMap<String, Artwork> = HashMap::with_capacity(items.len());
        for (_, hash, _) in &items {
            let art = store.artwork(hash)?.ok_or_else(|| Error::Store {
                path: store.path().to_path_buf(),
                reason: format!("embedding {hash} has no artwork record"),
            })?;
            arts.insert(hash.clone(), art);
        }
        let rated = self.rating_map(rater)?;
        let keys: Vec<String> = arts
            .values()
            .flat_map(|a| a.metadata.keys().cloned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let column_of = |k: &str| {
            if FIXED_COLUMNS.contains(&k) {
                format!("metadata.{k}")
            } else {
                k.to_string()
            }
        };
        let item_field = Arc::new(Field::new("item", DataType::Float32, false));
        let mut fields = vec![
            Field::new("id", DataType::UInt64, false),
            Field::new("hash", DataType::Utf8, false),
            Field::new("path", DataType::Utf8, true),
            Field::new(
                "paths",
                DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
                false,
            ),
            Field::new("rating", DataType::Float64, true),
        ];
        for k in &keys {
            fields.push(Field::new(column_of(k), DataType::Utf8, true));
        }
        fields.push(Field::new(
            "embedding",
            DataType::FixedSizeList(item_field.clone(), dim as i32),
            false,
        ));
        let schema = Arc::new(Schema::new(fields));

        let file_name = format!("{}.parquet", id.folder_name());
        let row_groups = items.len().div_ceil(row_group_rows);
        let mut manifest = ParquetManifest {
            file: file_name.clone(),
            embeddings: ExportedEmbeddings::of(id, fingerprint.clone(), dim, items.len()),
            row_groups,
            metadata_columns: keys.iter().map(|k| column_of(k)).collect(),
            stamp: ExportStamp::now(store, rater),
        };
        let kv = vec![
            KeyValue::new(
                "artlens.backbone".into(),
                manifest.embeddings.backbone.clone(),
            ),
            KeyValue::new("artlens.hub_id".into(), manifest.embeddings.hub_id.clone()),
            KeyValue::new("artlens.dim".into(), dim.to_string()),
            KeyValue::new("artlens.fingerprint".into(), to_json(&fingerprint)),
            KeyValue::new(
                "artlens.preprocess".into(),
                to_json(&fingerprint.preprocess),
            ),
            KeyValue::new("artlens.rater".into(), manifest.stamp.rater.clone()),
            KeyValue::new(
                "artlens.version".into(),
                manifest.stamp.artlens_version.clone(),
            ),
            KeyValue::new("artlens.manifest".into(), to_json(&manifest)),
        ];
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(row_group_rows))
            .set_key_value_metadata(Some(kv))
            .build();
        let path = dir.join(&file_name);
        let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
        let pq_err = |e: parquet::errors::ParquetError| Error::Io {
            path: path.clone(),
            source: std::io::Error::other(e.to_string()),
        };
        let arrow_err = |e: arrow_schema::ArrowError| Error::Io {
            path: path.clone(),
            source: std::io::Error::other(e.to_string()),
        };
        let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(pq_err)?;
        for chunk in items.chunks(row_group_rows) {
            let rows: Vec<&Artwork> = chunk.iter().map(|(_, h, _)| &arts[h]).collect();
            let mut columns: Vec<ArrayRef> = vec![
                Arc::new(UInt64Array::from_iter_values(rows.iter().map(|a| a.id))),
                Arc::new(StringArray::from_iter_values(
                    rows.iter().map(|a| a.hash.as_str()),
                )),
                Arc::new(StringArray::from_iter(
                    rows.iter().map(|a| a.paths.first().map(String::as_str)),
                )),
            ];
            let mut paths = ListBuilder::new(StringBuilder::new());
            for a in &rows {
                for p in &a.paths {
                    paths.values().append_value(p);
                }
                paths.append(true);
            }
            columns.push(Arc::new(paths.finish()));
            columns.push(Arc::new(Float64Array::from_iter(
                rows.iter().map(|a| rated.get(&a.hash).copied()),
            )));
            for k in &keys {
                columns.push(Arc::new(StringArray::from_iter(
                    rows.iter().map(|a| a.metadata.get(k).map(String::as_str)),
                )));
            }
            let mut floats = Vec::with_capacity(chunk.len() * dim);
            for (_, _, v) in chunk {
                floats.extend_from_slice(v);
            }
            let values = Arc::new(Float32Array::from(floats));
            columns.push(Arc::new(
                FixedSizeListArray::try_new(item_field.clone(), dim as i32, values, None)
                    .map_err(arrow_err)?,
            ));
            let batch = RecordBatch::try_new(schema.clone(), columns).map_err(arrow_err)?;
            writer.write(&batch).map_err(pq_err)?;
            // One row group per chunk: its buffers are released before the
            // next chunk is copied.
            writer.flush().map_err(pq_err)?;
        }
        let file = writer.into_inner().map_err(pq_err)?;
        file.sync_all().map_err(|e| Error::io(&path, e))?;
        manifest.row_groups = row_groups;
        Ok(manifest)
    }
}

/// Serialises a manifest part for the key-value metadata; these plain
/// structs always serialise.
fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

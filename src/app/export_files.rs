//! The files of an export folder that belong to artlens: the manifest's
//! name and what a manifest lists. Shared by the NumPy/CSV export
//! (`query.rs`) and the Parquet export (`parquet.rs`, behind the `parquet`
//! feature), so that either replaces exactly the files an earlier export of
//! either kind wrote.

use std::collections::BTreeSet;
use std::path::Path;

/// The name of an export's manifest.
pub(crate) const MANIFEST_FILE: &str = "manifest.json";

/// The files the artlens export manifest in `dir` lists, the manifest
/// included; empty when `dir` holds no manifest written by artlens. Both
/// manifest shapes are read: the npy/CSV one (`files`: names) and the
/// Parquet one (`files`: objects with a `file`). Names with a path
/// separator are ignored, so a doctored manifest cannot make an export
/// remove anything outside its folder.
pub(crate) fn listed_export_files(dir: &Path) -> BTreeSet<String> {
    let Ok(bytes) = std::fs::read(dir.join(MANIFEST_FILE)) else {
        return BTreeSet::new();
    };
    let Ok(serde_json::Value::Object(m)) = serde_json::from_slice::<serde_json::Value>(&bytes)
    else {
        return BTreeSet::new();
    };
    if !m.contains_key("artlens_version") {
        return BTreeSet::new();
    }
    let mut names: BTreeSet<String> = m
        .get("files")
        .and_then(|f| f.as_array())
        .into_iter()
        .flatten()
        .filter_map(|f| {
            f.as_str()
                .or_else(|| f.get("file").and_then(|n| n.as_str()))
        })
        .filter(|n| !n.is_empty() && !n.contains(['/', '\\']) && *n != "." && *n != "..")
        .map(str::to_string)
        .collect();
    names.insert(MANIFEST_FILE.to_string());
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_manifest_shapes_list_their_files_and_nothing_else_counts() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        assert!(listed_export_files(d).is_empty());
        std::fs::write(d.join(MANIFEST_FILE), r#"{"files": ["notes.txt"]}"#).unwrap();
        assert!(listed_export_files(d).is_empty(), "not written by artlens");
        std::fs::write(
            d.join(MANIFEST_FILE),
            r#"{"artlens_version": "0.1", "files": ["embeddings.npy", "items.csv", "../x", "a/b"]}"#,
        )
        .unwrap();
        let names: Vec<String> = listed_export_files(d).into_iter().collect();
        assert_eq!(names, ["embeddings.npy", "items.csv", "manifest.json"]);
        std::fs::write(
            d.join(MANIFEST_FILE),
            r#"{"artlens_version": "0.1", "format": "parquet", "files": [{"file": "dinov2.parquet"}]}"#,
        )
        .unwrap();
        let names: Vec<String> = listed_export_files(d).into_iter().collect();
        assert_eq!(names, ["dinov2.parquet", "manifest.json"]);
    }
}

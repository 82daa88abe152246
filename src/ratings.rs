//! A person's ratings of works, kept in the store's `ratings` tree and keyed
//! by content hash, so that a rating follows the work through renames and
//! duplicates rather than staying with a path.
//!
//! | key (tree `ratings`) | value |
//! |----------------------|-------|
//! | `<hash>`             | [`Rating`] in the store's [`Envelope`]: `{"format_version": 1, "fingerprints": [], "time": …, "value": {"rating": 4.5, "source": "csv:ratings.csv:7", "time": 1700000000}}` |
//!
//! Ratings come from a CSV file ([`import_csv`], all good rows in one atomic
//! batch, and by default nothing at all when a row is bad) or one at a time
//! ([`set_rating`]). Any numeric scale works: scores are stored as given,
//! and the heads learn whatever scale they find.
//!
//! A CSV names works as the rest of artlens does ([`crate::works`]: numeric
//! id, content hash or unique prefix, stored path, path relative to the
//! collection root or to the CSV, a unique path ending or file name), so that
//! a file of relative paths such as `Color_Field/x.png` matches works stored
//! at `/data/wikiart/Color_Field/x.png`.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::{Artwork, Envelope, Store};
use crate::works::Resolver;

/// The tree ratings live in.
pub const RATINGS_TREE: &str = "ratings";

/// Header names accepted for the column naming the work, in order of
/// preference (matched case-insensitively).
pub const FILE_COLUMNS: [&str; 6] = ["path", "file", "filename", "image", "id", "hash"];

/// Header names accepted for the score column, in order of preference.
pub const SCORE_COLUMNS: [&str; 3] = ["rating", "score", "stars"];

/// How many bad rows an import error lists before summarising the rest;
/// the [`ImportReport`] of a `skip_bad` import always holds all of them.
const LISTED_BAD_ROWS: usize = 50;

/// One stored rating.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rating {
    pub rating: f64,
    /// Where it came from: `csv:<file>:<row>` or `set`.
    pub source: String,
    /// Seconds since the Unix epoch.
    pub time: u64,
}

/// A CSV row that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadRow {
    /// The 1-based line the row starts on (the header is line 1).
    pub row: usize,
    pub reason: String,
}

/// What [`import_csv`] did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImportReport {
    /// Data rows read (good and bad).
    pub rows: usize,
    /// Ratings written.
    pub imported: usize,
    /// Of those, works that had a rating before (now replaced).
    pub replaced: usize,
    /// Rows skipped (only with `skip_bad`; otherwise they make the import fail).
    pub bad: Vec<BadRow>,
    /// The header names used for the work and the score.
    pub file_column: String,
    pub score_column: String,
    /// What the import found suspicious but imported: every rating equal
    /// (no spread: nothing a head could learn).
    pub warnings: Vec<String>,
}

/// Imports ratings from a CSV file with a header.
///
/// The work column is the first of [`FILE_COLUMNS`] present, the score
/// column the first of [`SCORE_COLUMNS`]. A row is bad when its work is
/// unknown or ambiguous, its score is missing, not a number or not finite,
/// it rates a work an earlier row already rated (the first row counts), or
/// it has another number of fields than the header.
///
/// Without `skip_bad`, any bad row fails the import with [`Error::CsvRow`]
/// listing the bad rows with their line numbers, and nothing is written.
/// With `skip_bad`, the good rows are imported and the bad ones returned.
/// Either way the good rows are written in one atomic batch.
pub fn import_csv(store: &Store, csv: &Path, skip_bad: bool) -> Result<ImportReport> {
    let bytes = crate::scan::read_csv_bytes(csv)?;
    let lines = crate::scan::LineIndex::new(&bytes);
    let line_of = |p: &csv::Position| lines.line(p.byte());
    // `flexible` lets rows of the wrong length through, so that they are
    // reported with the others instead of stopping the reader.
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes.as_slice());
    let header_error = |reason: String| Error::CsvRow {
        path: csv.to_path_buf(),
        row: 1,
        reason,
    };
    let header_record = reader.headers().map_err(|e| csv_read_error(csv, e))?;
    if let Some(why) = crate::scan::oversized_field(header_record) {
        return Err(header_error(why));
    }
    let headers: Vec<String> = header_record.iter().map(|h| h.trim().to_string()).collect();
    if headers.iter().all(|h| h.is_empty()) {
        return Err(header_error(format!(
            "no header; the first line must name a work column ({}) and a score column ({})",
            FILE_COLUMNS.join(", "),
            SCORE_COLUMNS.join(", ")
        )));
    }
    let find_column = |names: &[&str]| {
        names
            .iter()
            .find_map(|name| headers.iter().position(|h| h.eq_ignore_ascii_case(name)))
    };
    let file_col = find_column(&FILE_COLUMNS).ok_or_else(|| {
        header_error(format!(
            "no column naming the work: the header needs one of {} (it has {})",
            FILE_COLUMNS.join(", "),
            headers.join(", ")
        ))
    })?;
    let score_col = find_column(&SCORE_COLUMNS).ok_or_else(|| {
        header_error(format!(
            "no score column: the header needs one of {} (it has {})",
            SCORE_COLUMNS.join(", "),
            headers.join(", ")
        ))
    })?;

    for want in FILE_COLUMNS.iter().chain(&SCORE_COLUMNS) {
        let n = headers
            .iter()
            .filter(|h| h.eq_ignore_ascii_case(want))
            .count();
        if n > 1 {
            return Err(header_error(format!(
                "column `{want}` appears {n} times in the header; which one counts is ambiguous"
            )));
        }
    }
    // With both an id and a path column, a row must name one work with both.
    let id_col = (headers[file_col] != "id")
        .then(|| headers.iter().position(|h| h.eq_ignore_ascii_case("id")))
        .flatten();

    let resolver = Resolver::new(store, csv.parent());
    let mut report = ImportReport {
        file_column: headers[file_col].clone(),
        score_column: headers[score_col].clone(),
        ..ImportReport::default()
    };
    let mut good: Vec<(String, f64, usize)> = Vec::new();
    let mut first_row: HashMap<String, usize> = HashMap::new();
    let mut last_line = 1;
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                if let csv::ErrorKind::Io(_) = e.kind() {
                    return Err(csv_read_error(csv, e));
                }
                // Invalid UTF-8 and the like: the reader can go on.
                let row = e.position().map_or(last_line + 1, line_of);
                last_line = row;
                report.rows += 1;
                report.bad.push(BadRow {
                    row,
                    reason: format!("unreadable: {e}"),
                });
                continue;
            }
        };
        let row = record.position().map_or(last_line + 1, line_of);
        last_line = row;
        report.rows += 1;
        if let Some(why) = crate::scan::oversized_field(&record) {
            report.bad.push(BadRow { row, reason: why });
            continue;
        }
        if record.len() != headers.len() {
            report.bad.push(BadRow {
                row,
                reason: format!(
                    "has {} fields, the header has {}",
                    record.len(),
                    headers.len()
                ),
            });
            continue;
        }
        let mut reasons = Vec::new();
        let score = match parse_score(&record[score_col], &report.score_column) {
            Ok(v) => Some(v),
            Err(reason) => {
                reasons.push(reason);
                None
            }
        };
        let cell = record[file_col].trim();
        let work = if cell.is_empty() {
            reasons.push(format!("no work named in column `{}`", report.file_column));
            None
        } else {
            match resolver.resolve(cell)? {
                Ok(art) => Some(art),
                Err(miss) => {
                    reasons.push(miss.reason(&crate::scan::quote_cell(cell)));
                    None
                }
            }
        };
        let work = match (work, id_col.and_then(|c| record.get(c))) {
            (Some(art), Some(id)) if !id.trim().is_empty() && id.trim() != art.id.to_string() => {
                reasons.push(format!(
                    "column `id` names work {} but column `{}` names work {} (`{}`)",
                    crate::scan::quote_cell(id.trim()),
                    report.file_column,
                    art.id,
                    crate::scan::quote_cell(cell)
                ));
                None
            }
            (work, _) => work,
        };
        if let Some(art) = &work {
            if let Some(first) = first_row.get(&art.hash) {
                reasons.push(format!(
                    "duplicate: row {first} already rates this work (`{cell}`)"
                ));
            }
        }
        match (work, score) {
            (Some(art), Some(score)) if reasons.is_empty() => {
                first_row.insert(art.hash.clone(), row);
                good.push((art.hash, score, row));
            }
            (work, _) => {
                // A bad row still claims its work, so that a later row
                // rating it is reported as a duplicate too.
                if let Some(art) = work {
                    first_row.entry(art.hash).or_insert(row);
                }
                report.bad.push(BadRow {
                    row,
                    reason: reasons.join(", "),
                });
            }
        }
    }

    if crate::scan::has_unclosed_quote(&bytes) {
        // The last record opened the quote and swallowed the rest.
        let row = last_line.max(2);
        good.retain(|(_, _, r)| *r != row);
        report.bad.push(BadRow {
            row,
            reason: "a quote opened on this row is never closed: it runs to the end of the file"
                .into(),
        });
    }
    if !report.bad.is_empty() && !skip_bad {
        return Err(Error::CsvRow {
            path: csv.to_path_buf(),
            row: report.bad[0].row,
            reason: describe_bad_rows(&report.bad),
        });
    }

    let time = now_secs();
    let mut batch = store.batch(RATINGS_TREE)?;
    for (hash, rating, row) in &good {
        if store.has_record(RATINGS_TREE, hash)? {
            report.replaced += 1;
        }
        let value = Rating {
            rating: *rating,
            source: format!("csv:{}:{row}", csv.display()),
            time,
        };
        batch.put(hash, &value, Vec::new())?;
    }
    store.apply(batch)?;
    report.imported = good.len();
    let all = ratings(store)?;
    if all.len() >= 2 && all.iter().all(|(_, r)| *r == all[0].1) {
        report.warnings.push(format!(
            "every rating in the store is {}: ratings with no spread teach a head nothing \
             (`artlens train` refuses them); rate works differently",
            all[0].1
        ));
    }
    Ok(report)
}

/// The error message for a failed import: the first bad row's reason (the
/// error names its row), then the others as `row N: reason`, joined by "; ".
fn describe_bad_rows(bad: &[BadRow]) -> String {
    let mut parts = vec![bad[0].reason.clone()];
    for b in bad.iter().skip(1).take(LISTED_BAD_ROWS - 1) {
        parts.push(format!("row {}: {}", b.row, b.reason));
    }
    let mut msg = parts.join("; ");
    if bad.len() > LISTED_BAD_ROWS {
        msg.push_str(&format!("; and {} more", bad.len() - LISTED_BAD_ROWS));
    }
    let count = match bad.len() {
        1 => "1 bad row".to_string(),
        n => format!("{n} bad rows"),
    };
    msg.push_str(&format!(
        " ({count}; nothing imported: fix them, or import the good rows only with --skip-bad)"
    ));
    msg
}

fn parse_score(cell: &str, column: &str) -> std::result::Result<f64, String> {
    let s = cell.trim();
    if s.is_empty() {
        return Err(format!("missing score in column `{column}`"));
    }
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(format!("score `{s}` is not a finite number")),
        Err(_) => Err(format!("score `{s}` is not a number")),
    }
}

fn csv_read_error(csv: &Path, e: csv::Error) -> Error {
    let row = e.position().map_or(1, |p| p.line() as usize).max(1);
    let reason = e.to_string();
    match e.into_kind() {
        csv::ErrorKind::Io(io) => Error::io(csv, io),
        _ => Error::CsvRow {
            path: csv.to_path_buf(),
            row,
            reason,
        },
    }
}

/// Rates one work (id, hash or prefix, stored path, or path suffix) with
/// `score`, replacing an earlier rating, and returns the work.
pub fn set_rating(store: &Store, query: &str, score: f64) -> Result<Artwork> {
    if !score.is_finite() {
        return Err(Error::InvalidArgument(format!(
            "a rating must be a finite number, got {score}"
        )));
    }
    let art = resolve_work(store, query)?;
    let value = Rating {
        rating: score,
        source: "set".into(),
        time: now_secs(),
    };
    store.put_record(RATINGS_TREE, &art.hash, &value, Vec::new())?;
    Ok(art)
}

/// Finds the work `query` names (see [`crate::works::resolve_work`]).
pub fn resolve_work(store: &Store, query: &str) -> Result<Artwork> {
    crate::works::resolve_work(store, query)
}

/// Every rating as `(hash, rating)`, sorted by hash.
pub fn ratings(store: &Store) -> Result<Vec<(String, f64)>> {
    Ok(rating_records(store)?
        .into_iter()
        .map(|(hash, r)| (hash, r.rating))
        .collect())
}

/// Every rating with its source and time, sorted by hash.
pub fn rating_records(store: &Store) -> Result<Vec<(String, Rating)>> {
    Ok(store
        .scan_records::<Rating>(RATINGS_TREE, "")?
        .into_iter()
        .map(|(k, e)| (k, e.value))
        .collect())
}

/// The rating of the work with content hash `hash`, if any.
pub fn rating(store: &Store, hash: &str) -> Result<Option<Rating>> {
    Ok(store
        .get_record::<Rating>(RATINGS_TREE, hash)?
        .map(|e: Envelope<Rating>| e.value))
}

/// A digest of every (work, rating) pair: saved with trained heads, so that
/// `score` and `compare` can say when the ratings changed since training.
pub fn ratings_digest(store: &Store) -> Result<String> {
    let mut h = blake3::Hasher::new();
    for (hash, r) in ratings(store)? {
        h.update(hash.as_bytes());
        h.update(&r.to_le_bytes());
    }
    Ok(h.finalize().to_hex()[..16].to_string())
}

/// Removes the rating of the work `query` names; true when it had one. A
/// full content hash removes its rating even when the work itself is no
/// longer in the store.
pub fn remove_rating(store: &Store, query: &str) -> Result<bool> {
    let q = query.trim();
    let lower = q.to_ascii_lowercase();
    if lower.len() == 64 && rating(store, &lower)?.is_some() {
        return store.remove_key(RATINGS_TREE, &lower);
    }
    let art = resolve_work(store, q)?;
    let had = store.remove_key(RATINGS_TREE, &art.hash)?;
    store.flush()?;
    Ok(had)
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_parsed_strictly() {
        assert_eq!(parse_score(" 4.5 ", "rating"), Ok(4.5));
        assert_eq!(parse_score("-2", "rating"), Ok(-2.0));
        assert!(parse_score("", "rating")
            .unwrap_err()
            .contains("missing score"));
        assert!(parse_score("abc", "rating")
            .unwrap_err()
            .contains("not a number"));
        assert!(parse_score("NaN", "rating")
            .unwrap_err()
            .contains("not a finite number"));
        assert!(parse_score("inf", "rating")
            .unwrap_err()
            .contains("not a finite number"));
    }

    #[test]
    fn bad_rows_are_listed_with_their_numbers() {
        let bad = vec![
            BadRow {
                row: 3,
                reason: "unknown work `a`".into(),
            },
            BadRow {
                row: 5,
                reason: "score `x` is not a number".into(),
            },
        ];
        let msg = describe_bad_rows(&bad);
        assert!(
            msg.starts_with(
                "unknown work `a`; row 5: score `x` is not a number (2 bad rows; nothing imported"
            ),
            "{msg}"
        );
    }
}

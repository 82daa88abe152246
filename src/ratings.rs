//! People's ratings of works, kept in the store's `ratings` tree and keyed
//! by rater and content hash, so that a rating follows the work through
//! renames and duplicates rather than staying with a path, and several
//! people (or one person in several moods) can rate the same collection.
//!
//! The details are in `docs/RATINGS.md`, section "How ratings are stored".

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::{Artwork, Envelope, Store};
use crate::works::Resolver;

/// The tree ratings live in.
pub(crate) const RATINGS_TREE: &str = "ratings";

/// Header names accepted for the column naming the work, in order of
/// preference (matched case-insensitively).
pub(crate) const FILE_COLUMNS: [&str; 6] = ["path", "file", "filename", "image", "id", "hash"];

/// Header names accepted for the score column, in order of preference.
pub(crate) const SCORE_COLUMNS: [&str; 3] = ["rating", "score", "stars"];

/// The header name of the optional column naming who gave each rating
/// (matched case-insensitively); rows without one use the import's rater.
pub(crate) const RATER_COLUMN: &str = "rater";

/// The rater a command uses when none is named.
pub(crate) const DEFAULT_RATER: &str = "me";

/// The longest rater name accepted.
pub(crate) const MAX_RATER_LEN: usize = 64;

/// Who gave a rating or a preference: a validated name (letters and digits
/// of any script, `-`, `_`; at most `MAX_RATER_LEN` characters). [`Rater::default`] is
/// `DEFAULT_RATER`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Rater(String);

impl Rater {
    /// Validates a rater name (surrounding whitespace is ignored).
    pub fn parse(name: &str) -> Result<Rater> {
        let n = name.trim();
        let bad = |reason: &str| Error::BadRater {
            name: crate::scan::quote_cell(n),
            reason: reason.to_string(),
        };
        if n.is_empty() {
            return Err(bad("it is empty"));
        }
        if n.chars().count() > MAX_RATER_LEN {
            return Err(bad(&format!(
                "it is longer than {MAX_RATER_LEN} characters"
            )));
        }
        // Letters and digits of any script (`Zoë`, `Łukasz`, `李`), since a
        // rater is a person's name; a name is only a key prefix, so anything
        // that is not a separator or punctuation is safe. A combining mark
        // is refused: `Zoë` typed with one would be a second rater beside
        // the precomposed `Zoë`.
        if let Some(c) = n
            .chars()
            .find(|c| !(c.is_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(bad(&format!(
                "`{}` is not a letter, digit, - or _",
                c.escape_default()
            )));
        }
        Ok(Rater(n.to_string()))
    }

    /// The rater's name as stored and shown (`me`, `anna_2`).
    pub fn name(&self) -> &str {
        &self.0
    }

    /// Whether this is `DEFAULT_RATER`, whose records keep the keys they
    /// had before raters existed.
    pub fn is_default(&self) -> bool {
        self.0 == DEFAULT_RATER
    }

    /// The prefix of this rater's keys in a tree shared by raters: empty for
    /// the default rater, `<name>/` for the others.
    pub(crate) fn key_prefix(&self) -> String {
        if self.is_default() {
            String::new()
        } else {
            format!("{}/", self.0)
        }
    }

    /// The `ratings` key of this rater's rating of the work `hash`.
    pub(crate) fn rating_key(&self, hash: &str) -> String {
        format!("{}{hash}", self.key_prefix())
    }
}

impl Default for Rater {
    fn default() -> Self {
        Rater(DEFAULT_RATER.to_string())
    }
}

impl std::fmt::Display for Rater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Rater {
    type Err = Error;
    fn from_str(s: &str) -> Result<Rater> {
        Rater::parse(s)
    }
}

impl TryFrom<String> for Rater {
    type Error = Error;
    fn try_from(s: String) -> Result<Rater> {
        Rater::parse(&s)
    }
}

impl From<Rater> for String {
    fn from(r: Rater) -> String {
        r.0
    }
}

/// Splits a `ratings` key into its rater and content hash (see the module
/// docs); `None` for a key no rater could have written.
fn split_key(key: &str) -> Option<(Rater, &str)> {
    match key.split_once('/') {
        None => Some((Rater::default(), key)),
        Some((name, hash)) => Rater::parse(name)
            .ok()
            .filter(|r| !r.is_default() && !hash.contains('/'))
            .map(|r| (r, hash)),
    }
}

/// How many bad rows an import error lists before summarising the rest;
/// the [`ImportReport`] of a `skip_bad` import always holds all of them.
const LISTED_BAD_ROWS: usize = 50;

/// One stored rating.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rating {
    /// The rating, on the rater's own scale (any finite number).
    pub rating: f64,
    /// Where it came from: `csv:<file>:<row>` or `set`.
    pub source: String,
    /// Seconds since the Unix epoch.
    pub time: u64,
}

/// A CSV row that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BadRow {
    /// The 1-based line the row starts on (the header is line 1).
    pub row: usize,
    /// What is wrong with the row.
    pub reason: String,
}

/// What [`import_csv_as`] did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
    /// The header name of the score column.
    pub score_column: String,
    /// The header name of the rater column, when the CSV has one.
    pub rater_column: Option<String>,
    /// Ratings written per rater.
    pub raters: std::collections::BTreeMap<String, usize>,
    /// What the import found suspicious but imported: every rating equal
    /// (no spread: nothing a head could learn).
    pub warnings: Vec<String>,
}

/// Imports ratings from a CSV file with a header, as `rater`'s, or, when
/// the CSV has a `RATER_COLUMN`, as the rater each row names (an empty
/// cell: `rater`).
///
/// The work column is the first of `FILE_COLUMNS` present, the score
/// column the first of `SCORE_COLUMNS`. A row is bad when its work is
/// unknown or ambiguous, its score is missing, not a number or not finite,
/// it rates a work an earlier row already rated (the first row counts), or
/// it has another number of fields than the header, or its rater name is
/// not valid. Duplicates are per rater: two raters may rate one work.
///
/// Without `skip_bad`, any bad row fails the import with [`Error::CsvRow`]
/// listing the bad rows with their line numbers, and nothing is written.
/// With `skip_bad`, the good rows are imported and the bad ones returned.
/// Either way the good rows are written in one atomic batch.
///
/// [`Collection::ratings_csv`](crate::app::Collection::ratings_csv) writes a CSV this function reads back unchanged.
pub fn import_csv_as(
    store: &Store,
    csv: &Path,
    skip_bad: bool,
    rater: &Rater,
) -> Result<ImportReport> {
    let bytes = crate::scan::read_csv_bytes(csv)?;
    import_rows(store, &bytes, csv, csv.parent(), skip_bad, rater)
}

/// [`import_csv_as`] for a CSV received in memory (an upload): `name` is
/// what its sender calls it, for messages and each rating's source.
/// Relative paths in it resolve against the collection roots only, since
/// it has no folder of its own.
pub(crate) fn import_csv_bytes_as(
    store: &Store,
    bytes: &[u8],
    name: &Path,
    skip_bad: bool,
    rater: &Rater,
) -> Result<ImportReport> {
    crate::scan::check_csv_size(bytes.len() as u64, name)?;
    import_rows(store, bytes, name, None, skip_bad, rater)
}

fn import_rows(
    store: &Store,
    bytes: &[u8],
    csv: &Path,
    folder: Option<&Path>,
    skip_bad: bool,
    rater: &Rater,
) -> Result<ImportReport> {
    let lines = crate::scan::LineIndex::new(bytes);
    let line_of = |p: &csv::Position| lines.line(p.byte());
    // `flexible` lets rows of the wrong length through, so that they are
    // reported with the others instead of stopping the reader.
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes);
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

    let rater_col = headers
        .iter()
        .position(|h| h.eq_ignore_ascii_case(RATER_COLUMN));
    for want in FILE_COLUMNS
        .iter()
        .chain(&SCORE_COLUMNS)
        .chain(&[RATER_COLUMN])
    {
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

    let resolver = Resolver::new(store, folder);
    let mut report = ImportReport {
        file_column: headers[file_col].clone(),
        score_column: headers[score_col].clone(),
        rater_column: rater_col.map(|c| headers[c].clone()),
        ..ImportReport::default()
    };
    // (rater, hash, score, row)
    let mut good: Vec<(Rater, String, f64, usize)> = Vec::new();
    let mut first_row: HashMap<(Rater, String), usize> = HashMap::new();
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
        let row_rater = match rater_col.map(|c| record[c].trim()) {
            None | Some("") => Some(rater.clone()),
            Some(name) => match Rater::parse(name) {
                Ok(r) => Some(r),
                Err(e) => {
                    reasons.push(e.to_string());
                    None
                }
            },
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
        if let (Some(art), Some(r)) = (&work, &row_rater) {
            if let Some(first) = first_row.get(&(r.clone(), art.hash.clone())) {
                let by = if rater_col.is_some() {
                    format!(" for rater `{r}`")
                } else {
                    String::new()
                };
                reasons.push(format!(
                    "duplicate: row {first} already rates this work{by} (`{cell}`)"
                ));
            }
        }
        match (work, score, row_rater) {
            (Some(art), Some(score), Some(r)) if reasons.is_empty() => {
                first_row.insert((r.clone(), art.hash.clone()), row);
                good.push((r, art.hash, score, row));
            }
            (work, _, r) => {
                // A bad row still claims its work, so that a later row
                // rating it is reported as a duplicate too.
                if let (Some(art), Some(r)) = (work, r) {
                    first_row.entry((r, art.hash)).or_insert(row);
                }
                report.bad.push(BadRow {
                    row,
                    reason: reasons.join(", "),
                });
            }
        }
    }

    if crate::scan::has_unclosed_quote(bytes) {
        // The last record opened the quote and swallowed the rest.
        let row = last_line.max(2);
        good.retain(|(_, _, _, r)| *r != row);
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
    for (r, hash, rating, row) in &good {
        let key = r.rating_key(hash);
        if store.has_record(RATINGS_TREE, &key)? {
            report.replaced += 1;
        }
        let value = Rating {
            rating: *rating,
            source: format!("csv:{}:{row}", csv.display()),
            time,
        };
        batch.put(&key, &value, Vec::new())?;
        *report.raters.entry(r.name().to_string()).or_default() += 1;
    }
    store.apply(batch)?;
    report.imported = good.len();
    for name in report.raters.keys() {
        let r = Rater::parse(name)?;
        let all = ratings_of(store, &r)?;
        if all.len() >= 2 && all.iter().all(|(_, v)| *v == all[0].1) {
            let whose = if r.is_default() {
                "every rating in the store".to_string()
            } else {
                format!("every rating by `{r}`")
            };
            report.warnings.push(format!(
                "{whose} is {}: ratings with no spread teach a head nothing \
                 (`artlens train` refuses them); rate works differently",
                all[0].1
            ));
        }
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
/// `score` as `rater`, replacing an earlier rating, and returns the work.
pub fn set_rating_as(store: &Store, rater: &Rater, query: &str, score: f64) -> Result<Artwork> {
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
    store.put_record(
        RATINGS_TREE,
        &rater.rating_key(&art.hash),
        &value,
        Vec::new(),
    )?;
    Ok(art)
}

/// Finds the work `query` names (see [`crate::works::resolve_work`]).
pub(crate) fn resolve_work(store: &Store, query: &str) -> Result<Artwork> {
    crate::works::resolve_work(store, query)
}

/// Every rating of `rater` as `(hash, rating)`, sorted by hash.
pub fn ratings_of(store: &Store, rater: &Rater) -> Result<Vec<(String, f64)>> {
    Ok(rating_records_of(store, rater)?
        .into_iter()
        .map(|(hash, r)| (hash, r.rating))
        .collect())
}

/// Every rating of `rater` with its source and time, sorted by hash.
pub(crate) fn rating_records_of(store: &Store, rater: &Rater) -> Result<Vec<(String, Rating)>> {
    let prefix = rater.key_prefix();
    Ok(store
        .scan_records::<Rating>(RATINGS_TREE, &prefix)?
        .into_iter()
        .filter_map(|(k, e)| {
            let (r, hash) = split_key(&k)?;
            (&r == rater).then(|| (hash.to_string(), e.value))
        })
        .collect())
}

/// Every rater with at least one rating and how many, by name; the default
/// rater first when it has any.
pub(crate) fn raters(store: &Store) -> Result<Vec<(Rater, usize)>> {
    let mut counts: std::collections::BTreeMap<Rater, usize> = Default::default();
    for (k, _) in store.scan_records::<serde_json::Value>(RATINGS_TREE, "")? {
        if let Some((r, _)) = split_key(&k) {
            *counts.entry(r).or_default() += 1;
        }
    }
    let mut out: Vec<(Rater, usize)> = counts.into_iter().collect();
    out.sort_by_key(|(r, _)| !r.is_default());
    Ok(out)
}

/// `rater`'s rating of the work with content hash `hash`, if any.
pub fn rating_of(store: &Store, rater: &Rater, hash: &str) -> Result<Option<Rating>> {
    Ok(store
        .get_record::<Rating>(RATINGS_TREE, &rater.rating_key(hash))?
        .map(|e: Envelope<Rating>| e.value))
}

/// A digest of every (work, rating) pair of `rater` and of the marked
/// copies among those works: saved with trained heads, so that `score`,
/// `compare` and the answer can say when the ratings changed since
/// training. The copies count because they decide the folds (a work and
/// its copies share one), so marking or unmarking a rated copy makes the
/// training out of date as a new rating does; a store without marks keeps
/// the digest it always had.
pub(crate) fn ratings_digest_of(store: &Store, rater: &Rater) -> Result<String> {
    let mut h = blake3::Hasher::new();
    let rated = ratings_of(store, rater)?;
    for (hash, r) in &rated {
        h.update(hash.as_bytes());
        h.update(&r.to_le_bytes());
    }
    let copies = store.copies()?;
    for (hash, _) in &rated {
        if let Some(of) = copies.get(hash) {
            h.update(b"copy");
            h.update(hash.as_bytes());
            h.update(of.as_bytes());
        }
    }
    Ok(h.finalize().to_hex()[..16].to_string())
}

/// What [`remove_ratings`] did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RemoveReport {
    /// Whose ratings were removed.
    pub rater: String,
    /// The works whose rating was removed: `(as named, content hash)`.
    pub removed: Vec<(String, String)>,
    /// Works that exist but had no rating by this rater, as named.
    pub not_rated: Vec<String>,
}

/// Removes `rater`'s ratings of the works `queries` name, in one atomic
/// batch. Every name is resolved first: when any names no work (or several),
/// nothing is removed and [`Error::UnknownWorks`] names all of them. A full
/// content hash removes its rating even when the work itself is no longer
/// in the store. Works that had no rating are reported, not an error.
pub fn remove_ratings(store: &Store, rater: &Rater, queries: &[String]) -> Result<RemoveReport> {
    let mut report = RemoveReport {
        rater: rater.name().to_string(),
        ..Default::default()
    };
    let mut hashes = Vec::new();
    let mut unknown: Vec<Error> = Vec::new();
    for q in queries {
        let q = q.trim();
        let lower = q.to_ascii_lowercase();
        if lower.len() == 64 && rating_of(store, rater, &lower)?.is_some() {
            hashes.push((q.to_string(), lower));
            continue;
        }
        match resolve_work(store, q) {
            Ok(art) => hashes.push((q.to_string(), art.hash)),
            Err(e @ (Error::WorkNotFound { .. } | Error::AmbiguousWork { .. })) => unknown.push(e),
            Err(e) => return Err(e),
        }
    }
    if unknown.len() == 1 {
        return Err(unknown.remove(0));
    }
    if !unknown.is_empty() {
        return Err(Error::UnknownWorks {
            count: unknown.len(),
            reasons: unknown
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        });
    }
    let mut batch = store.batch(RATINGS_TREE)?;
    let mut seen = std::collections::HashSet::new();
    for (q, hash) in hashes {
        if !seen.insert(hash.clone()) {
            continue;
        }
        if store.has_record(RATINGS_TREE, &rater.rating_key(&hash))? {
            batch.remove(&rater.rating_key(&hash));
            report.removed.push((q, hash));
        } else {
            report.not_rated.push(q);
        }
    }
    store.apply(batch)?;
    Ok(report)
}

/// Removes every rating of `rater` in one atomic batch; returns how many.
pub(crate) fn clear_ratings(store: &Store, rater: &Rater) -> Result<usize> {
    let records = rating_records_of(store, rater)?;
    let mut batch = store.batch(RATINGS_TREE)?;
    for (hash, _) in &records {
        batch.remove(&rater.rating_key(hash));
    }
    store.apply(batch)?;
    Ok(records.len())
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
    fn rater_names_are_validated_and_keyed() {
        assert_eq!(Rater::parse(" anna_2-b ").unwrap().name(), "anna_2-b");
        for good in ["Zoë", "Łukasz", "李", "anna_2"] {
            assert_eq!(Rater::parse(good).unwrap().name(), good);
        }
        // "Zoe" with a combining diaeresis, a symbol, a separator.
        for bad in ["", "a b", "ann/a", "Zoe\u{308}", "a€", &"x".repeat(65)] {
            let err = Rater::parse(bad).unwrap_err().to_string();
            assert!(err.contains("rater name"), "{bad}: {err}");
        }
        let me = Rater::default();
        let anna = Rater::parse("anna").unwrap();
        let hash = "ab".repeat(32);
        assert_eq!(me.rating_key(&hash), hash);
        assert_eq!(anna.rating_key(&hash), format!("anna/{hash}"));
        assert_eq!(split_key(&hash), Some((me.clone(), hash.as_str())));
        assert_eq!(
            split_key(&anna.rating_key(&hash)),
            Some((anna, hash.as_str()))
        );
        // `me/<hash>` is never written (me keeps the bare key), so it is
        // not read as me's either.
        assert_eq!(split_key(&format!("me/{hash}")), None);
    }

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

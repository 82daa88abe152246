//! Walking a collection: which files are images, what their content hash is,
//! and what metadata comes with them.
//!
//! The details are in `docs/DESIGN.md`, section "Scanning a collection".

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::error::{Error, Result};

/// The extensions (lower case) of the files a scan keeps.
pub(crate) const IMAGE_EXTENSIONS: [&str; 8] =
    ["jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff"];

/// Free-form metadata of one artwork (`title`, `artist`, `style`, ...), keys
/// in lower case. A `BTreeMap` so that JSON output and comparisons are stable.
pub type Metadata = BTreeMap<String, String>;

/// One image file found by a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedFile {
    /// The path as found: the scan root joined with the relative path
    /// (symlinks are not resolved).
    pub path: PathBuf,
    /// The path relative to the root, `/`-separated on every platform.
    pub rel_path: String,
    /// blake3 of the file's bytes, 64 lower-case hex digits.
    pub hash: String,
    /// Number of bytes hashed.
    pub size: u64,
}

/// A folder or file the scan could not read; the walk went on without it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanFailure {
    /// The folder or file that could not be read.
    pub path: PathBuf,
    /// Why, in words: the I/O error, or a file name that is not UTF-8.
    pub reason: String,
}

/// What a scan found.
#[derive(Debug, Clone, Default)]
pub struct ScanReport {
    /// Image files, sorted by `rel_path` (byte order) so that runs are
    /// deterministic.
    pub files: Vec<ScannedFile>,
    /// Unreadable folders and files, symlink loops.
    pub failures: Vec<ScanFailure>,
    /// Regular files skipped because their extension is not an image one.
    pub skipped_other: usize,
    /// Hidden entries (name starting with `.`) below the root that were not
    /// descended into or hashed.
    pub skipped_hidden: usize,
}

/// True when `path` has one of [`IMAGE_EXTENSIONS`] (case-insensitive).
pub(crate) fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| {
            let e = e.to_ascii_lowercase();
            IMAGE_EXTENSIONS.contains(&e.as_str())
        })
        .unwrap_or(false)
}

/// Walks `root` and hashes every image file below it.
///
/// Symlinks are followed; a link pointing back to one of its ancestors is
/// reported as a failure instead of being walked forever. Hidden entries
/// below the root (names starting with `.`, such as macOS `._x.jpg` resource
/// forks or `.thumbnails` folders) are skipped and counted. Files are hashed
/// in parallel on the current rayon pool (call it inside `pool.install` to
/// choose the pool).
///
/// Fails only when `root` itself cannot be read; anything below it that cannot
/// be read ends up in [`ScanReport::failures`].
pub fn scan_collection(root: &Path) -> Result<ScanReport> {
    std::fs::metadata(root).map_err(|e| Error::io(root, e))?;

    let mut report = ScanReport::default();
    let mut candidates: Vec<(PathBuf, String)> = Vec::new();
    let walker = walkdir::WalkDir::new(root).follow_links(true).into_iter();
    let mut hidden = 0usize;
    let walker = walker.filter_entry(|entry| {
        let is_hidden = entry.depth() > 0
            && entry
                .file_name()
                .to_str()
                .map(|n| n.starts_with('.'))
                .unwrap_or(false);
        if is_hidden {
            hidden += 1;
        }
        !is_hidden
    });
    for entry in walker {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => {
                report.failures.push(walk_failure(root, &err));
                continue;
            }
        };
        if !entry.file_type().is_file() {
            continue;
        }
        if !has_image_extension(entry.path()) {
            report.skipped_other += 1;
            continue;
        }
        if entry.path().to_str().is_none() {
            // The store keys works by their path as text: a name that is not
            // UTF-8 could only be stored lossily and would then never be
            // found again (reported vanished, pruned). It is reported
            // instead, so the user can rename it; nothing else is lost.
            report.failures.push(ScanFailure {
                path: entry.into_path(),
                reason: "the file name is not valid UTF-8; rename it (for example with `convmv`) to index it".into(),
            });
            continue;
        }
        let rel_path = relative_path(root, entry.path());
        candidates.push((entry.into_path(), rel_path));
    }
    report.skipped_hidden = hidden;

    candidates.sort_by(|a, b| a.1.cmp(&b.1));
    let hashed: Vec<std::result::Result<ScannedFile, ScanFailure>> = candidates
        .into_par_iter()
        .map(|(path, rel_path)| match hash_file_bytes(&path) {
            Ok((hash, size)) => Ok(ScannedFile {
                path,
                rel_path,
                hash,
                size,
            }),
            Err(e) => Err(ScanFailure {
                path,
                reason: e.to_string(),
            }),
        })
        .collect();
    for item in hashed {
        match item {
            Ok(file) => report.files.push(file),
            Err(failure) => report.failures.push(failure),
        }
    }
    Ok(report)
}

/// blake3 of a file's bytes (64 hex digits) and the number of bytes read.
///
/// Only a regular file is read (see `open_regular_file`): a FIFO, a device
/// such as `/dev/zero`, a socket or a directory is an error
/// ([`std::io::ErrorKind::InvalidInput`], "not a regular file (a FIFO)"), as
/// is a symlink loop (the system's "too many levels of symbolic links"). The
/// read is bounded by the size the file had when it was opened: a file that
/// grows or shrinks while it is hashed (a download in progress) is an error
/// ([`std::io::ErrorKind::InvalidData`]) rather than the hash of a mixture.
/// The errors do not repeat the path; callers add it.
pub fn hash_file_bytes(path: &Path) -> std::io::Result<(String, u64)> {
    let (file, expected) = open_regular_file(path)?;
    // One byte past the size at open, so growth is seen without reading on.
    let mut file = file.take(expected.saturating_add(1));
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    if size != expected {
        let change = if size > expected {
            format!("grew past the {expected} bytes it had when opened")
        } else {
            format!("had {expected} bytes when opened but only {size} could be read")
        };
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("the file changed while it was read: it {change}"),
        ));
    }
    Ok((hasher.finalize().to_hex().to_string(), size))
}

/// Opens `path` for reading if, after following symlinks, it is a regular
/// file, and returns it with its size.
///
/// Everything else is refused *before* it is opened, because opening can
/// itself hang (a FIFO's `open` blocks until a writer appears) and reading
/// can go on forever (`/dev/zero`, `/dev/urandom`). The error, of kind
/// [`std::io::ErrorKind::InvalidInput`], says what the path is: "not a
/// regular file (a FIFO)", "(a character device)", "(a block device)", "(a
/// socket)" or "(a directory)". A symlink loop or a dangling symlink fails in
/// the `stat` with the system's error. The opened file is checked again
/// (same device and inode, still a regular file), so a path swapped for
/// something else between the check and the open is refused too; only a swap
/// to a FIFO in that instant could still block the open. The errors do not
/// repeat the path; callers add it.
pub(crate) fn open_regular_file(path: &Path) -> std::io::Result<(File, u64)> {
    let before = std::fs::metadata(path)?;
    if !before.is_file() {
        return Err(not_a_regular_file(&before));
    }
    let file = File::open(path)?;
    let opened = file.metadata()?;
    if !opened.is_file() {
        return Err(not_a_regular_file(&opened));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if (before.dev(), before.ino()) != (opened.dev(), opened.ino()) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the file was replaced while it was being opened",
            ));
        }
    }
    Ok((file, opened.len()))
}

fn not_a_regular_file(meta: &std::fs::Metadata) -> std::io::Error {
    let kind = meta.file_type();
    let what = if kind.is_dir() {
        "a directory"
    } else {
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt;
            if kind.is_fifo() {
                "a FIFO"
            } else if kind.is_char_device() {
                "a character device"
            } else if kind.is_block_device() {
                "a block device"
            } else if kind.is_socket() {
                "a socket"
            } else {
                "neither a file nor a directory"
            }
        }
        #[cfg(not(unix))]
        {
            "neither a file nor a directory"
        }
    };
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("not a regular file ({what})"),
    )
}

fn walk_failure(root: &Path, err: &walkdir::Error) -> ScanFailure {
    let path = err
        .path()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| root.to_path_buf());
    let reason = if let Some(ancestor) = err.loop_ancestor() {
        format!("symlink loop: points back to {}", ancestor.display())
    } else if let Some(io) = err.io_error() {
        io.to_string()
    } else {
        err.to_string()
    };
    ScanFailure { path, reason }
}

/// `path` relative to `root`, `/`-separated. A root that is itself a file
/// yields its file name.
fn relative_path(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let parts: Vec<String> = rel
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    if parts.is_empty() {
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        parts.join("/")
    }
}

/// Metadata read from the WikiArt layout `Style_Name/artist-name_title-of-work.jpg`:
/// `style` "Style Name" (underscores → spaces), `artist` "artist name" and
/// `title` "title of work" (hyphens → spaces).
///
/// Paths that don't fit get what can be parsed: no `style` when the file is
/// not in a subfolder (the style is the immediate parent folder), no `artist`
/// or `title` when the file name has no underscore.
pub fn wikiart_metadata(rel_path: &str) -> Metadata {
    let mut meta = Metadata::new();
    let parts: Vec<&str> = rel_path
        .split(['/', '\\'])
        .filter(|p| !p.is_empty())
        .collect();
    let Some(file_name) = parts.last() else {
        return meta;
    };
    if parts.len() >= 2 {
        let style = tidy(&parts[parts.len() - 2].replace('_', " "));
        if !style.is_empty() {
            meta.insert("style".to_string(), style);
        }
    }
    let stem = Path::new(file_name)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(file_name);
    if let Some((artist, title)) = stem.split_once('_') {
        let artist = tidy(&artist.replace('-', " "));
        let title = tidy(&title.replace(['-', '_'], " "));
        if !artist.is_empty() {
            meta.insert("artist".to_string(), artist);
        }
        if !title.is_empty() {
            meta.insert("title".to_string(), title);
        }
    }
    meta
}

/// Collapses runs of whitespace and trims.
fn tidy(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The names accepted for the CSV column that names the file, in order of
/// preference (matched case-insensitively).
pub(crate) const CSV_FILE_COLUMNS: [&str; 5] = ["path", "file", "filename", "file_name", "image"];

/// At most this many bad rows are spelled out in one error message.
const MAX_REPORTED_ROWS: usize = 20;

/// Reads a metadata CSV and maps each row's file to its content hash.
///
/// The header row is required. The file column is the first of
/// `CSV_FILE_COLUMNS` present; its value is a path relative to the scan
/// root (`/` or `\` separated), the path as found, or a bare file name that
/// must match exactly one file. Every other column becomes a metadata key
/// (lower-cased, trimmed); empty cells are skipped.
///
/// All or nothing: when any row is bad (wrong number of cells, a file that is
/// not in the collection, an ambiguous bare name, a file listed twice) the
/// result is one [`Error::CsvRow`] naming the first bad row, whose message
/// lists every bad row, and nothing is returned for import.
pub fn read_metadata_csv(
    csv_path: &Path,
    files: &[ScannedFile],
) -> Result<HashMap<String, Metadata>> {
    read_metadata_csv_lenient(csv_path, files, false).map(|(m, _)| m)
}

/// The largest ratings or metadata CSV read (64 MiB).
pub(crate) const MAX_CSV_BYTES: u64 = 64 << 20;
/// The longest CSV field accepted (64 KiB).
pub(crate) const MAX_CSV_FIELD: usize = 64 << 10;
/// Metadata columns refused because `export` writes columns of these names
/// itself (`items.csv`); `path` is fine as the column naming the file.
pub(crate) const RESERVED_METADATA_COLUMNS: [&str; 3] = ["id", "hash", "path"];

/// Reads a CSV file whole, refusing what is not a regular file (a device
/// such as `/dev/zero`, a folder, a FIFO) and files over [`MAX_CSV_BYTES`].
pub(crate) fn read_csv_bytes(path: &Path) -> Result<Vec<u8>> {
    let (file, len) = open_regular_file(path).map_err(|e| Error::io(path, e))?;
    check_csv_size(len, path)?;
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(MAX_CSV_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    check_csv_size(bytes.len() as u64, path)?;
    Ok(bytes)
}

/// Refuses a CSV of `len` bytes past [`MAX_CSV_BYTES`], naming `path`.
pub(crate) fn check_csv_size(len: u64, path: &Path) -> Result<()> {
    if len > MAX_CSV_BYTES {
        return Err(Error::CsvRow {
            path: path.to_path_buf(),
            row: 1,
            reason: format!(
                "the file has {len} bytes or more; a CSV may have at most {} MiB",
                MAX_CSV_BYTES >> 20
            ),
        });
    }
    Ok(())
}

/// 1-based line numbers from byte offsets, counting `\n` only, so that CRLF
/// and LF files number their rows alike.
pub(crate) struct LineIndex(Vec<u64>);

impl LineIndex {
    pub(crate) fn new(bytes: &[u8]) -> Self {
        LineIndex(
            bytes
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i as u64)
                .collect(),
        )
    }

    /// The line of the record the csv reader says starts at `offset`. In a
    /// CRLF file the reader puts the start of a record on the `\n` that ends
    /// the one before (it stops at the `\r`), so a `\n` at `offset` itself
    /// is counted: that is the off-by-one `Position::line` has there.
    pub(crate) fn line(&self, offset: u64) -> usize {
        self.0.partition_point(|&nl| nl <= offset) + 1
    }
}

/// `s` quoted for a message: at most 80 characters, `…` when cut.
pub(crate) fn quote_cell(s: &str) -> String {
    let mut out: String = s.chars().take(80).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// Why a record cannot be read as CSV data: a field over [`MAX_CSV_FIELD`].
pub(crate) fn oversized_field(record: &csv::StringRecord) -> Option<String> {
    record.iter().enumerate().find_map(|(i, f)| {
        (f.len() > MAX_CSV_FIELD).then(|| {
            format!(
                "field {} has {} bytes, more than the {} KiB a field may have (`{}`)",
                i + 1,
                f.len(),
                MAX_CSV_FIELD >> 10,
                quote_cell(f)
            )
        })
    })
}

/// Whether a CSV file opens a quote it never closes: an odd number of `"`
/// (every complete quoted field, `""` escapes included, has an even number),
/// so that the last record swallowed the rest of the file.
pub(crate) fn has_unclosed_quote(bytes: &[u8]) -> bool {
    bytes.iter().filter(|b| **b == b'"').count() % 2 == 1
}

/// A metadata CSV row left out by a `skip_bad` read, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct SkippedRow {
    /// The 1-based line the row starts on (the header is line 1).
    pub row: usize,
    pub reason: String,
}

/// [`read_metadata_csv`], or with `skip_bad` the good rows and the bad ones
/// listed instead of an error (a bad header is an error either way).
pub(crate) fn read_metadata_csv_lenient(
    csv_path: &Path,
    files: &[ScannedFile],
    skip_bad: bool,
) -> Result<(HashMap<String, Metadata>, Vec<SkippedRow>)> {
    let bytes = read_csv_bytes(csv_path)?;
    let lines = LineIndex::new(&bytes);
    let line_of = |p: Option<&csv::Position>| p.map(|p| lines.line(p.byte())).unwrap_or(0);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes.as_slice());
    let row_err = |row: usize, reason: String| Error::CsvRow {
        path: csv_path.to_path_buf(),
        row,
        reason,
    };

    let mut records = reader.records();
    let header = match records.next() {
        None => {
            return Err(row_err(
                1,
                "empty file: a header row naming the columns is required".into(),
            ))
        }
        Some(Err(e)) => return Err(row_err(line_of(e.position()).max(1), e.to_string())),
        Some(Ok(h)) => h,
    };
    if let Some(why) = oversized_field(&header) {
        return Err(row_err(1, why));
    }
    let names: Vec<String> = header
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let h = if i == 0 {
                h.trim_start_matches('\u{feff}')
            } else {
                h
            };
            h.trim().to_lowercase()
        })
        .collect();
    let file_col = CSV_FILE_COLUMNS
        .iter()
        .find_map(|want| names.iter().position(|n| n == want))
        .ok_or_else(|| {
            row_err(
                1,
                format!(
                    "no column names the image file; expected one of {} (header: {})",
                    CSV_FILE_COLUMNS.join(", "),
                    names.join(", ")
                ),
            )
        })?;
    // A set, not a scan of the names before each one: a header of 100,000
    // columns took 12.8 s when each name was compared with every earlier one.
    let mut seen_names: HashSet<&str> = HashSet::with_capacity(names.len());
    for (i, n) in names.iter().enumerate() {
        if !n.is_empty() && !seen_names.insert(n.as_str()) {
            return Err(row_err(
                1,
                format!("column `{}` appears twice in the header", quote_cell(n)),
            ));
        }
        if i != file_col && RESERVED_METADATA_COLUMNS.contains(&n.as_str()) {
            return Err(row_err(
                1,
                format!(
                    "column `{n}` cannot be metadata: `export` writes its own `{n}` column \
                     (rename it, e.g. `source_{n}`)"
                ),
            ));
        }
    }

    let lookup = FileLookup::new(files);
    let mut result: HashMap<String, Metadata> = HashMap::new();
    // rel_path → row that named it; hash → (row, rel_path) for duplicate content.
    let mut seen_path: HashMap<&str, usize> = HashMap::new();
    let mut seen_hash: HashMap<&str, (usize, &str)> = HashMap::new();
    let mut bad: Vec<(usize, String)> = Vec::new();
    let mut last_row = 0;
    let mut last_hash: Option<String> = None;

    for record in records {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                bad.push((line_of(e.position()), e.to_string()));
                continue;
            }
        };
        let row = line_of(record.position());
        last_row = row;
        last_hash = None;
        if let Some(why) = oversized_field(&record) {
            bad.push((row, why));
            continue;
        }
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if record.len() != names.len() {
            bad.push((
                row,
                format!("{} cells, the header has {}", record.len(), names.len()),
            ));
            continue;
        }
        let name = record.get(file_col).unwrap_or("").trim();
        if name.is_empty() {
            bad.push((row, format!("empty `{}` cell", names[file_col])));
            continue;
        }
        let file = match lookup.find(name) {
            Ok(f) => f,
            Err(reason) => {
                bad.push((row, reason));
                continue;
            }
        };
        if let Some(first) = seen_path.get(file.rel_path.as_str()) {
            bad.push((
                row,
                format!("`{}` is already described in row {first}", file.rel_path),
            ));
            continue;
        }
        seen_path.insert(&file.rel_path, row);

        let mut meta = Metadata::new();
        for (i, cell) in record.iter().enumerate() {
            let cell = cell.trim();
            if i == file_col || names[i].is_empty() || cell.is_empty() {
                continue;
            }
            meta.insert(names[i].clone(), cell.to_string());
        }
        if let Some(&(first_row, first_path)) = seen_hash.get(file.hash.as_str()) {
            // Same content at two paths: fine when the rows agree, since
            // metadata is stored per content.
            if result.get(&file.hash) != Some(&meta) {
                bad.push((
                    row,
                    format!(
                        "`{}` has the same content as `{first_path}` (row {first_row}) but other metadata",
                        file.rel_path
                    ),
                ));
            }
            continue;
        }
        seen_hash.insert(&file.hash, (row, &file.rel_path));
        last_hash = Some(file.hash.clone());
        result.insert(file.hash.clone(), meta);
    }
    if has_unclosed_quote(&bytes) {
        // The last record started the quote and swallowed the rest.
        let row = last_row.max(2);
        bad.push((
            row,
            "a quote opened on this row is never closed: it runs to the end of the file".into(),
        ));
        if let Some(h) = last_hash {
            result.remove(&h);
        }
    }

    if skip_bad {
        let skipped = bad
            .into_iter()
            .map(|(row, reason)| SkippedRow { row, reason })
            .collect();
        return Ok((result, skipped));
    }
    if let Some(&(first_row, _)) = bad.first() {
        let mut reason = bad[0].1.clone();
        for (row, why) in bad.iter().skip(1).take(MAX_REPORTED_ROWS - 1) {
            reason.push_str(&format!("; row {row}: {why}"));
        }
        if bad.len() > MAX_REPORTED_ROWS {
            reason.push_str(&format!(
                "; and {} more bad rows",
                bad.len() - MAX_REPORTED_ROWS
            ));
        }
        reason.push_str(
            " (nothing was imported; fix them, or pass --skip-bad to import the good rows)",
        );
        return Err(row_err(first_row, reason));
    }
    Ok((result, Vec::new()))
}

/// Finds scanned files by relative path, path as found, or bare file name.
struct FileLookup<'a> {
    by_rel: HashMap<&'a str, &'a ScannedFile>,
    by_path: HashMap<String, &'a ScannedFile>,
    by_name: HashMap<&'a str, Vec<&'a ScannedFile>>,
}

impl<'a> FileLookup<'a> {
    fn new(files: &'a [ScannedFile]) -> Self {
        let mut lookup = FileLookup {
            by_rel: HashMap::new(),
            by_path: HashMap::new(),
            by_name: HashMap::new(),
        };
        for f in files {
            lookup.by_rel.insert(&f.rel_path, f);
            lookup
                .by_path
                .insert(f.path.to_string_lossy().into_owned(), f);
            let name = f.rel_path.rsplit('/').next().unwrap_or(&f.rel_path);
            lookup.by_name.entry(name).or_default().push(f);
        }
        lookup
    }

    fn find(&self, name: &str) -> std::result::Result<&'a ScannedFile, String> {
        // The name exactly as written first: on Unix a backslash is an
        // ordinary character of a file name (`back\slash.png`), and only
        // when no such file exists is it read as a Windows separator.
        let raw = name.trim_start_matches("./");
        if let Some(f) = self.by_rel.get(raw) {
            return Ok(f);
        }
        if !raw.contains('/') {
            if let Some([one]) = self.by_name.get(raw).map(Vec::as_slice) {
                return Ok(one);
            }
        }
        let normalised = name.replace('\\', "/");
        let normalised = normalised.trim_start_matches("./");
        if let Some(f) = self.by_rel.get(normalised) {
            return Ok(f);
        }
        if let Some(f) = self.by_path.get(name) {
            return Ok(f);
        }
        if !normalised.contains('/') {
            match self.by_name.get(normalised).map(Vec::as_slice) {
                Some([one]) => return Ok(one),
                Some(many) if many.len() > 1 => {
                    let listed: Vec<&str> =
                        many.iter().take(3).map(|f| f.rel_path.as_str()).collect();
                    let more = if many.len() > 3 { ", ..." } else { "" };
                    return Err(format!(
                        "file name `{name}` matches {} files ({}{more}); give the path relative to the collection",
                        many.len(),
                        listed.join(", ")
                    ));
                }
                _ => {}
            }
        }
        Err(format!("`{name}` is not an image in the collection"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scanned(rel: &str, hash: char) -> ScannedFile {
        ScannedFile {
            path: PathBuf::from("/c").join(rel),
            rel_path: rel.to_string(),
            hash: hash.to_string().repeat(64),
            size: 1,
        }
    }

    #[test]
    fn a_backslash_in_a_file_name_can_be_named_in_a_metadata_csv() {
        let files = vec![
            scanned("Pop/back\\slash.png", 'a'),
            scanned("Pop/plain.png", 'b'),
        ];
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("m.csv");
        std::fs::write(
            &csv,
            "file,title\nPop/back\\slash.png,One\nback\\slash.png,One\nPop\\plain.png,Two\n",
        )
        .unwrap();
        // Rows 2 and 3 name the same file (by path, then by name): agreeing
        // rows for one content are fine; the Windows-style row 4 still works.
        let err = read_metadata_csv(&csv, &files).unwrap_err().to_string();
        assert!(err.contains("already described in row 2"), "{err}");
        std::fs::write(
            &csv,
            "file,title\nPop/back\\slash.png,One\nPop\\plain.png,Two\n",
        )
        .unwrap();
        let m = read_metadata_csv(&csv, &files).unwrap();
        assert_eq!(m[&"a".repeat(64)]["title"], "One");
        assert_eq!(m[&"b".repeat(64)]["title"], "Two");
        std::fs::write(&csv, "file,title\nback\\slash.png,By name\n").unwrap();
        let m = read_metadata_csv(&csv, &files).unwrap();
        assert_eq!(m[&"a".repeat(64)]["title"], "By name");
    }

    #[test]
    fn wikiart_full_layout() {
        let m = wikiart_metadata("Post_Impressionism/vincent-van-gogh_the-starry-night-1889.jpg");
        assert_eq!(m["style"], "Post Impressionism");
        assert_eq!(m["artist"], "vincent van gogh");
        assert_eq!(m["title"], "the starry night 1889");
    }

    #[test]
    fn wikiart_partial_layouts() {
        let m = wikiart_metadata("picture.jpg");
        assert!(m.is_empty());
        let m = wikiart_metadata("Baroque/picture.jpg");
        assert_eq!(m.len(), 1);
        assert_eq!(m["style"], "Baroque");
        let m = wikiart_metadata("rembrandt_night-watch.png");
        assert_eq!(m.get("style"), None);
        assert_eq!(m["artist"], "rembrandt");
        assert_eq!(m["title"], "night watch");
    }

    #[test]
    fn extensions_are_case_insensitive() {
        assert!(has_image_extension(Path::new("a/b.JPG")));
        assert!(has_image_extension(Path::new("b.TiFf")));
        assert!(!has_image_extension(Path::new("b.txt")));
        assert!(!has_image_extension(Path::new("jpg")));
    }

    #[test]
    fn relative_paths_use_slashes() {
        let root = Path::new("/r");
        assert_eq!(relative_path(root, Path::new("/r/a/b.jpg")), "a/b.jpg");
        assert_eq!(
            relative_path(Path::new("/r/x.jpg"), Path::new("/r/x.jpg")),
            "x.jpg"
        );
    }
}

//! The library's one error type. Every variant carries what a user needs to
//! find the problem (the file, the tensor, the model, the row) and its message
//! says what to do next. Only the binary turns these into exit codes.

use std::path::PathBuf;

/// Everything that can go wrong inside artlens.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder the operation was on.
        path: PathBuf,
        /// What the operating system reported.
        #[source]
        source: std::io::Error,
    },

    /// A file is not an image we can decode (unknown format, corrupt, truncated, empty).
    #[error("{path}: cannot decode image: {reason}")]
    Decode {
        /// The file that could not be decoded.
        path: PathBuf,
        /// What the decoder found wrong.
        reason: String,
    },

    /// An image exceeds the decoder's safety limits.
    #[error("{path}: image too large to decode safely: {reason}")]
    ImageTooLarge {
        /// The file that was refused.
        path: PathBuf,
        /// Which limit it exceeds, and by how much.
        reason: String,
    },

    /// A checkpoint's config file is missing, unparsable, or describes another model.
    #[error("{path}: {reason}")]
    Config {
        /// The config file (or the checkpoint folder when it has none).
        path: PathBuf,
        /// What is missing or wrong in it.
        reason: String,
    },

    /// A weights file is missing, truncated or unreadable.
    #[error("{path}: cannot load weights: {reason}")]
    Weights {
        /// The weights file.
        path: PathBuf,
        /// Why it could not be loaded.
        reason: String,
    },

    /// A tensor the model needs is absent from the checkpoint.
    #[error("{path}: tensor `{tensor}` is missing (is this a {model} checkpoint?)")]
    MissingTensor {
        /// The weights file that lacks the tensor.
        path: PathBuf,
        /// The tensor's name as the checkpoint would spell it.
        tensor: String,
        /// The architecture the tensor was looked up for.
        model: String,
    },

    /// A tensor has another shape than the config implies.
    #[error("{path}: tensor `{tensor}` has shape {got:?}, expected {expected:?} from config.json")]
    TensorShape {
        /// The weights file holding the tensor.
        path: PathBuf,
        /// The tensor's name in the checkpoint.
        tensor: String,
        /// The shape `config.json` implies.
        expected: Vec<usize>,
        /// The shape the file holds.
        got: Vec<usize>,
    },

    /// The weights could neither be found locally nor downloaded.
    #[error("{model}: weights not found ({reason}). Download them with `huggingface-cli download {repo} --local-dir DIR` on a machine with network access and pass `--weights DIR` (`--weights {model}=DIR` where a command runs several backbones).")]
    WeightsUnavailable {
        /// The backbone id whose weights are missing.
        model: String,
        /// The Hugging Face repository to download them from.
        repo: String,
        /// Where they were looked for and why each place failed.
        reason: String,
    },

    /// An invalid user-supplied option value (batch size, device, ...).
    #[error("{0}")]
    InvalidArgument(
        /// The message, naming the option and its allowed values.
        String,
    ),

    /// A backbone id that is not in the registry.
    #[error("unknown backbone `{name}`; known backbones: {known} (append @SIZE for another resolution, e.g. dinov2@224)")]
    UnknownBackbone {
        /// The id as typed.
        name: String,
        /// The registry's ids, comma-separated.
        known: String,
    },

    /// An `@SIZE` the backbone cannot take.
    #[error("{backbone}: resolution {resolution} is refused: {reason}")]
    BadResolution {
        /// The backbone the size was given for.
        backbone: String,
        /// The size as typed after `@`.
        resolution: String,
        /// Why the backbone cannot take it.
        reason: String,
    },

    /// `--weights ID=DIR` for a backbone the command does not use.
    #[error("--weights {backbone}=...: this command does not use {backbone} (it uses {using}); drop the flag or add the backbone")]
    UnusedWeights {
        /// The backbone named in `--weights`.
        backbone: String,
        /// The backbones the command does use, comma-separated.
        using: String,
    },

    /// A folder that holds no artlens store, for a command that reads one.
    #[error("no artlens store at {path}; `artlens index DIR --store {path}` makes one (or pass --store / set ARTLENS_STORE)")]
    NoStore {
        /// The folder where a store was expected.
        path: PathBuf,
    },

    /// The store holds no embeddings at all, for a command that needs some.
    #[error(
        "the store {store} holds no embeddings yet; run `artlens index DIR --store {store}` first"
    )]
    NothingIndexed {
        /// The store's folder.
        store: PathBuf,
    },

    /// The store holds no embeddings of a backbone the command needs.
    #[error("the store {store} holds no {backbone} embeddings; run `artlens index DIR --backbones {backbone}` first")]
    NotIndexed {
        /// The store's folder.
        store: PathBuf,
        /// The backbone with no embeddings.
        backbone: String,
    },

    /// A stored work lacks one backbone's embedding.
    #[error("work {work} has no {backbone} embedding yet; run `artlens index DIR --backbones {backbone}`")]
    MissingEmbedding {
        /// The work, as the user named it or by id.
        work: String,
        /// The backbone whose embedding is missing.
        backbone: String,
    },

    /// No work matches what the user typed.
    #[error("no work in {store} matches `{query}` (tried: {tried})")]
    WorkNotFound {
        /// What the user typed.
        query: String,
        /// The store that was searched.
        store: PathBuf,
        /// The ways of matching that were tried (id, hash prefix, path, file name).
        tried: String,
    },

    /// A work was named a copy of itself (`dups mark 7 --of 7`).
    #[error(
        "work {id} cannot be a copy of itself: name the representative it copies, another work"
    )]
    CopyOfItself {
        /// The work's id.
        id: u64,
    },

    /// Several works match what the user typed.
    #[error("`{query}` matches {count} different works ({candidates}); give an id, a longer hash prefix or more of the path")]
    AmbiguousWork {
        /// What the user typed.
        query: String,
        /// How many works match it.
        count: usize,
        /// Some of the matching works, comma-separated.
        candidates: String,
    },

    /// No taste head was trained for a backbone.
    #[error("no trained head for {backbone}; run `artlens train` first")]
    NoHead {
        /// The backbone without a trained head.
        backbone: String,
    },

    /// The store holds no ratings.
    #[error("no ratings in the store {store}; `artlens rate import CSV` (or `rate set WORK SCORE`), then `artlens train`")]
    NoRatings {
        /// The store's folder.
        store: PathBuf,
    },

    /// The store holds no ratings by a rater other than the default one.
    #[error("no ratings by rater `{rater}` in the store {store}; `artlens rate import CSV --rater {rater}` (or `rate set WORK SCORE --rater {rater}`), then `artlens train --rater {rater}`; `artlens status` lists the raters")]
    NoRatingsBy {
        /// The rater who has no ratings.
        rater: String,
        /// The store's folder.
        store: PathBuf,
    },

    /// A rater name that is not letters, digits, `-` and `_`.
    #[error("rater name `{name}` is refused: {reason}; use letters, digits, - and _ (e.g. `me`, `anna_2`)")]
    BadRater {
        /// The name as given.
        name: String,
        /// What is wrong with it (empty, too long, a character not allowed).
        reason: String,
    },

    /// Several names given for works that match none (or several) of them;
    /// nothing was changed.
    #[error("{count} of the works named are not in the store, nothing was changed: {reasons}")]
    UnknownWorks {
        /// How many of the names match no work, or several.
        count: usize,
        /// Each such name with why it failed, semicolon-separated.
        reasons: String,
    },

    /// A map asked of fewer works than a layout can place meaningfully.
    #[error("{what} has {works} works with an embedding, and a map needs at least {min}: with fewer there are no neighbourhoods to show, so there is nothing to draw; index more works first")]
    TooFewToMap {
        /// What was to be mapped (a backbone's embeddings).
        what: String,
        /// Works it holds.
        works: usize,
        /// The fewest a map draws ([`crate::limits::MIN_MAP_WORKS`]).
        min: usize,
    },

    /// A preference between a work and itself.
    #[error("a preference needs two different works, but `{winner}` and `{loser}` both name work {id} ({path})")]
    SameWork {
        /// The first name as given.
        winner: String,
        /// The second name as given.
        loser: String,
        /// The one work both names resolve to.
        id: u64,
        /// That work's path.
        path: String,
    },

    /// A preference to take back that the rater never stated; nothing was
    /// changed.
    #[error("rater `{rater}` has no preference of work {winner} over work {loser}; {next}")]
    NoPreference {
        /// The rater whose preference was to be removed.
        rater: String,
        /// The work that was to be preferred.
        winner: String,
        /// The work it was to be preferred over.
        loser: String,
        /// What to do instead.
        next: String,
    },

    /// `artlens serve` holds the store: the web app is its only writer
    /// while it runs.
    #[error("store {path} is served by artlens serve at {url} (pid {pid}); use the web app or its JSON API, or stop the server (Ctrl-C) and run the command again")]
    StoreServed {
        /// The store's folder.
        path: PathBuf,
        /// Where the web app that holds it answers.
        url: String,
        /// The process id of that `artlens serve`.
        pid: u32,
    },

    /// Another artlens process holds the store's lock.
    #[error("{path}: store in use by another artlens process; wait for it to finish or use another --store")]
    StoreInUse {
        /// The store's folder.
        path: PathBuf,
    },

    /// The store was written by an incompatible artlens version.
    #[error("{}", store_format_message(.path, .found, .expected))]
    StoreFormat {
        /// The store's folder.
        path: PathBuf,
        /// The format version the store was written with.
        found: u32,
        /// The format version this artlens reads.
        expected: u32,
    },

    /// A backbone without a text tower artlens reads, asked for one.
    #[error(
        "{backbone} has no text tower artlens reads: {reason}. The backbones with one: {capable}"
    )]
    NoTextTower {
        /// The backbone asked for.
        backbone: String,
        /// Why (not an image–text model, or its folder lacks the text files).
        reason: String,
        /// The registered backbones that have a text tower, comma-separated.
        capable: String,
    },

    /// The store holds embeddings from other weights or preprocessing.
    #[error("store {path} was built for {model} with other settings ({differences}); use another --store, or `artlens index --rebuild {model}` to discard and re-embed")]
    FingerprintMismatch {
        /// The store's folder.
        path: PathBuf,
        /// The backbone whose settings differ.
        model: String,
        /// Each setting that differs, stored value against current, semicolon-separated.
        differences: String,
    },

    /// `artlens merge` refused before writing anything.
    #[error("cannot merge into {into}: {reason}")]
    MergeRefused {
        /// The store the merge was to write.
        into: PathBuf,
        /// Why the sources cannot be merged into it.
        reason: String,
    },

    /// An export would overwrite files in its folder that no earlier
    /// artlens export wrote; nothing was written.
    #[error("{dir} holds {files}, which no earlier artlens export wrote (its manifest.json does not list them); export would overwrite them, so nothing was written: move them away or export into another folder")]
    ExportConflict {
        /// The export folder.
        dir: PathBuf,
        /// The clashing names, comma-separated.
        files: String,
    },

    /// The filesystem the store lives on is full: the write was refused.
    #[error("no space left on the device holding {path} — nothing was changed; free some space and run the command again")]
    NoSpace {
        /// The store's folder.
        path: PathBuf,
    },

    /// sled cannot read the store: a file of it is damaged.
    #[error("{path}: the store is damaged ({file}: {reason}). The embeddings can be recomputed from the collection, the ratings cannot: run `artlens doctor --store {path}` to check it, and `artlens doctor --store {path} --into NEW_DIR` to salvage what is readable")]
    StoreDamaged {
        /// The store's folder.
        path: PathBuf,
        /// The damaged file, relative to the store folder (`db`, `conf`, `snap.…`).
        file: String,
        /// What sled reported.
        reason: String,
    },

    /// sled or on-disk store corruption.
    #[error("{path}: store error: {reason}")]
    Store {
        /// The store's folder.
        path: PathBuf,
        /// What sled or the record decoder reported.
        reason: String,
    },

    /// A saved taste head or comparison was made from embeddings the store
    /// no longer holds (other weights or preprocessing, or an older format).
    #[error("{what} was trained on {model} embeddings made with other weights or preprocessing ({differences}); run `artlens train` again")]
    StaleHead {
        /// What was saved (the taste head, the pairwise head, the saved comparison).
        what: String,
        /// The backbone (or backbones, comma-separated) it was trained on.
        model: String,
        /// Each embedding setting that changed since, semicolon-separated.
        differences: String,
    },

    /// A metadata or ratings CSV row is invalid.
    #[error("{path}: row {row}: {reason}")]
    CsvRow {
        /// The CSV file.
        path: PathBuf,
        /// The line of the file the row starts on, from 1 (the header is line 1).
        row: usize,
        /// What is wrong with the row.
        reason: String,
    },

    /// A ratings journal line that cannot be replayed.
    #[error("{path}: line {line}: {reason}")]
    JournalLine {
        /// The journal file.
        path: PathBuf,
        /// The line number, from 1.
        line: usize,
        /// Why the line cannot be replayed.
        reason: String,
    },

    /// The ANN index files are missing, corrupt or stale.
    #[error("{path}: ANN index: {reason}")]
    Index {
        /// The index folder.
        path: PathBuf,
        /// Which file is missing, damaged or stale, and how.
        reason: String,
    },

    /// An explicitly given metadata label (`compare --label`) that no work has.
    #[error("no work has a `{label}` in its metadata; labels in this collection: {known}")]
    UnknownLabel {
        /// The metadata column asked for.
        label: String,
        /// The labels the collection does have, comma-separated.
        known: String,
    },

    /// A `--where KEY=VALUE` filter that matches no work.
    #[error("--where {filter} matches no work; {known}")]
    FilterMatchesNothing {
        /// The filter as typed (`KEY=VALUE`).
        filter: String,
        /// What the key does hold (or which keys exist), as a sentence.
        known: String,
    },

    /// A `search` query that cannot be read (`artlens search "TEXT"`).
    #[error("search query {query:?}: {reason}; e.g. `\"stormy sea\" +work:12 -\"people\"` or `\"sea\":2 boats`")]
    BadQuery {
        /// The query as given (cut to its first 80 characters).
        query: String,
        /// What is wrong with it.
        reason: String,
    },

    /// None of the backbones asked for (or held by the store) has a text
    /// tower, so text cannot be compared with the works.
    #[error("{store}: no backbone here reads text ({backbones}); index with a CLIP or SigLIP backbone to search by text or describe a taste in words, e.g. `artlens index DIR --backbones {would_add}`")]
    NoTextBackbone {
        /// The store's folder.
        store: PathBuf,
        /// The backbones looked at, comma-separated.
        backbones: String,
        /// Backbones that would add a text tower, comma-separated.
        would_add: String,
    },

    /// A `--vocabulary` file that cannot be used.
    #[error("vocabulary {path}{}: {reason}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Vocabulary {
        /// The vocabulary file.
        path: PathBuf,
        /// The 1-based line at fault, when one is.
        line: Option<usize>,
        /// What is wrong.
        reason: String,
    },

    /// Too few ratings to say anything about a taste in words.
    #[error("taste in words for rater `{rater}` needs at least {need} rated works this backbone holds, and {have} are rated; rate a few more (`artlens suggest` lists the most useful)")]
    TooFewRatings {
        /// Whose ratings.
        rater: String,
        /// Rated works the backbone holds.
        have: usize,
        /// The least the statistics need.
        need: usize,
    },

    /// A tensor computation failed inside candle.
    #[error("{context}: {source}")]
    Candle {
        /// Which model and stage the computation was in.
        context: String,
        /// What candle reported.
        #[source]
        source: candle_core::Error,
    },

    /// The disk filled during `index` after some works were stored: those
    /// are kept (each was written whole), and the next run goes on.
    #[error("no space left on the device holding {path}: {} before the disk filled, and kept; free some space and run `artlens index` again, which embeds only what is missing", stored_works(.stored))]
    IndexNoSpace {
        /// The file whose write failed for lack of space.
        path: PathBuf,
        /// Works stored whole in this run before the disk filled.
        stored: usize,
    },

    /// The store's folder or files cannot be written (read-only media, or
    /// a folder the user may not write): sled opens a store only for
    /// writing, so even a read needs write access. Nothing is damaged.
    #[error("{path}: the store is not writable ({reason}), so it cannot be opened: sled, the database it is kept in, opens a store only for reading and writing. Nothing is damaged. Mount the media read-write or give yourself write access to the folder, or copy it somewhere writable (`cp -a {path} COPY`) and pass --store COPY")]
    StoreNotWritable {
        /// The store's folder.
        path: PathBuf,
        /// What the operating system said (permission denied, read-only
        /// file system).
        reason: String,
    },
}

/// A store of a newer format is not damaged and must not be re-indexed
/// over (that loses its ratings): it says which version to use instead.
fn store_format_message(path: &std::path::Path, found: &u32, expected: &u32) -> String {
    let path = path.display();
    if found > expected {
        format!(
            "{path}: the store is of format {found}, written by a newer artlens; this artlens ({}) reads formats 1 to {expected}. Nothing is damaged: use the artlens version that wrote it, or any newer one",
            env!("CARGO_PKG_VERSION")
        )
    } else {
        format!("{path}: store format version {found}, this artlens reads version {expected}; re-index into a new --store (or `artlens export` with the version that wrote it)")
    }
}

fn stored_works(n: &usize) -> String {
    crate::plain::count(*n, "work was stored", "works were stored")
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The message as the web app shows it. [`Display`](std::fmt::Display)
    /// is written for the command line and says which command to run next;
    /// a person in the browser cannot run commands (while `serve` runs, the
    /// server holds the store), so for the errors a web page can meet the
    /// next step is the page's own: index from "Add works", rate on "Rate",
    /// and the heads retrain by themselves after ratings. Every other
    /// error reads the same on both.
    pub fn in_web_app(&self) -> String {
        match self {
            Error::NotIndexed { backbone, .. } => format!(
                "no work has a {backbone} embedding yet: add your works on the \"Add works\" page"
            ),
            Error::MissingEmbedding { work, backbone } => format!(
                "work {work} has no {backbone} embedding yet: add its folder again on the \"Add works\" page"
            ),
            Error::NoHead { backbone } => format!(
                "no trained taste head for {backbone} yet: rate works on the \"Rate\" page; the heads train by themselves from the first ratings"
            ),
            Error::TooFewToMap { what, works, min } => format!(
                "{what} has {works} works with an embedding, and a map needs at least {min}: with fewer there are no neighbourhoods to show, so there is nothing to draw. Add works on the \"Add works\" page"
            ),
            Error::NoTextBackbone {
                backbones,
                would_add,
                ..
            } => format!(
                "searching by words and describing your taste in words need a backbone that reads text (CLIP or SigLIP, e.g. {}); this collection's backbones ({backbones}) read pictures only",
                would_add.replace(',', ", ")
            ),
            Error::NoRatings { .. } => "nothing is rated yet: rate works on the \"Rate\" page".to_string(),
            Error::NoRatingsBy { rater, .. } => format!(
                "rater `{rater}` has rated nothing yet: rate works on the \"Rate\" page"
            ),
            Error::StaleHead { what, model, .. } => format!(
                "{what} was trained on {model} embeddings that have changed since: press \"Retrain now\" on the \"Your answer\" page"
            ),
            other => other.to_string(),
        }
    }

    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Adds context to candle errors, which otherwise say nothing about which
/// model or stage they came from.
pub(crate) trait CandleContext<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> CandleContext<T> for candle_core::Result<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Candle {
            context: what(),
            source,
        })
    }
}

//! Command-line glue: clap types → validated options → one call into the
//! application layer ([`artlens::app::Collection`]) → a view rendered as
//! text, `--json` or HTML. This layer owns everything the user sees: stdout
//! results, stderr messages and progress, and exit codes:
//! 0 = everything succeeded, 1 = the command ran but some inputs failed,
//! 2 = the command could not run (bad arguments, missing weights, ...).

mod args;
mod bench;
mod columns;
mod compare;
mod completions;
mod doctor;
mod dups;
mod embed;
mod explain;
mod export;
mod index;
mod map;
mod merge;
mod models;
mod progress;
mod rate;
mod remote;
mod score;
mod search;
mod serve;
mod show;
mod similar;
mod status;
mod suggest;
mod taste;
mod train;

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use artlens::app::{Collection, WeightsConfig};

/// Exit status when some inputs failed but the rest was processed.
pub const EXIT_PARTIAL: i32 = 1;
/// Exit status when the command could not run.
pub const EXIT_ERROR: i32 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "artlens",
    version,
    about = "Embed an art collection with self-supervised vision backbones (DINO, DINOv2, ...), find similar works, learn a taste from ratings, and compare what each backbone sees",
    after_help = "Examples:\n  artlens index data/collection --metadata data/metadata.csv\n  artlens similar --id 1\n  artlens rate import data/ratings.csv && artlens train && artlens compare --html compare.html"
)]
pub struct Cli {
    /// No progress or informational messages on stderr (errors still print).
    #[arg(long, short, global = true)]
    quiet: bool,

    /// The store folder (accepted before or after the command).
    #[arg(long, env = "ARTLENS_STORE", default_value = "index", global = true)]
    store: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Embed images with one backbone and print the raw embeddings (no store).
    Embed(embed::EmbedArgs),
    /// Embed a collection folder into the store with each backbone.
    Index(index::IndexArgs),
    /// Find the works most similar to a work or an image, per backbone, side by side.
    Similar(similar::SimilarArgs),
    /// Show one work: metadata, paths, rating, backbones, nearest works.
    Show(show::ShowArgs),
    /// List the works, filtered by metadata or rating.
    Ls(show::LsArgs),
    /// Show what the store holds: backbones, counts, fingerprints, failures, vanished files.
    Status(status::StatusArgs),
    /// List every known backbone: family, size, pretraining data, whether its weights are cached.
    Models(models::ModelsArgs),
    /// Write one backbone's embeddings as .npy (or .csv) plus items.csv and manifest.json.
    Export(export::ExportArgs),
    /// Record ratings: import a CSV, set or remove one, list them.
    Rate(rate::RateArgs),
    /// Train a taste head per backbone and compare every pair with cross-validation.
    Train(train::TrainArgs),
    /// Score images with each backbone's head, with the rated works it drew on.
    Score(score::ScoreArgs),
    /// The side-by-side report: label metrics, taste metrics, verdict.
    Compare(compare::CompareArgs),
    /// A 2D map of the collection per backbone, side by side, coloured by rating.
    Map(map::MapArgs),
    /// Where a query and its reference look alike: patch matches and CLS attention, per backbone.
    Explain(explain::ExplainArgs),
    /// Near-duplicate groups (re-scans, crops, resized or recompressed copies), and marking copies.
    Dups(dups::DupsArgs),
    /// List unrated works whose rating would help most (for the verdict or the taste).
    Suggest(suggest::SuggestArgs),
    /// Find works by text ("a stormy sea"), with works to move towards or away from, per text-capable backbone.
    Search(search::SearchArgs),
    /// Describe a rater's taste in words: the phrases that best explain their ratings, up and down.
    Taste(taste::TasteArgs),
    /// Measure forward-pass throughput (images/s) on random input.
    Bench(bench::BenchArgs),
    /// Merge stores (the shards of `index --shard I/N`, or any with the same backbones) into one.
    Merge(merge::MergeArgs),
    /// The web app: gallery, rating, scores and the comparison in a browser, and a JSON API.
    Serve(serve::ServeArgs),
    /// Check the store record by record; with --into, salvage what is readable into a new store.
    Doctor(doctor::DoctorArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::CompletionsArgs),
}

impl Command {
    /// The name the command is typed with.
    fn name(&self) -> &'static str {
        match self {
            Command::Embed(_) => "embed",
            Command::Index(_) => "index",
            Command::Similar(_) => "similar",
            Command::Show(_) => "show",
            Command::Ls(_) => "ls",
            Command::Status(_) => "status",
            Command::Models(_) => "models",
            Command::Export(_) => "export",
            Command::Rate(_) => "rate",
            Command::Train(_) => "train",
            Command::Score(_) => "score",
            Command::Compare(_) => "compare",
            Command::Map(_) => "map",
            Command::Explain(_) => "explain",
            Command::Suggest(_) => "suggest",
            Command::Search(_) => "search",
            Command::Taste(_) => "taste",
            Command::Dups(_) => "dups",
            Command::Bench(_) => "bench",
            Command::Merge(_) => "merge",
            Command::Serve(_) => "serve",
            Command::Doctor(_) => "doctor",
            Command::Completions(_) => "completions",
        }
    }
}

/// What every command gets besides its own arguments.
pub struct Ctx {
    pub msg: Messages,
    pub store: PathBuf,
    /// The command's name, for the message of a command refused while the
    /// store is served.
    pub command: &'static str,
    /// The running `artlens serve` that holds the store, if one does: the
    /// commands that can go through it ask it instead of opening the store.
    pub remote: Option<remote::Remote>,
}

impl Ctx {
    /// Opens the existing store (read commands never create one). While a
    /// server holds it, this refuses with the server's URL: a command that
    /// can go through the server asks [`Ctx::remote`] before opening.
    pub fn open(&self, weights: WeightsConfig) -> anyhow::Result<Collection> {
        if let Some(r) = &self.remote {
            return Err(r.refuse(self.command));
        }
        let c = Collection::open(&self.store, weights)?;
        self.migrated(&c);
        Ok(c)
    }

    /// Opens the store, creating it when there is none (for `index`).
    pub fn create(&self, weights: WeightsConfig) -> anyhow::Result<Collection> {
        if let Some(r) = &self.remote {
            return Err(r.refuse(self.command));
        }
        let c = Collection::create(&self.store, weights)?;
        self.migrated(&c);
        Ok(c)
    }

    /// Writes the self-contained HTML page `render` makes to `path`, when
    /// the command was asked for one (`--html FILE`), and says so.
    pub fn write_html(
        &self,
        path: Option<&std::path::Path>,
        render: impl FnOnce() -> String,
    ) -> anyhow::Result<()> {
        if let Some(path) = path {
            std::fs::write(path, render()).with_context(|| format!("{}", path.display()))?;
            self.msg.info(format!("wrote {}", path.display()));
        }
        Ok(())
    }

    fn migrated(&self, c: &Collection) {
        for r in c.store().recovered() {
            self.msg
                .info(format!("store {}: {r}", self.store.display()));
        }
        if let Some(m) = c.migration() {
            self.msg.info(m.message());
        }
    }
}

/// Where messages go: stderr, unless `--quiet`.
#[derive(Clone, Copy)]
pub struct Messages {
    pub quiet: bool,
}

impl Messages {
    pub fn info(&self, msg: impl std::fmt::Display) {
        if !self.quiet {
            eprintln!("{msg}");
        }
    }

    pub fn error(&self, msg: impl std::fmt::Display) {
        eprintln!("error: {msg}");
    }

    pub fn warn(&self, msg: impl std::fmt::Display) {
        eprintln!("warning: {msg}");
    }
}

/// Writes a line to stdout; a closed pipe (`artlens ... | head`) ends the
/// program quietly instead of panicking.
pub fn out_line(line: &str) {
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    if let Err(e) = writeln!(lock, "{line}") {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to stdout: {e}");
        std::process::exit(EXIT_ERROR);
    }
}

/// Prints a view as one JSON line.
pub fn out_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    out_line(&serde_json::to_string(value)?);
    Ok(())
}

/// Prints a view on stdout: one JSON line with `--json`, else as `text`
/// writes it; the command then succeeded.
pub fn print_view<V: serde::Serialize>(
    view: &V,
    json: bool,
    text: impl FnOnce(&V),
) -> anyhow::Result<i32> {
    if json {
        out_json(view)?;
    } else {
        text(view);
    }
    Ok(0)
}

/// An error chain as the user reads it: never sled's debug noise
/// (` backtrace ()`) or an io error's `Debug` form, and each cause once. The
/// library's errors already end with their cause ("DIR: not a folder" over
/// "not a folder"), so a cause the message above it ends with is not
/// repeated: "DIR: not a folder: not a folder" said it twice.
fn user_message(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string().replace(" backtrace ()", "");
        if out.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// A path for a text line: control characters (a newline in a file name)
/// would break line-oriented output, so they are escaped.
pub fn printable(s: &str) -> String {
    if s.chars().any(char::is_control) {
        s.escape_debug().to_string()
    } else {
        s.to_string()
    }
}

pub fn run() -> i32 {
    let cli = Cli::parse();
    let msg = Messages { quiet: cli.quiet };
    let ctx = Ctx {
        msg,
        command: cli.command.name(),
        remote: remote::Remote::find(&cli.store),
        store: cli.store,
    };
    // Said once, before anything is embedded: a slower GEMM than this
    // machine could run, and the command that fixes it.
    if matches!(
        cli.command,
        Command::Embed(_) | Command::Index(_) | Command::Bench(_)
    ) {
        if let Some(note) = artlens::model::blas::notice() {
            ctx.msg.warn(note);
        }
    }
    let result = match cli.command {
        Command::Embed(args) => embed::run(args, &ctx),
        Command::Index(args) => index::run(args, &ctx),
        Command::Similar(args) => similar::run(args, &ctx),
        Command::Show(args) => show::run_show(args, &ctx),
        Command::Ls(args) => show::run_ls(args, &ctx),
        Command::Status(args) => status::run(args, &ctx),
        Command::Models(args) => models::run(args, &ctx),
        Command::Export(args) => export::run(args, &ctx),
        Command::Rate(args) => rate::run(args, &ctx),
        Command::Train(args) => train::run(args, &ctx),
        Command::Score(args) => score::run(args, &ctx),
        Command::Compare(args) => compare::run(args, &ctx),
        Command::Map(args) => map::run(args, &ctx),
        Command::Explain(args) => explain::run(args, &ctx),
        Command::Suggest(args) => suggest::run(args, &ctx),
        Command::Search(args) => search::run(args, &ctx),
        Command::Taste(args) => taste::run(args, &ctx),
        Command::Dups(args) => dups::run(args, &ctx),
        Command::Bench(args) => bench::run(args, &ctx),
        Command::Merge(args) => merge::run(args, &ctx),
        Command::Doctor(args) => doctor::run(args, &ctx),
        Command::Serve(args) => serve::run(args, &ctx),
        Command::Completions(args) => completions::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            msg.error(user_message(&e));
            EXIT_ERROR
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn walk(cmd: &clap::Command, path: &str, problems: &mut Vec<String>) {
        for a in cmd.get_arguments() {
            let id = a.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            if a.get_help().is_none() && a.get_long_help().is_none() {
                problems.push(format!("`{path}`: argument `{id}` has no help line"));
            }
        }
        let after = cmd
            .get_after_help()
            .map(|s| s.to_string())
            .unwrap_or_default();
        if !after.contains("Example") {
            problems.push(format!("`{path} --help` does not end with an example"));
        }
        for s in cmd.get_subcommands() {
            if s.get_name() != "help" {
                walk(s, &format!("{path} {}", s.get_name()), problems);
            }
        }
    }

    #[test]
    fn every_argument_has_help_and_every_command_an_example() {
        let cmd = Cli::command();
        cmd.clone().debug_assert();
        let mut problems = Vec::new();
        walk(&cmd, "artlens", &mut problems);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn the_store_is_accepted_before_or_after_the_command() {
        for args in [
            ["artlens", "--store", "x", "status"],
            ["artlens", "status", "--store", "x"],
        ] {
            let cli = Cli::try_parse_from(args).unwrap();
            assert_eq!(cli.store, PathBuf::from("x"));
        }
    }

    #[test]
    fn one_spelling_per_flag_with_the_old_ones_as_aliases() {
        for args in [
            vec![
                "artlens",
                "index",
                "d",
                "--backbones",
                "dino,dinov2@224",
                "--threads",
                "2",
            ],
            vec!["artlens", "index", "d", "--models", "dino"],
            vec!["artlens", "similar", "--id", "1", "--model", "dino"],
            vec![
                "artlens",
                "similar",
                "--work",
                "1",
                "--backbones",
                "dinov2@224",
            ],
            vec![
                "artlens",
                "score",
                "x.png",
                "--weights",
                "dino=DIR",
                "--threads",
                "1",
            ],
            vec![
                "artlens",
                "embed",
                "--model",
                "dinov2@224",
                "--weights",
                "DIR",
                "x.png",
            ],
            vec!["artlens", "export", "--model", "dino", "out"],
            vec!["artlens", "export", "--backbone", "dino", "out"],
            vec![
                "artlens",
                "train",
                "--threads",
                "2",
                "--backbones",
                "dino,dinov2",
            ],
        ] {
            Cli::try_parse_from(&args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        }
        let e = Cli::try_parse_from(["artlens", "index", "d", "--backbones", "vgg16"]).unwrap_err();
        assert!(e.to_string().contains("dinov2"), "{e}");
    }

    #[test]
    fn paths_with_control_characters_are_escaped_in_text_output() {
        assert_eq!(printable("a\nb.png"), "a\\nb.png");
        assert_eq!(printable("plain.png"), "plain.png");
    }
}

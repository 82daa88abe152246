//! Command-line glue: clap types → validated options → library calls.
//! This layer owns everything the user sees: stdout results (plain or
//! `--json`), stderr messages and progress, and exit codes:
//! 0 = everything succeeded, 1 = the command ran but some inputs failed,
//! 2 = the command could not run (bad arguments, missing weights, ...).

mod bench;
mod compare;
mod embed;
mod export;
mod index;
mod rate;
mod score;
mod similar;
mod status;
mod store_args;
mod train;
mod weights;

use std::io::Write;

use clap::{Parser, Subcommand};

/// Exit status when some inputs failed but the rest was processed.
pub const EXIT_PARTIAL: i32 = 1;
/// Exit status when the command could not run.
pub const EXIT_ERROR: i32 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "artlens",
    version,
    about = "Embed an art collection with DINO and DINOv2 and compare what they see"
)]
pub struct Cli {
    /// No progress or informational messages on stderr (errors still print).
    #[arg(long, short, global = true)]
    quiet: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Embed images with one backbone and print the raw CLS vectors.
    Embed(embed::EmbedArgs),
    /// Embed a collection folder into the store with both backbones.
    Index(index::IndexArgs),
    /// Find the works most similar to an image, per backbone, side by side.
    Similar(similar::SimilarArgs),
    /// Show what the store holds: counts, fingerprints, failures, vanished files.
    Status(status::StatusArgs),
    /// Write one backbone's embeddings as .npy (or .csv) plus items.csv.
    Export(export::ExportArgs),
    /// Record ratings: import a CSV, set one, list them.
    Rate(rate::RateArgs),
    /// Train a taste head per backbone and compare them with cross-validation.
    Train(train::TrainArgs),
    /// Score images with each backbone's head, with the rated works it drew on.
    Score(score::ScoreArgs),
    /// The side-by-side report: label metrics, taste metrics, verdict.
    Compare(compare::CompareArgs),
    /// Measure forward-pass throughput (images/s) on random input.
    Bench(bench::BenchArgs),
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

pub fn run() -> i32 {
    let cli = Cli::parse();
    let msg = Messages { quiet: cli.quiet };
    let result = match cli.command {
        Command::Embed(args) => embed::run(args, msg),
        Command::Index(args) => index::run(args, msg),
        Command::Similar(args) => similar::run(args, msg),
        Command::Status(args) => status::run(args, msg),
        Command::Export(args) => export::run(args, msg),
        Command::Rate(args) => rate::run(args, msg),
        Command::Train(args) => train::run(args, msg),
        Command::Score(args) => score::run(args, msg),
        Command::Compare(args) => compare::run(args, msg),
        Command::Bench(args) => bench::run(args, msg),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            msg.error(format!("{e:#}"));
            EXIT_ERROR
        }
    }
}

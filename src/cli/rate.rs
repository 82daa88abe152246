//! `artlens rate`: ratings into the store (CSV import, one at a time,
//! removal, list).

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Args, Subcommand};

use super::args::WeightsArgs;
use super::{out_json, out_line, printable, Ctx, EXIT_PARTIAL};

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  artlens rate import data/ratings.csv\n  artlens rate set Minimalism/interval-2.png 8\n  artlens rate list --json"
)]
pub struct RateArgs {
    #[command(subcommand)]
    action: RateAction,
}

#[derive(Subcommand, Debug)]
enum RateAction {
    /// Import a CSV with a column naming each work (path, file name, id or
    /// hash) and a numeric score on any scale. All or nothing unless --skip-bad.
    #[command(after_help = "Example:\n  artlens rate import ratings.csv --skip-bad")]
    Import {
        /// The CSV file (header: path/file/filename/image/id/hash and rating/score/stars).
        csv: PathBuf,
        /// Import the good rows and report the bad ones (exit status 1).
        #[arg(long)]
        skip_bad: bool,
        /// Print the import report as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Rate one work, replacing an earlier rating.
    #[command(after_help = "Example:\n  artlens rate set 12 7.5")]
    Set {
        /// The work: id, content-hash prefix, stored path, path relative to the collection root, or a unique file name.
        work: String,
        /// The score, on any numeric scale.
        #[arg(allow_negative_numbers = true)]
        score: f64,
    },
    /// Remove works' ratings.
    #[command(after_help = "Example:\n  artlens rate remove 12 Minimalism/interval-2.png")]
    Remove {
        /// The works (as for `rate set`).
        #[arg(required = true)]
        works: Vec<String>,
    },
    /// List the stored ratings.
    #[command(after_help = "Example:\n  artlens rate list --json")]
    List {
        /// One JSON array on stdout: [{"id","hash","path","rating","source"}].
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: RateArgs, ctx: &Ctx) -> Result<i32> {
    let collection = ctx.open(WeightsArgs::default().config(None)?)?;
    let msg = ctx.msg;
    match args.action {
        RateAction::Import {
            csv,
            skip_bad,
            json,
        } => {
            let report = collection.rate_import(&csv, skip_bad)?;
            for bad in &report.bad {
                msg.error(format!(
                    "{}: row {}: {} (skipped)",
                    csv.display(),
                    bad.row,
                    bad.reason
                ));
            }
            for w in &report.warnings {
                msg.warn(w);
            }
            if json {
                out_json(&report)?;
            } else {
                msg.info(format!(
                    "{} ratings imported from {} ({} replaced earlier ones, {} bad rows skipped)",
                    report.imported,
                    csv.display(),
                    report.replaced,
                    report.bad.len()
                ));
            }
            Ok(if report.bad.is_empty() {
                0
            } else {
                EXIT_PARTIAL
            })
        }
        RateAction::Set { work, score } => {
            if !score.is_finite() {
                bail!("score must be a finite number");
            }
            let art = collection.rate_set(&work, score)?;
            msg.info(format!(
                "rated work {} ({}) {score}",
                art.id,
                printable(art.paths.first().map(String::as_str).unwrap_or(""))
            ));
            Ok(0)
        }
        RateAction::Remove { works } => {
            let mut missing = 0;
            for w in &works {
                if collection.rate_remove(w)? {
                    msg.info(format!("removed the rating of {w}"));
                } else {
                    missing += 1;
                    msg.error(format!("{w} had no rating"));
                }
            }
            Ok(if missing > 0 { EXIT_PARTIAL } else { 0 })
        }
        RateAction::List { json } => {
            let rows = collection.ratings()?;
            if json {
                out_json(&rows)?;
            } else {
                for r in &rows {
                    out_line(&format!(
                        "{}\t{}\t{}",
                        r.rating,
                        r.id.map(|i| i.to_string()).unwrap_or_else(|| "null".into()),
                        printable(r.path.as_deref().unwrap_or("(not in the store)"))
                    ));
                }
            }
            Ok(0)
        }
    }
}

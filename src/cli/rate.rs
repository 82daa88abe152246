//! `artlens rate`: ratings and preferences into the store, per rater (CSV
//! import, one at a time, "this one over that one", removal, clearing, list).

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Args, Subcommand};

use artlens::ratings::Rater;

use super::args::{parse_rater, WeightsArgs};
use super::{out_json, out_line, printable, Ctx, EXIT_PARTIAL};

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  artlens rate import data/ratings.csv\n  artlens rate set Minimalism/interval-2.png 8\n  artlens rate prefer 12 40\n  artlens rate list --rater anna --json"
)]
pub struct RateArgs {
    #[command(subcommand)]
    action: RateAction,
    /// Whose ratings: letters, digits, - and _ (a CSV's `rater` column
    /// overrides it row by row).
    #[arg(long, global = true, default_value = "me", value_parser = parse_rater)]
    rater: Rater,
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
    /// Remove works' ratings (nothing when any work is unknown).
    #[command(after_help = "Example:\n  artlens rate remove 12 Minimalism/interval-2.png")]
    Remove {
        /// The works (as for `rate set`).
        #[arg(required = true)]
        works: Vec<String>,
    },
    /// Remove every rating and preference of the rater.
    #[command(after_help = "Example:\n  artlens rate clear --rater anna")]
    Clear,
    /// Say that you prefer one work to another (kept even when it
    /// contradicts an earlier preference).
    #[command(after_help = "Example:\n  artlens rate prefer Minimalism/interval-2.png 12")]
    Prefer {
        /// The preferred work (as for `rate set`).
        winner: String,
        /// The other work.
        loser: String,
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
    let rater = args.rater;
    let by = if rater.is_default() {
        String::new()
    } else {
        format!(" by `{rater}`")
    };
    match args.action {
        RateAction::Import {
            csv,
            skip_bad,
            json,
        } => {
            let report = collection.rate_import_as(&csv, skip_bad, &rater)?;
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
            let art = collection.rate_set_as(&rater, &work, score)?;
            msg.info(format!(
                "rated work {} ({}) {score}{by}",
                art.id,
                printable(art.paths.first().map(String::as_str).unwrap_or(""))
            ));
            Ok(0)
        }
        RateAction::Remove { works } => {
            let report = collection.rate_remove_many(&rater, &works)?;
            for (w, _) in &report.removed {
                msg.info(format!("removed the rating{by} of {}", printable(w)));
            }
            for w in &report.not_rated {
                msg.error(format!("{} had no rating{by}", printable(w)));
            }
            Ok(if report.not_rated.is_empty() {
                0
            } else {
                EXIT_PARTIAL
            })
        }
        RateAction::Clear => {
            let (r, p) = collection.rate_clear(&rater)?;
            msg.info(format!(
                "removed {r} ratings and {p} preferences of rater `{rater}`"
            ));
            Ok(0)
        }
        RateAction::Prefer { winner, loser } => {
            let added = collection.rate_prefer(&rater, &winner, &loser)?;
            let name = |a: &artlens::store::Artwork| {
                format!(
                    "work {} ({})",
                    a.id,
                    printable(a.paths.first().map(String::as_str).unwrap_or(""))
                )
            };
            msg.info(format!(
                "{} preferred to {}{by}{}",
                name(&added.winner),
                name(&added.loser),
                if added.repeated { " (again)" } else { "" }
            ));
            if added.contradicts {
                msg.warn(format!(
                    "this contradicts an earlier preference{by} for the other work; both are kept (`artlens status` counts contradictions)"
                ));
            }
            Ok(0)
        }
        RateAction::List { json } => {
            let rows = collection.ratings_of(&rater)?;
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

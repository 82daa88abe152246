//! `artlens rate`: ratings and preferences into the store, per rater (CSV
//! import, one at a time, "this one over that one" and taking it back,
//! removal, clearing, and listing as CSV that `rate import` reads back).

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Args, Subcommand};

use artlens::ratings::Rater;

use super::args::{parse_rater, WeightsArgs};
use super::{out_json, out_line, printable, Ctx, EXIT_PARTIAL};

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  artlens rate import data/ratings.csv\n  artlens rate set Minimalism/wren-calloway_interval-2.png 8\n  artlens rate prefer 12 40\n  artlens rate unprefer 12 40\n  artlens rate list --rater anna > anna.csv\n  artlens rate list --preferences --json"
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
    #[command(after_help = "Example:\n  artlens rate import data/ratings.csv --skip-bad")]
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
    #[command(after_help = "Example:\n  artlens rate remove 12 Minimalism/wren-calloway_interval-2.png")]
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
    #[command(after_help = "Example:\n  artlens rate prefer Minimalism/wren-calloway_interval-2.png 12")]
    Prefer {
        /// The preferred work (as for `rate set`).
        winner: String,
        /// The other work.
        loser: String,
    },
    /// Take back one preference (the latest time it was said); the
    /// opposite preference, if any, stays.
    #[command(after_help = "Example:\n  artlens rate unprefer Minimalism/wren-calloway_interval-2.png 12")]
    Unprefer {
        /// The work that was preferred (as for `rate set`).
        winner: String,
        /// The other work.
        loser: String,
    },
    /// List the rater's ratings as CSV (path,rating,rater,id,hash,title)
    /// that `rate import` reads back unchanged, or their preferences.
    #[command(
        after_help = "Examples:\n  artlens rate list > ratings.csv\n  artlens rate import ratings.csv\n  artlens rate list --preferences --json"
    )]
    List {
        /// List the preferences instead, as CSV
        /// (winner,loser,rater,time,winner_id,loser_id,winner_hash,loser_hash,source).
        #[arg(long)]
        preferences: bool,
        /// One JSON array on stdout: [{"id","hash","path","rating","source"}]
        /// for ratings, [{"rater","winner_id","winner_hash","winner_path",
        /// "loser_id","loser_hash","loser_path","source","time"}] for preferences.
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
            msg.info(format!(
                "{} preferred to {}{by}{}",
                work_name(&added.winner),
                work_name(&added.loser),
                if added.repeated { " (again)" } else { "" }
            ));
            if added.contradicts {
                msg.warn(format!(
                    "this contradicts an earlier preference{by} for the other work; both are kept (`artlens status` counts contradictions)"
                ));
            }
            Ok(0)
        }
        RateAction::Unprefer { winner, loser } => {
            let removed = collection.rate_unprefer(&rater, &winner, &loser)?;
            msg.info(format!(
                "took back{by} the preference of {} over {}",
                work_name(&removed.winner),
                work_name(&removed.loser)
            ));
            Ok(0)
        }
        RateAction::List { preferences, json } => {
            // CSV is written unescaped (the csv crate quotes what needs
            // quoting): `rate import` must read back the stored paths as
            // they are.
            let text = match (preferences, json) {
                (false, true) => return out_json(&collection.ratings_of(&rater)?).map(|_| 0),
                (true, true) => return out_json(&collection.preferences_of(&rater)?).map(|_| 0),
                (false, false) => collection.ratings_csv(&rater)?,
                (true, false) => collection.preferences_csv(&rater)?,
            };
            out_line(text.strip_suffix('\n').unwrap_or(&text));
            Ok(0)
        }
    }
}

/// A work as messages name it: `work 12 (path)`.
fn work_name(a: &artlens::store::Artwork) -> String {
    format!(
        "work {} ({})",
        a.id,
        printable(a.paths.first().map(String::as_str).unwrap_or(""))
    )
}

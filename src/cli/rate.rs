//! `artlens rate`: ratings and preferences into the store, per rater (CSV
//! import, one at a time, "this one over that one" and taking it back,
//! removal, clearing, and listing as CSV that `rate import` reads back).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};

use artlens::ratings::{ImportReport, Rater};

use super::args::{parse_rater, WeightsArgs};
use super::remote::Remote;
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
    #[command(
        after_help = "Example:\n  artlens rate remove 12 Minimalism/wren-calloway_interval-2.png"
    )]
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
    #[command(
        after_help = "Example:\n  artlens rate prefer Minimalism/wren-calloway_interval-2.png 12"
    )]
    Prefer {
        /// The preferred work (as for `rate set`).
        winner: String,
        /// The other work.
        loser: String,
    },
    /// Take back one preference (the latest time it was said); the
    /// opposite preference, if any, stays.
    #[command(
        after_help = "Example:\n  artlens rate unprefer Minimalism/wren-calloway_interval-2.png 12"
    )]
    Unprefer {
        /// The work that was preferred (as for `rate set`).
        winner: String,
        /// The other work.
        loser: String,
    },
    /// Rebuild every rater's ratings and preferences from a ratings
    /// journal: the file each store keeps beside its database
    /// (STORE/ratings-journal.jsonl), with every change ever acknowledged.
    #[command(
        after_help = "Example (the database was lost; the journal was kept):\n  artlens index data/collection --store new-index\n  artlens rate restore index/ratings-journal.jsonl --store new-index"
    )]
    Restore {
        /// The journal file.
        journal: PathBuf,
        /// Print what was restored as JSON on stdout:
        /// {"journal","lines","restored":{"ratings","preferences"},"removed","torn_last_line"}.
        #[arg(long)]
        json: bool,
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

/// " by `anna`" after a message about a rater other than the default one.
fn by_rater(rater: &Rater) -> String {
    if rater.is_default() {
        String::new()
    } else {
        format!(" by `{rater}`")
    }
}

pub fn run(args: RateArgs, ctx: &Ctx) -> Result<i32> {
    if let Some(r) = &ctx.remote {
        return run_remote(args, ctx, r);
    }
    let collection = ctx.open(WeightsArgs::default().config(None)?)?;
    let msg = ctx.msg;
    let rater = args.rater;
    let by = by_rater(&rater);
    match args.action {
        RateAction::Import {
            csv,
            skip_bad,
            json,
        } => {
            let report = collection.rate_import_as(&csv, skip_bad, &rater)?;
            imported(ctx, &csv, &report, json)
        }
        RateAction::Set { work, score } => {
            if !score.is_finite() {
                bail!("score must be a finite number");
            }
            let art = collection.rate_set_as(&rater, &work, score)?;
            msg.info(format!(
                "rated {} {score}{by}",
                work_name(art.id, &art.paths)
            ));
            Ok(0)
        }
        RateAction::Remove { works } => {
            let report = collection.rate_remove_many(&rater, &works)?;
            let removed: Vec<&String> = report.removed.iter().map(|(w, _)| w).collect();
            Ok(removed_report(ctx, &rater, &removed, &report.not_rated))
        }
        RateAction::Clear => {
            let (r, p) = collection.rate_clear(&rater)?;
            cleared(ctx, &rater, r, p);
            Ok(0)
        }
        RateAction::Prefer { winner, loser } => {
            let added = collection.rate_prefer(&rater, &winner, &loser)?;
            preferred(
                ctx,
                &rater,
                [
                    work_name(added.winner.id, &added.winner.paths),
                    work_name(added.loser.id, &added.loser.paths),
                ],
                added.repeated,
                added.contradicts,
            );
            Ok(0)
        }
        RateAction::Unprefer { winner, loser } => {
            let removed = collection.rate_unprefer(&rater, &winner, &loser)?;
            msg.info(format!(
                "took back{by} the preference of {} over {}",
                work_name(removed.winner.id, &removed.winner.paths),
                work_name(removed.loser.id, &removed.loser.paths)
            ));
            Ok(0)
        }
        RateAction::Restore { journal, json } => {
            let report = collection.rate_restore(&journal)?;
            restored(ctx, &report, json)
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

/// What `rate restore` says about its report.
fn restored(ctx: &Ctx, report: &artlens::store::ReplayReport, json: bool) -> Result<i32> {
    if report.torn_last_line {
        ctx.msg.warn(format!(
            "{}: the last line was cut short (a crash while it was written, before its change was acknowledged) and is skipped",
            report.journal.display()
        ));
    }
    if json {
        out_json(report)?;
    } else {
        let count = |tree: &str| report.restored.get(tree).copied().unwrap_or(0);
        ctx.msg.info(format!(
            "restored {} and {} from {} ({} read)",
            artlens::plain::count(count("ratings"), "rating", "ratings"),
            artlens::plain::count(count("preferences"), "preference", "preferences"),
            report.journal.display(),
            artlens::plain::count(report.lines, "change", "changes"),
        ));
    }
    Ok(0)
}

/// A work as messages name it: `work 12 (path)`.
fn work_name(id: u64, paths: &[String]) -> String {
    format!(
        "work {id} ({})",
        printable(paths.first().map(String::as_str).unwrap_or(""))
    )
}

/// What `rate import` says about its report, and its exit status.
fn imported(ctx: &Ctx, csv: &Path, report: &ImportReport, json: bool) -> Result<i32> {
    let msg = ctx.msg;
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
        out_json(report)?;
    } else {
        msg.info(format!(
            "{} imported from {} ({} replaced earlier ones, {} skipped)",
            artlens::plain::count(report.imported, "rating", "ratings"),
            csv.display(),
            report.replaced,
            artlens::plain::count(report.bad.len(), "bad row", "bad rows")
        ));
    }
    Ok(if report.bad.is_empty() {
        0
    } else {
        EXIT_PARTIAL
    })
}

/// What `rate remove` says, and its exit status.
fn removed_report(ctx: &Ctx, rater: &Rater, removed: &[&String], not_rated: &[String]) -> i32 {
    let by = by_rater(rater);
    for w in removed {
        ctx.msg
            .info(format!("removed the rating{by} of {}", printable(w)));
    }
    for w in not_rated {
        ctx.msg.error(format!("{} had no rating{by}", printable(w)));
    }
    if not_rated.is_empty() {
        0
    } else {
        EXIT_PARTIAL
    }
}

fn cleared(ctx: &Ctx, rater: &Rater, ratings: usize, preferences: usize) {
    ctx.msg.info(format!(
        "removed {ratings} ratings and {preferences} preferences of rater `{rater}`"
    ));
}

/// What `rate prefer` says: `[winner, loser]` as [`work_name`] names them.
fn preferred(
    ctx: &Ctx,
    rater: &Rater,
    [winner, loser]: [String; 2],
    repeated: bool,
    contradicts: bool,
) {
    let by = by_rater(rater);
    ctx.msg.info(format!(
        "{winner} preferred to {loser}{by}{}",
        if repeated { " (again)" } else { "" }
    ));
    if contradicts {
        ctx.msg.warn(format!(
            "this contradicts an earlier preference{by} for the other work; both are kept (`artlens status` counts contradictions)"
        ));
    }
}

/// `rate` through the running server, which records the ratings of the
/// rater it was started with (and retrains after each change).
fn run_remote(args: RateArgs, ctx: &Ctx, r: &Remote) -> Result<i32> {
    let rater = args.rater;
    r.check_rater(&rater)?;
    let by = by_rater(&rater);
    match args.action {
        // A restore writes every rater's records at once, which the
        // server's routes (one rater each) do not do.
        RateAction::Restore { .. } => Err(r.refuse("rate restore")),
        RateAction::Import {
            csv,
            skip_bad,
            json,
        } => {
            let text = std::fs::read_to_string(&csv).with_context(|| csv.display().to_string())?;
            let report: ImportReport = r.send(
                "POST",
                "/api/ratings/import",
                &serde_json::json!({
                    "csv": text,
                    "skip_bad": skip_bad,
                    "name": csv.display().to_string(),
                }),
            )?;
            imported(ctx, &csv, &report, json)
        }
        RateAction::Set { work, score } => {
            if !score.is_finite() {
                bail!("score must be a finite number");
            }
            let w = r.lookup(&work)?;
            let _: serde_json::Value = r.send(
                "PUT",
                &format!("/api/works/{}/rating", w.id),
                &serde_json::json!({ "score": score }),
            )?;
            ctx.msg
                .info(format!("rated {} {score}{by}", work_name(w.id, &w.paths)));
            Ok(0)
        }
        RateAction::Remove { works } => {
            // Every name is resolved before anything is removed, so that an
            // unknown one removes nothing, as on the direct path.
            let ids = works
                .iter()
                .map(|w| r.lookup(w).map(|w| w.id))
                .collect::<Result<Vec<u64>>>()?;
            let (mut removed, mut not_rated) = (Vec::new(), Vec::new());
            for (name, id) in works.iter().zip(ids) {
                #[derive(serde::Deserialize)]
                struct Removed {
                    removed: bool,
                }
                let answer: Removed = r.delete(&format!("/api/works/{id}/rating"))?;
                if answer.removed {
                    removed.push(name);
                } else {
                    not_rated.push(name.clone());
                }
            }
            Ok(removed_report(ctx, &rater, &removed, &not_rated))
        }
        RateAction::Clear => {
            #[derive(serde::Deserialize)]
            struct Cleared {
                ratings: usize,
                preferences: usize,
            }
            let c: Cleared = r.delete("/api/ratings")?;
            cleared(ctx, &rater, c.ratings, c.preferences);
            Ok(0)
        }
        RateAction::Prefer { winner, loser } => {
            let (w, l) = (r.lookup(&winner)?, r.lookup(&loser)?);
            #[derive(serde::Deserialize)]
            struct Added {
                repeated: bool,
                contradicts: bool,
            }
            let added: Added = r.send(
                "POST",
                "/api/preferences",
                &serde_json::json!({ "winner": w.id, "loser": l.id }),
            )?;
            preferred(
                ctx,
                &rater,
                [work_name(w.id, &w.paths), work_name(l.id, &l.paths)],
                added.repeated,
                added.contradicts,
            );
            Ok(0)
        }
        RateAction::Unprefer { winner, loser } => {
            let (w, l) = (r.lookup(&winner)?, r.lookup(&loser)?);
            let _: serde_json::Value = r.send(
                "DELETE",
                "/api/preferences",
                &serde_json::json!({ "winner": w.id, "loser": l.id }),
            )?;
            ctx.msg.info(format!(
                "took back{by} the preference of {} over {}",
                work_name(w.id, &w.paths),
                work_name(l.id, &l.paths)
            ));
            Ok(0)
        }
        RateAction::List { preferences, json } => {
            let text = match (preferences, json) {
                (false, true) => {
                    let rows: Vec<artlens::app::RatingView> = r.get("/api/ratings", &[])?;
                    return out_json(&rows).map(|_| 0);
                }
                (true, true) => {
                    let rows: Vec<artlens::app::PreferenceView> = r.get("/api/preferences", &[])?;
                    return out_json(&rows).map(|_| 0);
                }
                (false, false) => r.get_text("/api/ratings.csv", &[])?,
                (true, false) => r.get_text("/api/preferences.csv", &[])?,
            };
            out_line(text.strip_suffix('\n').unwrap_or(&text));
            Ok(0)
        }
    }
}

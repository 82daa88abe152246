//! `artlens rate`: ratings into the store (CSV import, one at a time, list).

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Args, Subcommand};

use artlens::ratings;

use super::store_args::StoreArgs;
use super::{out_line, Messages, EXIT_PARTIAL};

#[derive(Args, Debug)]
pub struct RateArgs {
    #[command(subcommand)]
    action: RateAction,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Subcommand, Debug)]
enum RateAction {
    /// Import a CSV with a column naming each work (path, file name, id or
    /// hash) and a numeric score on any scale. All or nothing unless --skip-bad.
    Import {
        csv: PathBuf,
        /// Import the good rows and report the bad ones (exit status 1).
        #[arg(long)]
        skip_bad: bool,
        #[arg(long)]
        json: bool,
    },
    /// Rate one work: a stored path, id or content hash.
    Set {
        work: String,
        #[arg(allow_negative_numbers = true)]
        score: f64,
    },
    /// List the stored ratings.
    List {
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: RateArgs, msg: Messages) -> Result<i32> {
    let store = args.store.open_existing()?;
    match args.action {
        RateAction::Import {
            csv,
            skip_bad,
            json,
        } => {
            let report = ratings::import_csv(&store, &csv, skip_bad)?;
            store.flush()?;
            for bad in &report.bad {
                msg.error(format!(
                    "{}: row {}: {} (skipped)",
                    csv.display(),
                    bad.row,
                    bad.reason
                ));
            }
            if json {
                out_line(&serde_json::to_string(&report)?);
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
            let art = ratings::set_rating(&store, &work, score)?;
            store.flush()?;
            msg.info(format!(
                "rated work {} ({}) {score}",
                art.id,
                art.paths.first().map(String::as_str).unwrap_or("")
            ));
            Ok(0)
        }
        RateAction::List { json } => {
            let mut rows = Vec::new();
            for (hash, r) in ratings::rating_records(&store)? {
                let art = store.artwork(&hash)?;
                rows.push(serde_json::json!({
                    "id": art.as_ref().map(|a| a.id),
                    "hash": hash,
                    "path": art.as_ref().and_then(|a| a.paths.first().cloned()),
                    "rating": r.rating,
                    "source": r.source,
                }));
            }
            if json {
                out_line(&serde_json::Value::Array(rows).to_string());
            } else {
                for r in &rows {
                    out_line(&format!(
                        "{}\t{}\t{}",
                        r["rating"],
                        r["id"],
                        r["path"].as_str().unwrap_or("(not in the store)")
                    ));
                }
            }
            Ok(0)
        }
    }
}

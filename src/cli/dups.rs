//! `artlens dups`: near-duplicate groups, and the marks that record which
//! works are copies of which (`mark`, `unmark`, `keep`).
//!
//! Subcommands rather than flags (`dups --mark 7 --of 3`): each action takes
//! different arguments, and `dups` alone stays a read-only listing, which
//! a script can run without fear of changing anything.

use anyhow::Result;
use clap::{Args, Subcommand};

use artlens::app::{CopyChange, DupsRequest, DupsView};
use artlens::model::registry::BackboneId;

use super::args::{parse_backbone, WeightsArgs};
use super::progress::Progress;
use super::{out_json, out_line, printable, Ctx};

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  artlens dups\n  artlens dups --backbone dinov2 --threshold 0.6 --json\n  artlens dups mark 31 --of 12  # 31 is a copy of 12\n  artlens dups keep 31          # keep 31 instead: 12 and the rest of the group become its copies\n  artlens dups unmark 12"
)]
pub struct DupsArgs {
    #[command(flatten)]
    find: FindArgs,
    #[command(subcommand)]
    action: Option<Action>,
}

/// How groups are found (also for `keep`, which keeps a found group).
#[derive(Args, Debug)]
struct FindArgs {
    /// The backbone whose nearest neighbours are the candidates (default:
    /// the first in the store).
    #[arg(long, visible_alias = "model", value_parser = parse_backbone, global = true)]
    backbone: Option<BackboneId>,
    /// Cosine similarity a neighbour needs to be a candidate, 0 to 1
    /// (default: the backbone's, 0.5 for DINO-like, 0.8 for CLIP and SigLIP).
    #[arg(long, global = true, allow_negative_numbers = true)]
    threshold: Option<f64>,
    /// Aligned-pixel agreement a candidate needs to be a copy, 0 to 1
    /// (default 0.9).
    #[arg(long, global = true, allow_negative_numbers = true)]
    agreement: Option<f64>,
    /// One JSON object on stdout.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum Action {
    /// Record COPY as a copy of REP (nothing is deleted; its ratings train in one fold with REP).
    #[command(after_help = "Example:\n  artlens dups mark 32 --of 12")]
    Mark {
        /// The copy: an id, a hash prefix, a path or a file name.
        copy: String,
        /// The work it copies (its group's representative).
        #[arg(long)]
        of: String,
    },
    /// Take back a copy's mark.
    #[command(after_help = "Example:\n  artlens dups unmark 32")]
    Unmark {
        /// The work marked a copy.
        copy: String,
    },
    /// Keep WORK as its group's representative: every other work of its group becomes its copy.
    #[command(after_help = "Example:\n  artlens dups mark 31 --of 12 && artlens dups keep 31")]
    Keep {
        /// The work to keep.
        work: String,
    },
}

pub fn run(args: DupsArgs, ctx: &Ctx) -> Result<i32> {
    let req = DupsRequest {
        backbone: args.find.backbone.clone(),
        threshold: args.find.threshold,
        agreement: args.find.agreement,
    };
    req.validate()?;
    let c = ctx.open(WeightsArgs::default().config(None)?)?;
    let mut progress = Progress::new(ctx.msg, "works");
    let change = match args.action {
        None => {
            let view = c.dups(&req, &mut |e| progress.event(e))?;
            progress.finish();
            if args.find.json {
                out_json(&view)?;
            } else {
                print_groups(&view);
            }
            return Ok(0);
        }
        Some(Action::Mark { copy, of }) => c.mark_copy(&copy, &of)?,
        Some(Action::Unmark { copy }) => c.unmark_copy(&copy)?,
        Some(Action::Keep { work }) => {
            let ch = c.keep_representative(&work, &req, &mut |e| progress.event(e))?;
            progress.finish();
            ch
        }
    };
    print_change(&change, args.find.json)?;
    Ok(0)
}

fn print_change(change: &CopyChange, json: bool) -> Result<()> {
    if json {
        out_json(change)
    } else {
        out_line(&change.message);
        Ok(())
    }
}

/// The text listing: one block per group, the representative first.
fn print_groups(view: &DupsView) {
    out_line(&format!(
        "{} by {} ({} works, {} candidate pairs, {} confirmed by the pixels{})",
        artlens::plain::count(view.groups.len(), "duplicate group", "duplicate groups"),
        view.backbone,
        view.works,
        view.candidates,
        view.verified,
        if view.unreadable > 0 {
            format!(", {} pictures unreadable", view.unreadable)
        } else {
            String::new()
        }
    ));
    for g in &view.groups {
        out_line("");
        for m in &g.members {
            let role = if m.representative {
                if g.chosen {
                    "keep (chosen)".to_string()
                } else {
                    "keep (largest)".to_string()
                }
            } else if m.marked {
                "copy (marked)".to_string()
            } else {
                "copy?".to_string()
            };
            let sim = m
                .similarity
                .map_or("-".to_string(), |s| artlens::plain::similarity(s as f32));
            let agr = m
                .agreement
                .map_or("-".to_string(), |s| artlens::plain::similarity(s as f32));
            out_line(&format!(
                "  {:<15} #{:<6} {:>5}×{:<5} similarity {:<5} pixels {:<5} {}",
                role,
                m.id,
                m.width,
                m.height,
                sim,
                agr,
                printable(&m.path)
            ));
        }
    }
    out_line("");
    out_line(&view.method);
}

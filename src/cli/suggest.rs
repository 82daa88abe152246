//! `artlens suggest`: the unrated works whose rating would help most.

use anyhow::Result;
use clap::Args;

use artlens::app::{Goal, SuggestRequest};
use artlens::limits::MAX_RESULTS;

use super::args::{parse_rater, BackboneArgs};
use super::{out_json, out_line, printable, Ctx};

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  artlens suggest\n  artlens suggest -n 20 --goal taste --rater anna --json"
)]
pub struct SuggestArgs {
    #[arg(short, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=MAX_RESULTS as i64),
          help = format!("How many works to suggest, 1 to {MAX_RESULTS}"))]
    n: u32,
    /// verdict: works the backbones' heads disagree on most (spread across
    /// the collection); taste: works the head is least sure about, covering
    /// the collection.
    #[arg(long, value_enum, default_value = "verdict")]
    goal: Goal,
    /// Whose ratings and heads.
    #[arg(long, default_value = "me", value_parser = parse_rater)]
    rater: artlens::ratings::Rater,
    #[command(flatten)]
    backbones: BackboneArgs,
    /// One JSON object on stdout: {"goal","method","rater","message","works":[{"id","hash","path","usefulness","predictions"}]}.
    #[arg(long)]
    json: bool,
}

pub fn run(args: SuggestArgs, ctx: &Ctx) -> Result<i32> {
    let req = SuggestRequest {
        n: args.n as usize,
        goal: args.goal,
        rater: args.rater,
        backbones: args.backbones.get(),
    };
    let view: artlens::app::SuggestView = match &ctx.remote {
        Some(r) => r.suggest(&req)?,
        None => ctx.open(Default::default())?.suggest(&req)?,
    };
    if let Some(m) = &view.message {
        ctx.msg.info(m);
    }
    if args.json {
        out_json(&view)?;
        return Ok(0);
    }
    if view.works.is_empty() {
        ctx.msg.info("every work is rated already");
    }
    for s in &view.works {
        out_line(&format!(
            "{}\t{:.3}\t{}",
            s.id,
            s.usefulness,
            printable(s.path.as_deref().unwrap_or(""))
        ));
    }
    Ok(0)
}

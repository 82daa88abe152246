//! `artlens taste`: a rater's taste described in words, per text-capable
//! backbone: the vocabulary phrases that best explain the ratings, up and
//! down, with their strength, a held-out figure and the chance level.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use artlens::app::{TasteWordsRequest, TasteWordsView};
use artlens::plain::score;

use super::args::{parse_rater, BackboneArgs, WeightsArgs};
use super::remote::query_fields;
use super::{out_line, print_view, printable, Ctx};

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  artlens taste\n  artlens taste --rater me --backbones clip-b16-hf --json\n  artlens taste --vocabulary data/phrases.txt --html taste.html"
)]
pub struct TasteArgs {
    /// Whose ratings are described.
    #[arg(long, default_value = "me", value_parser = parse_rater)]
    rater: artlens::ratings::Rater,
    #[command(flatten)]
    backbones: BackboneArgs,
    /// More phrases, one a line (# lines ignored), added to the built-in
    /// vocabulary; repeats and empty lines are dropped and counted.
    #[arg(long, value_name = "FILE")]
    vocabulary: Option<PathBuf>,
    /// One JSON object on stdout: {"rater","ratings","vocabulary","backbones","columns":[{"backbone","words":{"up","down","best_held_out","chance_level","p_value","explains",...},"sentence"}],"skipped","method"}.
    #[arg(long)]
    json: bool,
    /// Also write a self-contained HTML page to FILE.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    #[command(flatten)]
    weights: WeightsArgs,
}

pub fn run(args: TasteArgs, ctx: &Ctx) -> Result<i32> {
    let req = TasteWordsRequest {
        rater: args.rater.clone(),
        backbones: args.backbones.get(),
        vocabulary: args.vocabulary.clone(),
    };
    let view: TasteWordsView = match &ctx.remote {
        Some(r) => {
            r.check_rater(&req.rater)?;
            if req.vocabulary.is_some() {
                return Err(r.limit(
                    "--vocabulary cannot be used (the server reads no file a request names); leave it out to use the built-in vocabulary",
                ));
            }
            r.get(
                "/api/taste/words",
                &query_fields(Vec::new(), &req.backbones, &[]),
            )?
        }
        None => ctx.open(args.weights.config(None)?)?.taste_words(&req)?,
    };
    ctx.msg
        .info(format!("vocabulary: {}", view.vocabulary.sentence()));
    for s in &view.skipped {
        ctx.msg
            .info(format!("{} skipped: {}", s.backbone, s.reason));
    }
    ctx.write_html(args.html.as_deref(), || {
        artlens::report::render_taste_words_html(&view)
    })?;
    print_view(&view, args.json, print_text)
}

fn print_text(view: &TasteWordsView) {
    out_line(&format!(
        "taste in words of rater {} ({})",
        view.rater,
        artlens::plain::count(view.ratings, "rating", "ratings")
    ));
    for c in &view.columns {
        out_line("");
        out_line(&format!("{} ({})", c.display_name, c.backbone));
        out_line(&format!("  {}", printable(&c.sentence)));
        for (title, list) in [
            ("rated higher", &c.words.up),
            ("rated lower", &c.words.down),
        ] {
            if list.is_empty() {
                continue;
            }
            out_line(&format!(
                "  {title}:{:>w$}strength  held out  p (all phrases)",
                "",
                w = 36 - title.len()
            ));
            for f in list.iter() {
                let phrase: String = printable(&f.phrase).chars().take(34).collect();
                out_line(&format!(
                    "    {phrase:<34} {:>8}  {:>8}  {:>8}{}",
                    score(f.spearman),
                    score(f.held_out),
                    artlens::plain::p_value(f.adjusted_p),
                    if f.beyond_chance { "" } else { "  (chance)" }
                ));
            }
        }
        out_line(&format!(
            "  best phrase chosen inside the folds, held out: {}; chance reaches {} (p {} for the best phrase, {} shuffles)",
            score(c.words.best_held_out),
            score(c.words.chance_level),
            artlens::plain::p_value(c.words.p_value),
            c.words.permutations
        ));
    }
}

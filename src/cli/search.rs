//! `artlens search`: the works nearest to a text query, per text-capable
//! backbone, side by side.

use anyhow::Result;
use clap::Args;

use artlens::app::{SearchRequest, SearchView};

use super::args::{parse_rater, ResultArgs, WeightsArgs};
use super::columns::{hit_name, print_columns, where_clause};
use super::remote::query_fields;
use super::{out_line, print_view, Ctx};

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  artlens search \"a stormy sea at night\"\n  artlens search '\"stormy sea\" +work:12 -\"people\"' -k 5\n  artlens search '\"sea\":2 boats' --where style=Impressionism --backbones clip-b16-hf --json"
)]
pub struct SearchArgs {
    /// The query: words make a phrase; "a quoted phrase" is one term;
    /// work:NAME is a stored work; + or - before a term moves towards or
    /// away from it; :W after a term weighs it ("sea":2).
    #[arg(allow_hyphen_values = true)]
    query: String,
    #[command(flatten)]
    results: ResultArgs,
    /// Whose ratings the results show.
    #[arg(long, default_value = "me", value_parser = parse_rater)]
    rater: artlens::ratings::Rater,
    /// One JSON object on stdout: {"query","terms","rater","backbones","skipped","results":{ID:[{"id","hash","path","similarity","rating","metadata"}]},"filters","notes"}.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    weights: WeightsArgs,
}

pub fn run(args: SearchArgs, ctx: &Ctx) -> Result<i32> {
    let req = SearchRequest {
        query: args.query.clone(),
        k: args.results.k(),
        backbones: args.results.backbones(),
        filters: args.results.filters(),
        rater: args.rater.clone(),
    };
    let view: SearchView = match &ctx.remote {
        Some(r) => {
            r.check_rater(&req.rater)?;
            let first = vec![("q", req.query.clone()), ("k", req.k.to_string())];
            r.get(
                "/api/search",
                &query_fields(first, &req.backbones, &req.filters),
            )?
        }
        None => ctx.open(args.weights.config(None)?)?.search(&req)?,
    };
    for n in &view.notes {
        ctx.msg.info(n);
    }
    print_view(&view, args.json, print_table)
}

fn print_table(view: &SearchView) {
    let terms: Vec<&str> = view.terms.iter().map(|t| t.term.as_str()).collect();
    let filters = where_clause(&view.filters);
    out_line(&format!("works nearest to {}{filters}", terms.join(" ")));
    let rows = print_columns(&view.backbones, &view.results, |h| {
        let rated = h
            .rating
            .map(|r| format!(" (rated {})", artlens::plain::score(r)))
            .unwrap_or_default();
        format!(
            "{} {}{rated}",
            artlens::plain::similarity(h.similarity),
            hit_name(h)
        )
    });
    if rows == 0 {
        out_line("no work matches");
    }
}

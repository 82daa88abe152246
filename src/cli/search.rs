//! `artlens search`: the works nearest to a text query, per text-capable
//! backbone, side by side.

use anyhow::Result;
use clap::Args;

use artlens::app::{SearchRequest, SearchView};
use artlens::limits::MAX_RESULTS;

use super::args::{parse_rater, BackboneArgs, WeightsArgs};
use super::{out_json, out_line, printable, Ctx};

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
    #[arg(short, long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=MAX_RESULTS as i64),
          help = format!("Results per backbone, 1 to {MAX_RESULTS}"))]
    k: u32,
    #[command(flatten)]
    backbones: BackboneArgs,
    /// Keep only works whose metadata KEY equals VALUE (case-insensitive); repeatable.
    #[arg(long = "where", value_name = "KEY=VALUE")]
    filters: Vec<String>,
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
        k: args.k as usize,
        backbones: args.backbones.get(),
        filters: args.filters.clone(),
        rater: args.rater.clone(),
    };
    let view: SearchView = match &ctx.remote {
        Some(r) => {
            r.check_rater(&req.rater)?;
            let mut fields: Vec<(&str, String)> =
                vec![("q", req.query.clone()), ("k", req.k.to_string())];
            for b in req.backbones.iter().flatten() {
                fields.push(("backbone", b.name()));
            }
            for f in &req.filters {
                fields.push(("where", f.clone()));
            }
            r.get("/api/search", &fields)?
        }
        None => ctx.open(args.weights.config(None)?)?.search(&req)?,
    };
    for n in &view.notes {
        ctx.msg.info(n);
    }
    if args.json {
        out_json(&view)?;
    } else {
        print_table(&view);
    }
    Ok(0)
}

fn print_table(view: &SearchView) {
    let terms: Vec<&str> = view.terms.iter().map(|t| t.term.as_str()).collect();
    let filters = if view.filters.is_empty() {
        String::new()
    } else {
        format!(" where {}", view.filters.join(", "))
    };
    out_line(&format!("works nearest to {}{filters}", terms.join(" ")));
    let name = |h: &artlens::app::SearchHit| {
        let title = h.metadata.get("title").cloned();
        let path = h.path.as_ref().map(|p| {
            std::path::Path::new(p)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.clone())
        });
        let rated = h
            .rating
            .map(|r| format!(" (rated {})", artlens::plain::score(r)))
            .unwrap_or_default();
        printable(&format!(
            "#{} {}{rated}",
            h.id,
            title.or(path).unwrap_or_default()
        ))
    };
    const W: usize = 44;
    let rows = view.results.values().map(Vec::len).max().unwrap_or(0);
    let header: Vec<String> = view.backbones.iter().map(|b| format!("{b:<W$}")).collect();
    out_line(&format!("rank  {}", header.join("  ")));
    for i in 0..rows {
        let cells: Vec<String> = view
            .backbones
            .iter()
            .map(|b| match view.results.get(b).and_then(|hits| hits.get(i)) {
                Some(h) => {
                    let s: String =
                        format!("{} {}", artlens::plain::similarity(h.similarity), name(h))
                            .chars()
                            .take(W)
                            .collect();
                    format!("{s:<W$}")
                }
                None => format!("{:<W$}", ""),
            })
            .collect();
        out_line(&format!("{:>4}  {}", i + 1, cells.join("  ")));
    }
    if rows == 0 {
        out_line("no work matches");
    }
}

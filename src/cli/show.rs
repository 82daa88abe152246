//! `artlens show WORK` and `artlens ls`: one work, and the list of works.

use anyhow::Result;
use clap::Args;

use artlens::app::{ListRequest, ListSort};
use artlens::limits::MAX_NEIGHBOURS;
use artlens::ratings::Rater;

use super::args::{parse_list_sort, parse_rater, WeightsArgs};
use super::progress::with_progress;
use super::{out_json, out_line, printable, Ctx};

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  artlens show 12\n  artlens show Minimalism/wren-calloway_interval-2.png --json\n  artlens show 0cf4   # a content hash prefix (this one is a sample work)"
)]
pub struct ShowArgs {
    /// The work: id, content-hash prefix (≥ 4 hex digits), stored path, path
    /// relative to the collection root, or a unique file name.
    work: String,
    #[arg(short, long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(0..=MAX_NEIGHBOURS as i64),
          help = format!("Nearest works listed per backbone, 0 to {MAX_NEIGHBOURS}"))]
    k: u32,
    /// Whose rating to show.
    #[arg(long, default_value = "me", value_parser = parse_rater)]
    rater: Rater,
    /// One JSON object on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run_show(args: ShowArgs, ctx: &Ctx) -> Result<i32> {
    let view: artlens::app::WorkView = match &ctx.remote {
        Some(r) => {
            r.check_rater(&args.rater)?;
            let id = r.lookup(&args.work)?.id;
            r.get(&format!("/api/works/{id}"), &[("k", args.k.to_string())])?
        }
        None => {
            let collection = ctx.open(WeightsArgs::default().config(None)?)?;
            with_progress(ctx.msg, "works", |on_event| {
                collection.show(&args.rater, &args.work, args.k as usize, on_event)
            })?
            .0
        }
    };
    if args.json {
        out_json(&view)?;
        return Ok(0);
    }
    out_line(&format!("work        #{}", view.id));
    out_line(&format!("hash        {}", view.hash));
    for (p, rel) in view.paths.iter().zip(&view.relative_paths) {
        match rel {
            Some(r) => out_line(&format!("path        {}  ({})", printable(p), printable(r))),
            None => out_line(&format!("path        {}", printable(p))),
        }
    }
    out_line(&format!(
        "size        {}x{} px, {} bytes",
        view.width, view.height, view.size
    ));
    for (k, v) in &view.metadata {
        out_line(&format!("{:<11} {}", k, printable(v)));
    }
    out_line(&format!(
        "your rating {}",
        view.rating
            .map(|r| r.to_string())
            .unwrap_or_else(|| "not rated yet".into())
    ));
    out_line(&format!("backbones   {}", view.backbones.join(", ")));
    for (b, ids) in &view.neighbours {
        let ids: Vec<String> = ids.iter().map(|i| format!("#{i}")).collect();
        out_line(&format!("nearest     {b}: {}", ids.join(" ")));
    }
    Ok(0)
}

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  artlens ls --where style=Minimalism\n  artlens ls --unrated --json"
)]
pub struct LsArgs {
    /// Keep only works whose metadata KEY equals VALUE (case-insensitive); repeatable.
    #[arg(long = "where", value_name = "KEY=VALUE")]
    filters: Vec<String>,
    /// Only works with a rating.
    #[arg(long, conflicts_with = "unrated")]
    rated: bool,
    /// Only works without a rating.
    #[arg(long)]
    unrated: bool,
    /// Whose ratings to list and filter on.
    #[arg(long, default_value = "me", value_parser = parse_rater)]
    rater: Rater,
    /// `id` (the order works were indexed in), or `predicted[:BACKBONE]`: by
    /// the rater's predicted score, highest first, of BACKBONE or of the
    /// backbone that understands the taste best. With --unrated: what in the
    /// collection you would like most.
    #[arg(long, default_value = "id", value_parser = parse_list_sort)]
    sort: ListSort,
    /// One JSON array on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run_ls(args: LsArgs, ctx: &Ctx) -> Result<i32> {
    let req = ListRequest {
        filters: args.filters.clone(),
        rated: if args.rated {
            Some(true)
        } else if args.unrated {
            Some(false)
        } else {
            None
        },
        rater: args.rater.clone(),
        sort: args.sort.clone(),
    };
    let works: Vec<artlens::app::WorkSummary> = match &ctx.remote {
        Some(r) => {
            r.check_rater(&args.rater)?;
            let mut q: Vec<(&str, String)> =
                req.filters.iter().map(|f| ("where", f.clone())).collect();
            if let Some(rated) = req.rated {
                q.push(("rated", rated.to_string()));
            }
            q.push(("sort", req.sort.name()));
            r.get("/api/works", &q)?
        }
        None => ctx.open(WeightsArgs::default().config(None)?)?.list(&req)?,
    };
    if args.json {
        out_json(&works)?;
        return Ok(0);
    }
    for w in &works {
        let title = w.metadata.get("title").map(String::as_str).unwrap_or("");
        // Sorted by prediction, the predicted score stands after the rating.
        let predicted = match (&args.sort, w.predicted) {
            (ListSort::Id, _) => String::new(),
            (_, Some(p)) => format!("\tpredicted {}", artlens::plain::score(p)),
            (_, None) => "\tpredicted -".into(),
        };
        out_line(&format!(
            "#{}\t{}{predicted}\t{}\t{}",
            w.id,
            w.rating
                .map(|r| r.to_string())
                .unwrap_or_else(|| "-".into()),
            printable(w.path.as_deref().unwrap_or("")),
            printable(title)
        ));
    }
    let by = works.iter().find_map(|w| w.predicted_by.as_deref());
    ctx.msg.info(match by {
        Some(b) => format!(
            "{}, by {b}'s predicted score of your taste",
            artlens::plain::count(works.len(), "work", "works")
        ),
        None => artlens::plain::count(works.len(), "work", "works"),
    });
    Ok(0)
}

//! `artlens similar`: nearest works by each backbone, side by side.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use artlens::app::{ImageRef, SimilarRequest, SimilarView};

use super::args::{ResultArgs, WeightsArgs};
use super::columns::{hit_name, print_columns, where_clause};
use super::progress::with_progress;
use super::remote::query_fields;
use super::{out_line, print_view, printable, Ctx};

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  artlens similar --id 12\n  artlens similar --id 3 --id 7 --not 12 --threshold 0.5\n  artlens similar data/collection/Impressionism/jules-fennec_poplars-in-june-6.jpg -k 5 --where style=Minimalism\n  artlens similar --id Minimalism/wren-calloway_interval-2.png --backbones dinov2,dinov2@224 --json"
)]
pub struct SimilarArgs {
    /// An image file: a stored one is looked up (and left out of its own
    /// results), a new one is embedded (and not added to the store).
    image: Option<PathBuf>,
    /// A stored work: id, content-hash prefix, stored path, path relative to
    /// the collection root, or a unique file name. Repeat it (or give it
    /// beside an image file) for "more like these": the works most like
    /// all the examples together.
    #[arg(long, visible_alias = "work", value_name = "WORK")]
    id: Vec<String>,
    /// A stored work the results should be unlike ("but not like this");
    /// repeatable.
    #[arg(long, value_name = "WORK")]
    not: Vec<String>,
    /// Show only results at least this similar to the query (cosine
    /// similarity, -1 to 1).
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    threshold: Option<f32>,
    #[command(flatten)]
    results: ResultArgs,
    /// Brute-force search instead of the ANN index.
    #[arg(long)]
    exact: bool,
    /// One JSON object on stdout: {"query","backbones","results":{ID:[...]},"overlap"}.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    weights: WeightsArgs,
}

pub fn run(args: SimilarArgs, ctx: &Ctx) -> Result<i32> {
    // The positional argument is always a file and `--id` always a work:
    // clap keeps them apart, so nothing here needs to guess.
    let req = SimilarRequest {
        examples: args
            .image
            .iter()
            .map(|p| ImageRef::File(p.clone()))
            .chain(args.id.iter().map(|w| ImageRef::Work(w.clone())))
            .collect(),
        not: args.not.iter().map(|w| ImageRef::Work(w.clone())).collect(),
        threshold: args.threshold,
        k: args.results.k(),
        backbones: args.results.backbones(),
        filters: args.results.filters(),
        exact: args.exact,
    };
    let view: SimilarView = match &ctx.remote {
        Some(r) => {
            let first = vec![("k", req.k.to_string()), ("exact", req.exact.to_string())];
            let mut fields = query_fields(first, &req.backbones, &req.filters);
            for n in &args.not {
                fields.push(("not", n.clone()));
            }
            if let Some(t) = req.threshold {
                fields.push(("threshold", t.to_string()));
            }
            match (&args.image, args.id.split_first()) {
                // The image is uploaded: the server recognises a stored one
                // by its content, as the direct path does, and embeds a new
                // one.
                (Some(image), _) => {
                    fields.extend(args.id.iter().map(|w| ("also", w.clone())));
                    r.upload("/api/similar", image, &image.display().to_string(), &fields)?
                }
                (None, Some((first, more))) => {
                    let id = r.lookup(first)?.id;
                    fields.extend(more.iter().map(|w| ("also", w.clone())));
                    r.get(&format!("/api/works/{id}/similar"), &fields)?
                }
                (None, None) => anyhow::bail!(
                    "name a stored work (--id) or an image file to find similar works for"
                ),
            }
        }
        None => {
            let collection = ctx.open(args.weights.config(None)?)?;
            with_progress(ctx.msg, "images", |on_event| {
                collection.similar(&req, on_event)
            })?
            .0
        }
    };
    print_view(&view, args.json, print_table)
}

fn print_table(view: &SimilarView) {
    let what = |q: &artlens::app::QueryView| match (q.id, &q.path) {
        (Some(id), Some(p)) => format!("#{id} {}", printable(p)),
        (Some(id), None) => format!("#{id}"),
        (None, Some(p)) => format!("{} (a new image, not in the store)", printable(p)),
        (None, None) => "?".into(),
    };
    let list = |qs: &[artlens::app::QueryView]| qs.iter().map(&what).collect::<Vec<_>>().join(", ");
    let mut asked = what(&view.query);
    if !view.examples.is_empty() {
        asked = format!("all of {asked}, {}", list(&view.examples));
    }
    if !view.not.is_empty() {
        asked = format!("{asked}, but not like {}", list(&view.not));
    }
    let filters = where_clause(&view.filters);
    let threshold = match view.threshold {
        Some(t) => format!(" (similarity at least {t})"),
        None => String::new(),
    };
    out_line(&format!("works similar to {asked}{filters}{threshold}"));
    print_columns(&view.backbones, &view.results, |h| {
        let mark = if h.shared_with.is_empty() { ' ' } else { '*' };
        format!(
            "{mark}{} {}",
            artlens::plain::similarity(h.similarity),
            hit_name(h)
        )
    });
    if let Some(o) = view.overlap {
        out_line(&format!(
            "overlap: {o} works in every list (* marks a work another backbone also found)"
        ));
    }
}

//! `artlens map`: each backbone's 2D map of the collection, side by side
//! (`--html`), as JSON (`--json`), or as text (one line per work and
//! backbone: id, x, y).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use artlens::app::{MapRequest, MapView, MAP_TRUST_K};
use artlens::report;

use super::args::{parse_rater, BackboneArgs};
use super::progress::with_progress;
use super::{out_line, print_view, Ctx};

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  artlens map --html map.html\n  artlens map --backbones dino,dinov2 --json"
)]
pub struct MapArgs {
    #[command(flatten)]
    backbones: BackboneArgs,
    /// One JSON object on stdout: {"panels":[{"backbone","points":[{"id","x","y","rating","predicted"}],"trustworthiness","revision","computed"}],"works","keys","rater","provenance"}.
    #[arg(long)]
    json: bool,
    /// Write the maps side by side as a self-contained HTML page to FILE.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Whose ratings and predicted scores the points carry.
    #[arg(long, default_value = "me", value_parser = parse_rater)]
    rater: artlens::ratings::Rater,
}

pub fn run(args: MapArgs, ctx: &Ctx) -> Result<i32> {
    let req = MapRequest {
        backbones: args.backbones.get(),
        rater: args.rater.clone(),
    };
    let view: MapView = match &ctx.remote {
        Some(r) => r.map(&req)?,
        None => {
            let collection = ctx.open(Default::default())?;
            with_progress(ctx.msg, "maps", |on_event| collection.map(&req, on_event))?.0
        }
    };
    for p in &view.panels {
        let how = if p.computed {
            "computed now and kept in the store"
        } else {
            "read from the store"
        };
        let trust = p.trustworthiness.map_or(String::new(), |t| {
            format!(
                "; trustworthiness at k = {MAP_TRUST_K}: {} ({})",
                artlens::plain::trustworthiness(t),
                artlens::plain::TRUSTWORTHINESS_MEANS
            )
        });
        ctx.msg.info(format!(
            "{}: {} ({how}, revision {}){trust}",
            p.backbone.id,
            artlens::plain::count(p.points.len(), "work", "works"),
            p.revision
        ));
    }
    ctx.write_html(args.html.as_deref(), || report::render_map_html(&view))?;
    // With `--html` the page is the answer: no table besides it.
    print_view(&view, args.json, |v| {
        if args.html.is_none() {
            print_points(v)
        }
    })
}

/// Every work's place in each backbone's map, a line each.
fn print_points(view: &MapView) {
    out_line("backbone\tid\tx\ty");
    for p in &view.panels {
        for pt in &p.points {
            out_line(&format!(
                "{}\t{}\t{:.4}\t{:.4}",
                p.backbone.id, pt.id, pt.x, pt.y
            ));
        }
    }
}

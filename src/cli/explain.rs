//! `artlens explain`: where a query and one of its references look alike,
//! per backbone: patch matches and the CLS token's attention, as numbers
//! (`--json`), a summary (text) or heat maps over both images (`--html`).

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;

use artlens::app::{ExplainRequest, ImageRef};
use artlens::ratings::Rater;
use artlens::report::{self, ExplainView};

use super::args::{image_ref, parse_rater, BackboneArgs, WeightsArgs};
use super::progress::with_progress;
use super::remote::{query_fields, Remote};
use super::{out_line, print_view, printable, Ctx};

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  artlens explain data/collection/Impressionism/jules-fennec_poplars-in-june-6.jpg --html explain.html\n  artlens explain 12 --reference 7 --backbones dinov2 --json\n\nWithout --reference each backbone compares the query with its nearest rated work (the top\nreference `score` shows), or with its nearest stored work when nothing is rated."
)]
pub struct ExplainArgs {
    /// An image file, or a stored work by name (id, hash prefix, path
    /// relative to the collection root, ...).
    query: String,
    /// The work (or image file) to compare with; default: per backbone, the
    /// nearest rated work (the nearest stored work when nothing is rated).
    #[arg(long, value_name = "WORK")]
    reference: Option<String>,
    #[command(flatten)]
    backbones: BackboneArgs,
    /// Write a self-contained HTML page with the heat maps to FILE.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// One JSON object on stdout: {"query","models":{ID:{"reference","chosen","similarity","heads","maps":{"query","reference"}}}}.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    weights: WeightsArgs,
    /// Whose ratings the images show and the default reference is chosen from.
    #[arg(long, default_value = "me", value_parser = parse_rater)]
    rater: Rater,
}

pub fn run(args: ExplainArgs, ctx: &Ctx) -> Result<i32> {
    let req = ExplainRequest {
        query: image_ref(&args.query),
        reference: args.reference.as_deref().map(image_ref),
        backbones: args.backbones.get(),
        rater: args.rater.clone(),
    };
    let view = match &ctx.remote {
        Some(r) => remote(&req, r)?,
        None => {
            let collection = ctx.open(args.weights.config(None)?)?;
            with_progress(ctx.msg, "images", |on_event| {
                collection.explain(&req, on_event)
            })?
            .0
        }
    };
    for w in &view.warnings {
        ctx.msg.warn(w);
    }
    ctx.write_html(args.html.as_deref(), || report::render_explain_html(&view))?;
    print_view(&view, args.json, print_text)
}

/// `explain` through the running server: a query or reference that is an
/// image file here is uploaded under the name given (the server
/// recognises a stored one by its content, as the direct path does); a
/// name is resolved by the server. The answer is the library's view.
fn remote(req: &ExplainRequest, r: &Remote) -> Result<ExplainView> {
    r.check_rater(&req.rater)?;
    let mut fields = query_fields(Vec::new(), &req.backbones, &[]);
    let mut files: Vec<(&str, &Path, String)> = Vec::new();
    let named = [
        ("image", "work", Some(&req.query)),
        ("reference", "reference", req.reference.as_ref()),
    ];
    for (file_field, name_field, image) in named {
        match image {
            Some(ImageRef::File(path)) => {
                files.push((file_field, path, path.display().to_string()))
            }
            Some(ImageRef::Work(name)) => fields.push((name_field, name.clone())),
            Some(ImageRef::Bytes { .. }) => {
                anyhow::bail!("internal: the command line sends files, not bytes")
            }
            None => {}
        }
    }
    if files.is_empty() {
        return r.get("/api/explain", &fields);
    }
    let files: Vec<(&str, &Path, &str)> =
        files.iter().map(|(f, p, s)| (*f, *p, s.as_str())).collect();
    r.upload_files("/api/explain", &files, &fields)
}

/// Per backbone: the reference, and where the maps are strongest (the
/// patches with the best match and the most attention, as grid row/column).
fn print_text(view: &ExplainView) {
    out_line(&printable(&view.query.path));
    for (name, m) in &view.models {
        out_line(&format!(
            "  {name:<11} vs {} ({}, similarity {:.3})",
            printable(&m.reference.path),
            m.chosen,
            m.similarity
        ));
        for (who, maps) in [("query", &m.maps.query), ("reference", &m.maps.reference)] {
            let cols = maps.grid[1].max(1);
            let at = |i: usize| format!("row {} col {}", i / cols + 1, i % cols + 1);
            let best = argmax(&maps.patch_match);
            let looked = argmax(&maps.attention);
            let mean = maps.patch_match.iter().sum::<f32>() / maps.patch_match.len().max(1) as f32;
            out_line(&format!(
                "      {who:<9} {}x{} patches: mean best match {mean:.3}; best {} ({:.3}); CLS attends most to {} ({:.4})",
                maps.grid[0],
                maps.grid[1],
                best.map_or("-".into(), at),
                best.map_or(f32::NAN, |i| maps.patch_match[i]),
                looked.map_or("-".into(), at),
                looked.map_or(f32::NAN, |i| maps.attention[i]),
            ));
        }
    }
}

fn argmax(v: &[f32]) -> Option<usize> {
    (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b]))
}

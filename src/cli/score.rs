//! `artlens score`: each backbone's taste score of images, with the rated
//! works it drew on, side by side.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use artlens::app::ScoreRequest;
use artlens::explain;
use artlens::limits::MAX_NEIGHBOURS;
use artlens::report::{self, ScoreView, ScoredImage};

use super::args::{image_ref, parse_rater, BackboneArgs, WeightsArgs};
use super::progress::with_progress;
use super::remote::{status_of, Remote};
use super::{out_json, out_line, printable, Ctx, EXIT_ERROR, EXIT_PARTIAL};

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  artlens score data/collection/Impressionism/jules-fennec_poplars-in-june-6.jpg\n  artlens score 12 Minimalism/wren-calloway_interval-2.png\n  artlens score data/collection/Minimalism/*.png --html scores.html\n  artlens score data/collection/Color_Field/ada-quill_green-field-7.png data/collection/Impressionism/odile-sarrat_poplars-in-spring-2.png -k 3 --json"
)]
pub struct ScoreArgs {
    /// Images to score, or stored works by name (id, hash prefix, path
    /// relative to the collection root, ...); stored works are left out of
    /// their own references.
    #[arg(required = true)]
    images: Vec<PathBuf>,
    #[arg(short, long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=MAX_NEIGHBOURS as i64),
          help = format!("Nearest rated works per backbone, and how many of the rated works that pulled the score up (and down) most are listed, 1 to {MAX_NEIGHBOURS}"))]
    k: u32,
    #[command(flatten)]
    backbones: BackboneArgs,
    /// Percentile of the collection's nearest-neighbour distances beyond
    /// which an image is flagged out of distribution.
    #[arg(long, default_value_t = explain::DEFAULT_OOD_PERCENTILE)]
    ood_percentile: f64,
    /// One JSON object per image on stdout: {"path","models":{ID:{"score","your_rating",
    /// "without_your_rating","intercept" (the mean rating),"contributions":[{"id","path","title",
    /// "rating","similarity","weight","contribution","own"}],"contribution_rest","references",
    /// ...}},"reference_overlap"}.
    #[arg(long)]
    json: bool,
    /// Write a self-contained HTML report to FILE.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    #[command(flatten)]
    weights: WeightsArgs,
    /// Whose taste heads score (and whose ratings are the references).
    #[arg(long, default_value = "me", value_parser = parse_rater)]
    rater: artlens::ratings::Rater,
}

pub fn run(args: ScoreArgs, ctx: &Ctx) -> Result<i32> {
    if let Some(r) = &ctx.remote {
        return run_remote(&args, ctx, r);
    }
    let collection = ctx.open(args.weights.config(None)?)?;
    let req = ScoreRequest {
        images: args.images.iter().map(image_ref).collect(),
        k: args.k as usize,
        backbones: args.backbones.get(),
        ood_percentile: args.ood_percentile,
        rater: args.rater.clone(),
    };
    let (mut view, _) = with_progress(ctx.msg, "images", |on_event| {
        collection.score(&req, on_event)
    })?;
    if nothing_scored(&view) {
        // The progress display has said why, once per image; repeating it
        // on stdout, or saying which heads scored nothing, would mislead.
        if args.json {
            for img in &view.images {
                out_json(img)?;
            }
        }
        return Ok(EXIT_ERROR);
    }
    if args.html.is_some() {
        // The report shows where each image matches its top reference.
        with_progress(ctx.msg, "images", |on_event| {
            collection.add_score_maps(&mut view, &req.images, on_event)
        })?;
    }
    finish(&args, ctx, &view)
}

/// `score` through the running server: an image file is uploaded (the
/// server recognises a stored one by its content, as the direct path
/// does), a name is scored as the stored work it names. Each answer is the
/// server's whole view of one image (`view=true`), so the warnings, the
/// head's kind and, for `--html`, the patch maps (`maps=true`) are the
/// direct path's; the report is rendered here by the same renderer.
fn run_remote(args: &ScoreArgs, ctx: &Ctx, r: &Remote) -> Result<i32> {
    r.check_rater(&args.rater)?;
    let mut options = vec![
        ("k", args.k.to_string()),
        ("ood_percentile", args.ood_percentile.to_string()),
        ("view", "true".to_string()),
    ];
    if args.html.is_some() {
        options.push(("maps", "true".to_string()));
    }
    if let Some(list) = args.backbones.get() {
        let names: Vec<String> = list.iter().map(|b| b.name()).collect();
        options.push(("backbone", names.join(",")));
    }
    let mut view = ScoreView::default();
    for given in &args.images {
        let shown = given.display().to_string();
        let scored: Result<ScoreView> = if given.is_file() {
            r.upload("/api/score", given, &shown, &options)
        } else {
            r.lookup(&shown)
                .and_then(|w| r.get(&format!("/api/works/{}/score", w.id), &options))
        };
        match scored {
            Ok(one) => {
                if view.images.is_empty() {
                    view.provenance = one.provenance;
                }
                for w in one.warnings {
                    if !view.warnings.contains(&w) {
                        view.warnings.push(w);
                    }
                }
                view.images.extend(one.images.into_iter().map(|mut img| {
                    img.path = shown.clone();
                    img
                }));
            }
            // What the direct path reports in the image's row: a file that
            // cannot be decoded, a work that is gone.
            Err(e) if matches!(status_of(&e), Some(404 | 422)) => view.images.push(ScoredImage {
                path: shown,
                error: Some(e.to_string()),
                ..Default::default()
            }),
            Err(e) => return Err(e),
        }
    }
    // The report names the store as this command was given it, as the
    // direct path does.
    view.provenance.store = ctx.store.display().to_string();
    finish(args, ctx, &view)
}

/// What every path does with its view: warnings and the head's kind on
/// stderr, the HTML report when asked for, the scores on stdout.
fn finish(args: &ScoreArgs, ctx: &Ctx, view: &ScoreView) -> Result<i32> {
    for w in &view.warnings {
        ctx.msg.warn(w);
    }
    if let Some(kind) = &view.provenance.head_kind {
        ctx.msg.info(format!("scored with the {kind} taste heads"));
    }
    ctx.write_html(args.html.as_deref(), || report::render_score_html(view))?;
    print(args, ctx, view)
}

/// Whether every image given failed (a missing or unreadable file): the
/// command could not run, exit status 2, rather than some inputs failing.
fn nothing_scored(view: &ScoreView) -> bool {
    !view.images.is_empty() && view.images.iter().all(|i| i.error.is_some())
}

/// The scores on stdout, and the exit status.
fn print(args: &ScoreArgs, ctx: &Ctx, view: &ScoreView) -> Result<i32> {
    if args.json {
        for img in &view.images {
            out_json(img)?;
        }
    } else {
        print_text(view);
    }
    if nothing_scored(view) {
        return Ok(EXIT_ERROR);
    }
    let failed = view.images.iter().filter(|i| i.error.is_some()).count();
    if failed > 0 {
        ctx.msg.error(format!(
            "{failed} of {} images could not be scored",
            view.images.len()
        ));
        return Ok(EXIT_PARTIAL);
    }
    Ok(0)
}

fn print_text(view: &ScoreView) {
    for img in &view.images {
        out_line(&printable(&img.path));
        if let Some(e) = &img.error {
            out_line(&format!("  error: {}", printable(e)));
            continue;
        }
        for (name, m) in &img.models {
            out_line(&format!(
                "  {name:<11} score {:>6.2}   kNN estimate {:>6}{}",
                m.score,
                m.knn_estimate
                    .map(|v| format!("{v:.2}"))
                    .unwrap_or_else(|| "-".into()),
                if m.out_of_distribution {
                    "   OUT OF DISTRIBUTION: far from every rated work, the score is a guess"
                } else {
                    ""
                }
            ));
            if let Some(line) = report::your_rating_words(m) {
                out_line(&format!("      {}", printable(&line)));
            }
            if let (Some(mean), Some(rest)) = (m.intercept, m.contribution_rest) {
                out_line(&format!(
                    "      what made the score: your mean rating {mean:.2}, moved by each rated work"
                ));
                for c in &m.contributions {
                    out_line(&format!(
                        "        {} {}  (weight {:+.3})",
                        if c.contribution >= 0.0 { '+' } else { '-' },
                        printable(&report::contribution_words(c).to_string()),
                        c.weight
                    ));
                }
                out_line(&format!(
                    "        the other {} rated works together: {rest:+.2}",
                    m.contribution_rest_count.unwrap_or(0)
                ));
            } else if let Some(note) = &m.contributions_note {
                out_line(&format!("      {note}"));
            }
            out_line("      nearest rated works:");
            for r in &m.references {
                let name = r
                    .metadata
                    .get("title")
                    .cloned()
                    .or_else(|| r.path.clone())
                    .unwrap_or_else(|| r.hash.clone());
                out_line(&format!(
                    "      {:.3}  rated {:<5} #{} {}",
                    r.similarity,
                    r.rating,
                    r.id,
                    printable(&name)
                ));
            }
        }
        if let Some(o) = img.reference_overlap {
            out_line(&format!("  references shared by every backbone: {o}"));
        }
    }
}

//! The HTML reports as a real browser sees them: both reports are rendered
//! from hand-built views (thumbnails from the fixture images), loaded in
//! headless Chromium, and checked on the rendered DOM (numbers, model names,
//! the verdict, every thumbnail decoded, the chart's polylines laid out) and
//! on a screenshot.
//!
//! Chromium is required, not optional: without it these tests fail and say
//! how to install it, because a report that was never rendered is untested.
//! The pages and screenshots stay in `target/tmp/report_browser/` for a look.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::run_chromium;

use artlens::explain::Reference;
use artlens::report::{
    render_compare_html, render_score_html, CompareModel, CompareView, CurvePoint, ModelScore,
    ScoreView, ScoredImage,
};

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/images")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn out_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("report_browser")
        .join(test);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The page as the browser built it, after load. A probe script (the test's,
/// not the report's) records on `<body>` how many `<img>` elements exist and
/// how many decoded, and the laid-out width of each chart polyline. The
/// report's Content-Security-Policy forbids scripts, so the probe's copy of
/// the page allows inline ones; images stay restricted to `data:` exactly as
/// in the report, so a thumbnail the policy blocked would count as failed.
fn rendered_dom(html: &str, dir: &Path, name: &str) -> String {
    const PROBE: &str = r#"<script>
addEventListener('load', () => {
  const imgs = [...document.images];
  document.body.dataset.imgsTotal = imgs.length;
  document.body.dataset.imgsDecoded = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  document.body.dataset.polylineWidths = [...document.querySelectorAll('svg polyline')]
    .map(p => Math.round(p.getBoundingClientRect().width)).join(',');
  document.body.dataset.probe = 'done';
});
</script>
"#;
    assert!(
        html.contains("default-src 'none'"),
        "the report declares its content security policy"
    );
    let probed = html
        .replacen(
            "default-src 'none'",
            "default-src 'none'; script-src 'unsafe-inline'",
            1,
        )
        .replacen("</body>", &format!("{PROBE}</body>"), 1);
    let page = dir.join(format!("{name}.probe.html"));
    std::fs::write(&page, probed).unwrap();
    let dom = run_chromium(
        &page,
        &["--virtual-time-budget=10000".into(), "--dump-dom".into()],
    );
    assert!(
        dom.contains(r#"data-probe="done""#),
        "the page did not finish loading:\n{dom}"
    );
    dom
}

/// A screenshot of the report itself (unmodified) at 1400×1000; checks that
/// it is a real picture, not a blank or error page.
fn screenshot(page: &Path, dir: &Path, name: &str) -> PathBuf {
    let png = dir.join(format!("{name}.png"));
    let _ = std::fs::remove_file(&png);
    run_chromium(
        page,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1400,1000".into(),
        ],
    );
    let bytes =
        std::fs::read(&png).unwrap_or_else(|e| panic!("no screenshot at {}: {e}", png.display()));
    assert!(
        bytes.len() > 20_000,
        "screenshot {} is only {} bytes",
        png.display(),
        bytes.len()
    );
    let img = image::load_from_memory(&bytes).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (1400, 1000));
    let colours: std::collections::HashSet<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    assert!(
        colours.len() > 500,
        "screenshot {} has only {} colours",
        png.display(),
        colours.len()
    );
    png
}

/// The value of `data-<attr>="..."` on the dumped `<body>`.
fn body_data<'a>(dom: &'a str, attr: &str) -> &'a str {
    let key = format!("data-{attr}=\"");
    let start = dom
        .find(&key)
        .unwrap_or_else(|| panic!("no {key} in the DOM"))
        + key.len();
    let end = start + dom[start..].find('"').unwrap();
    &dom[start..end]
}

fn reference(id: u64, file: Option<&str>, similarity: f32, rating: f64, title: &str) -> Reference {
    let mut metadata = BTreeMap::new();
    metadata.insert("title".to_string(), title.to_string());
    metadata.insert("artist".to_string(), "Test Artist".to_string());
    metadata.insert("style".to_string(), "Fixture".to_string());
    Reference {
        id,
        hash: format!("{id:064x}"),
        path: file.map(fixture),
        similarity,
        rating,
        metadata,
    }
}

fn score_view() -> ScoreView {
    let dino = ModelScore {
        score: 7.42,
        knn_estimate: Some(6.87),
        references: vec![
            reference(1, Some("small.png"), 0.912, 8.0, "Small study"),
            reference(2, Some("square224.png"), 0.874, 7.0, "Square"),
            reference(
                3,
                Some("tall518.png"),
                0.803,
                5.5,
                "<script>alert('x')</script> & co",
            ),
        ],
        out_of_distribution: false,
        nearest_similarity: 0.912,
        threshold_similarity: 0.705,
    };
    let dinov2 = ModelScore {
        score: 6.13,
        knn_estimate: Some(5.91),
        references: vec![
            reference(2, Some("square224.png"), 0.781, 7.0, "Square"),
            reference(4, Some("photo.jpg"), 0.702, 4.0, "Photograph"),
            reference(5, None, 0.655, 6.0, "Lost work"),
        ],
        out_of_distribution: true,
        nearest_similarity: 0.781,
        threshold_similarity: 0.815,
    };
    let second = ModelScore {
        score: 3.05,
        knn_estimate: None,
        references: vec![reference(6, Some("rgba.png"), 0.5, 3.0, "Transparent")],
        out_of_distribution: false,
        nearest_similarity: 0.5,
        threshold_similarity: 0.4,
    };
    ScoreView {
        images: vec![
            ScoredImage {
                path: fixture("landscape.png"),
                error: None,
                models: [("dino".to_string(), dino), ("dinov2".to_string(), dinov2)]
                    .into_iter()
                    .collect(),
                reference_overlap: Some(1),
            },
            ScoredImage {
                path: fixture("portrait.png"),
                error: None,
                models: [
                    ("dino".to_string(), second.clone()),
                    ("dinov2".to_string(), second),
                ]
                .into_iter()
                .collect(),
                reference_overlap: Some(1),
            },
            ScoredImage {
                path: fixture("does-not-exist.png"),
                error: Some("cannot read file: No such file or directory".into()),
                models: BTreeMap::new(),
                reference_overlap: None,
            },
        ],
    }
}

/// `<img>` elements the score view should produce: the two readable queries
/// and every reference with a readable path (the missing query and the
/// reference without a path get placeholder boxes instead).
const SCORE_IMAGES: usize = 2 + 3 + 2 + 1 + 1;

#[test]
fn score_report_renders_in_chromium() {
    let dir = out_dir("score");
    let view = score_view();
    let html = render_score_html(&view);
    let page = dir.join("score.html");
    std::fs::write(&page, &html).unwrap();

    let dom = rendered_dom(&html, &dir, "score");
    assert_eq!(body_data(&dom, "imgs-total"), SCORE_IMAGES.to_string());
    assert_eq!(
        body_data(&dom, "imgs-decoded"),
        SCORE_IMAGES.to_string(),
        "every thumbnail decodes"
    );
    assert_eq!(dom.matches("<img").count(), SCORE_IMAGES);
    assert_eq!(dom.matches(r#"class="thumb placeholder""#).count(), 2);
    for text in [
        "DINO",
        "DINOv2",
        "ViT-B/16",
        "ViT-B/14",
        "Taste score",
        "kNN estimate",
        "landscape.png",
        "portrait.png",
    ] {
        assert!(
            dom.contains(text),
            "`{text}` missing from the rendered page"
        );
    }
    for number in [
        "7.42", "6.87", "6.13", "5.91", "3.05", "0.912", "0.874", "0.655", "0.815",
    ] {
        assert!(
            dom.contains(number),
            "`{number}` missing from the rendered page"
        );
    }
    // Side by side: two model columns per scored image.
    assert_eq!(dom.matches(r#"class="model" data-model="dino""#).count(), 2);
    assert_eq!(
        dom.matches(r#"class="model" data-model="dinov2""#).count(),
        2
    );
    assert_eq!(
        dom.matches("Out of distribution — this score is a guess")
            .count(),
        1
    );
    assert!(dom.contains(r#"class="overlap-count">1</strong> of 3"#));
    assert!(dom.contains("Could not score this image: cannot read file"));
    assert!(dom.contains("no path is recorded for this work"));
    // User text is shown as text: the only script is the test's probe.
    assert!(dom.contains("&lt;script&gt;alert('x')&lt;/script&gt; &amp; co"));
    assert_eq!(dom.matches("<script").count(), 1);
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "the report refers to the network"
    );

    let png = screenshot(&page, &dir, "score");
    eprintln!("score report screenshot: {}", png.display());
}

fn compare_view() -> CompareView {
    let model = |loo: f64, prec: f64, spearman: f64, mae: f64| CompareModel {
        loo_accuracy: Some(loo),
        precision_at_k: Some(prec),
        chance: Some(0.214),
        precision_chance: Some(0.131),
        n: 1874,
        cv: [("spearman".to_string(), spearman), ("mae".to_string(), mae)]
            .into_iter()
            .collect(),
    };
    let curve = |points: &[(f64, f64)]| {
        points
            .iter()
            .map(|&(fraction, spearman)| CurvePoint {
                fraction,
                n_train: (fraction * 400.0).round() as usize,
                spearman,
            })
            .collect::<Vec<_>>()
    };
    CompareView {
        label: "style".into(),
        models: [
            ("dino".to_string(), model(0.612, 0.547, 0.291, 1.32)),
            ("dinov2".to_string(), model(0.734, 0.668, 0.408, 1.17)),
        ]
        .into_iter()
        .collect(),
        neighbour_agreement: 0.327,
        neighbour_agreement_chance: 0.0053,
        k: 10,
        learning_curve: [
            ("dino".to_string(), curve(&[(0.1, -0.05), (0.25, 0.12), (0.5, 0.21), (0.75, 0.26), (1.0, 0.291)])),
            ("dinov2".to_string(), curve(&[(0.1, 0.08), (0.25, 0.22), (0.5, 0.33), (0.75, 0.38), (1.0, 0.408)])),
        ]
        .into_iter()
        .collect(),
        verdict: "DINOv2 ranks your taste better: Spearman 0.41 vs 0.29, and its neighbours share the style more often (73% vs 61%)."
            .into(),
        train_report_json: Some(serde_json::json!({"folds": 5, "ratings": 400, "note": "<b>not bold</b>"})),
    }
}

#[test]
fn compare_report_renders_in_chromium() {
    let dir = out_dir("compare");
    let view = compare_view();
    let html = render_compare_html(&view);
    let page = dir.join("compare.html");
    std::fs::write(&page, &html).unwrap();

    let dom = rendered_dom(&html, &dir, "compare");
    assert!(dom.contains("DINOv2 ranks your taste better: Spearman 0.41 vs 0.29"));
    assert!(dom.contains(r#"<p class="verdict">"#));
    for text in [
        "DINO vs DINOv2",
        "“style”",
        "Leave-one-out 10-NN accuracy",
        "Precision@10",
        "always the most frequent label",
        "Taste head, cross-validated",
        "spearman",
        "mae",
        "32.7%",
        "Learning curve",
    ] {
        assert!(
            dom.contains(text),
            "`{text}` missing from the rendered page"
        );
    }
    for number in [
        "0.612", "0.734", "0.547", "0.668", "0.214", "0.131", "1874", "0.291", "0.408", "1.320",
        "1.170",
    ] {
        assert!(
            dom.contains(number),
            "`{number}` missing from the rendered page"
        );
    }
    // The better label metric is bold.
    assert!(dom.contains(r#"<td class="best">0.734</td>"#));
    assert!(dom.contains(r#"<td class="best">0.668</td>"#));

    // The chart: one polyline of five points per backbone, laid out across
    // most of the plot, a legend entry and a y tick at 0 for each.
    assert_eq!(dom.matches("<polyline").count(), 2);
    for model in ["dino", "dinov2"] {
        let key = format!(r#"<polyline class="curve" data-model="{model}" points=""#);
        let start = dom
            .find(&key)
            .unwrap_or_else(|| panic!("no polyline for {model}"))
            + key.len();
        let points = &dom[start..start + dom[start..].find('"').unwrap()];
        assert_eq!(
            points.split(' ').count(),
            5,
            "{model} polyline points: {points}"
        );
    }
    let widths: Vec<u32> = body_data(&dom, "polyline-widths")
        .split(',')
        .map(|w| w.parse().unwrap())
        .collect();
    assert_eq!(widths.len(), 2);
    assert!(
        widths.iter().all(|&w| w > 300),
        "polyline widths {widths:?}"
    );
    assert_eq!(dom.matches(r#"<g class="legend">"#).count(), 2);
    assert!(
        dom.contains(">-0.1<")
            && dom.contains(">0.0<")
            && dom.contains(">0.5<")
            && dom.contains(">100%<")
    );
    assert_eq!(dom.matches("<circle").count(), 10);
    assert!(dom.contains("&lt;b&gt;not bold&lt;/b&gt;"));
    assert_eq!(dom.matches("<script").count(), 1);
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "the report refers to the network"
    );

    let png = screenshot(&page, &dir, "compare");
    eprintln!("compare report screenshot: {}", png.display());
}

#[test]
fn thumbnails_are_jpeg_data_uris_and_failures_are_errors() {
    let uri =
        artlens::report::thumbnail_data_uri(Path::new(&fixture("landscape.png")), 64).unwrap();
    let b64 = uri
        .strip_prefix("data:image/jpeg;base64,")
        .expect("a JPEG data URI");
    assert!(b64
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || b"+/=".contains(&c)));
    let err = artlens::report::thumbnail_data_uri(Path::new(&fixture("does-not-exist.png")), 64)
        .unwrap_err();
    assert!(err.to_string().contains("does-not-exist.png"));
}

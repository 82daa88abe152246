//! The HTML reports as a real browser sees them: both reports are rendered
//! from hand-built views (thumbnails from the fixture images), loaded in
//! headless Chromium, and checked on the rendered DOM (numbers, backbone
//! names from the provenance, the verdict, every thumbnail's image decoded
//! and laid out, the chart's polylines laid out, hostile text shown as text,
//! any number of backbone columns) and on a screenshot.
//!
//! Chromium is required, not optional: without it these tests fail and say
//! how to install it, because a report that was never rendered is untested.
//! The pages and screenshots stay in `target/tmp/report_browser/` for a look.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::run_chromium;

use artlens::explain::Reference;
use artlens::report::{
    render_compare_html, render_score_html, BackboneLabel, CompareModel, CompareView, CurvePoint,
    LadderPoint, ModelScore, PairAgreement, PairComparison, Provenance, ScoreView, ScoredImage,
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

/// The hostile string user data tries to smuggle into the page.
const HOSTILE: &str = "<script>alert(1)</script>";

/// A copy of the fixture `name` at a path that contains [`HOSTILE`]: the
/// folder `<script>alert(1)<` holding `script>.png`.
fn hostile_copy(dir: &Path, name: &str) -> String {
    let folder = dir.join("<script>alert(1)<");
    std::fs::create_dir_all(&folder).unwrap();
    let file = folder.join("script>.png");
    std::fs::copy(fixture(name), &file).unwrap();
    let path = file.to_string_lossy().into_owned();
    assert!(path.contains(HOSTILE));
    path
}

/// The page as the browser built it, after load. A probe script (the test's,
/// not the report's) records on `<body>`:
///
/// * `thumbs-total`: the thumbnail boxes (`.thumb` that is not a
///   placeholder), and `thumbs-decoded`: those whose computed
///   `background-image` is a JPEG `data:` URI that the browser decoded to a
///   picture, whose box is laid out with a non-zero size, and whose box has
///   the picture's aspect ratio (to a pixel of rounding). `thumbs-failed`
///   says which failed and why;
/// * `imgs-total`: the page's `<img>` elements (none: thumbnails are CSS
///   images);
/// * `scripts`: the `<script>` elements (only the probe itself);
/// * `hostile-text`: whether the page's visible text shows [`HOSTILE`]
///   literally;
/// * `polyline-widths`: the laid-out width of each chart polyline.
///
/// The report's Content-Security-Policy forbids scripts, so the probe's copy
/// of the page allows inline ones; images stay restricted to `data:` exactly
/// as in the report, so a thumbnail the policy blocked would count as failed.
fn rendered_dom(html: &str, dir: &Path, name: &str) -> String {
    const PROBE: &str = r#"<script>
addEventListener('load', () => {
  const d = document.body.dataset;
  const pictures = [...document.querySelectorAll('#probe-pictures img')];
  const decoded = new Map(pictures
    .filter(i => i.complete && i.naturalWidth > 0)
    .map(i => [i.getAttribute('src'), i]));
  const boxes = [...document.querySelectorAll('.thumb:not(.placeholder)')];
  const failed = [];
  const ok = boxes.filter((box, i) => {
    const bg = getComputedStyle(box).backgroundImage;
    const m = /^url\("(data:image\/jpeg;base64,[A-Za-z0-9+\/=]+)"\)$/.exec(bg);
    const r = box.getBoundingClientRect();
    if (!m) { failed.push(i + ': background ' + bg.slice(0, 40)); return false; }
    if (!(r.width > 0 && r.height > 0)) { failed.push(i + ': box ' + r.width + 'x' + r.height); return false; }
    const img = decoded.get(m[1]);
    if (!img) { failed.push(i + ': its picture did not decode'); return false; }
    const [w, h] = [img.naturalWidth, img.naturalHeight];
    if (Math.abs(w * r.height - h * r.width) > w + h) {
      failed.push(i + ': aspect ' + w + 'x' + h + ' in ' + r.width + 'x' + r.height); return false;
    }
    return true;
  });
  d.thumbsTotal = boxes.length;
  d.thumbsDecoded = ok.length;
  d.thumbsFailed = failed.join('; ');
  d.imgsTotal = document.images.length - pictures.length;
  d.scripts = document.querySelectorAll('script').length;
  // Spelled in pieces: the literal would end this very script element.
  d.hostileText = document.body.innerText.includes('<scr' + 'ipt>alert(1)</scr' + 'ipt>');
  d.polylineWidths = [...document.querySelectorAll('svg polyline')]
    .map(p => Math.round(p.getBoundingClientRect().width)).join(',');
  d.probe = 'done';
});
</script>
"#;
    // Each picture the page's style embeds, as a hidden <img> of the probe's
    // copy: images delay the load event, so when the probe runs each one has
    // decoded or failed, and the probe can tell whether the picture behind a
    // thumbnail box's background decodes without waiting on anything.
    let mut pictures = String::from(r#"<div id="probe-pictures" hidden>"#);
    let mut seen = std::collections::HashSet::new();
    for (at, _) in html.match_indices("url(\"data:") {
        let uri = &html[at + 5..];
        let uri = &uri[..uri.find('"').unwrap()];
        if seen.insert(uri) {
            pictures.push_str(&format!(r#"<img src="{uri}" alt="">"#));
        }
    }
    pictures.push_str("</div>");
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
        .replacen("</body>", &format!("{pictures}{PROBE}</body>"), 1);
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
    assert_eq!(body_data(&dom, "scripts"), "1", "only the probe's script");
    assert_eq!(
        body_data(&dom, "imgs-total"),
        "0",
        "thumbnails are CSS images"
    );
    dom
}

/// Checks that all `expected` thumbnail boxes exist and show their picture.
fn assert_thumbnails(dom: &str, expected: usize) {
    assert_eq!(body_data(dom, "thumbs-total"), expected.to_string());
    assert_eq!(
        body_data(dom, "thumbs-decoded"),
        expected.to_string(),
        "every thumbnail decodes and is laid out: {}",
        body_data(dom, "thumbs-failed")
    );
    assert_eq!(dom.matches(r#"<span class="thumb t"#).count(), expected);
}

/// A screenshot of the report itself (unmodified) at 1400×`height`; checks
/// that it is a real picture, not a blank or error page.
fn screenshot(page: &Path, dir: &Path, name: &str, height: u32) -> PathBuf {
    let png = dir.join(format!("{name}.png"));
    let _ = std::fs::remove_file(&png);
    run_chromium(
        page,
        &[
            format!("--screenshot={}", png.display()),
            format!("--window-size=1400,{height}"),
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
    assert_eq!(img.dimensions(), (1400, height));
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

fn backbone(
    id: &str,
    hub_id: &str,
    name: &str,
    description: &str,
    resolution: u32,
) -> BackboneLabel {
    BackboneLabel {
        id: id.into(),
        hub_id: hub_id.into(),
        display_name: name.into(),
        description: description.into(),
        resolution,
    }
}

/// 2024-03-01 00:00 UTC.
const GENERATED_AT: u64 = 1_709_251_200;

fn provenance(backbones: &[&str]) -> Provenance {
    let all = [
        backbone(
            "dino",
            "facebook/dino-vitb16",
            "DINO ViT-B/16",
            "ViT-B/16, self-distilled on ImageNet-1k (1.28 M images)",
            224,
        ),
        backbone(
            "dinov2",
            "timm/vit_base_patch14_dinov2.lvd142m",
            "DINOv2 ViT-B/14",
            "ViT-B/14, self-distilled on LVD-142M (142 M images)",
            224,
        ),
        backbone(
            "dinov2@518",
            "timm/vit_base_patch14_dinov2.lvd142m",
            "DINOv2 ViT-B/14 at 518 px",
            "ViT-B/14 on LVD-142M (142 M images), full resolution",
            518,
        ),
    ];
    Provenance {
        artlens_version: "0.1.0-test".into(),
        generated_at: GENERATED_AT,
        store: "/collections/<b>mine</b>/index".into(),
        head_kind: Some("ridge".into()),
        backbones: all
            .into_iter()
            .filter(|b| backbones.contains(&b.id.as_str()))
            .collect(),
    }
}

/// Provenance shown on a page: time, store (escaped), head, version, and
/// each backbone's name and description.
fn assert_provenance(dom: &str, backbones: &[&str]) {
    for text in [
        "2024-03-01 00:00 UTC",
        "/collections/&lt;b&gt;mine&lt;/b&gt;/index",
        "ridge",
        "0.1.0-test",
        "How this report was made",
    ] {
        assert!(dom.contains(text), "provenance `{text}` missing");
    }
    for b in provenance(backbones).backbones {
        assert!(dom.contains(&b.display_name), "{}", b.display_name);
        assert!(dom.contains(&b.description), "{}", b.description);
        assert!(dom.contains(&b.hub_id), "{}", b.hub_id);
    }
}

fn score_view(dir: &Path) -> ScoreView {
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
        intercept: None,
        contributions: Vec::new(),
        contribution_rest: None,
        contribution_rest_count: None,
        contributions_note: None,
        your_rating: None,
        without_your_rating: None,
        maps: None,
    };
    // Reference 4's title and path are both hostile; the path is a real
    // file, so its thumbnail still shows.
    let mut hostile = reference(4, None, 0.702, 4.0, HOSTILE);
    hostile.path = Some(hostile_copy(dir, "photo.jpg"));
    let dinov2 = ModelScore {
        score: 6.13,
        knn_estimate: Some(5.91),
        references: vec![
            reference(2, Some("square224.png"), 0.781, 7.0, "Square"),
            hostile,
            reference(5, None, 0.655, 6.0, "Lost work"),
        ],
        out_of_distribution: true,
        nearest_similarity: 0.781,
        threshold_similarity: 0.815,
        intercept: None,
        contributions: Vec::new(),
        contribution_rest: None,
        contribution_rest_count: None,
        contributions_note: None,
        your_rating: None,
        without_your_rating: None,
        maps: None,
    };
    let second = ModelScore {
        score: 3.05,
        knn_estimate: None,
        references: vec![reference(6, Some("rgba.png"), 0.5, 3.0, "Transparent")],
        out_of_distribution: false,
        nearest_similarity: 0.5,
        threshold_similarity: 0.4,
        intercept: None,
        contributions: Vec::new(),
        contribution_rest: None,
        contribution_rest_count: None,
        contributions_note: None,
        your_rating: None,
        without_your_rating: None,
        maps: None,
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
        provenance: provenance(&["dino", "dinov2"]),
        warnings: vec!["ratings changed after the heads were trained".into()],
    }
}

/// Thumbnail boxes the score view should produce: the two readable queries
/// and every reference occurrence with a readable path (the missing query
/// and the reference without a path get placeholder boxes instead).
const SCORE_THUMBS: usize = 2 + 3 + 2 + 1 + 1;
/// Distinct pictures among them, each embedded once: two queries and the
/// references small, square224 (twice), tall518, the hostile photo copy and
/// rgba (twice).
const SCORE_PICTURES: usize = 2 + 5;

#[test]
fn score_report_renders_in_chromium() {
    let dir = out_dir("score");
    let view = score_view(&dir);
    let html = render_score_html(&view);
    let page = dir.join("score.html");
    std::fs::write(&page, &html).unwrap();
    assert_eq!(
        html.matches("data:image/jpeg;base64,").count(),
        SCORE_PICTURES,
        "each picture is embedded once"
    );

    let dom = rendered_dom(&html, &dir, "score");
    assert_thumbnails(&dom, SCORE_THUMBS);
    assert_eq!(dom.matches(r#"class="thumb placeholder""#).count(), 2);
    for text in [
        "DINO ViT-B/16",
        "DINOv2 ViT-B/14",
        "ViT-B/16",
        "ViT-B/14",
        "scored with DINO ViT-B/16 and DINOv2 ViT-B/14",
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
    assert!(dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_eq!(
        body_data(&dom, "hostile-text"),
        "true",
        "the hostile title is visible text"
    );
    assert_eq!(dom.matches("<script").count(), 1);
    // The warning and the provenance are on the page.
    assert!(dom.contains("ratings changed after the heads were trained"));
    assert_provenance(&dom, &["dino", "dinov2"]);
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "the report refers to the network"
    );

    let png = screenshot(&page, &dir, "score", 1000);
    eprintln!("score report screenshot: {}", png.display());
}

fn compare_model(loo: f64, prec: f64, spearman: f64, mae: f64) -> CompareModel {
    CompareModel {
        loo_accuracy: Some(loo),
        precision_at_k: Some(prec),
        chance: Some(0.214),
        precision_chance: Some(0.131),
        n: 1874,
        cv: [("spearman".to_string(), spearman), ("mae".to_string(), mae)]
            .into_iter()
            .collect(),
    }
}

fn curve(points: &[(f64, f64)]) -> Vec<CurvePoint> {
    points
        .iter()
        .map(|&(fraction, spearman)| CurvePoint {
            fraction,
            n_train: (fraction * 400.0).round() as usize,
            spearman,
        })
        .collect()
}

fn compare_view() -> CompareView {
    CompareView {
        label: "style".into(),
        models: [
            ("dino".to_string(), compare_model(0.612, 0.547, 0.291, 1.32)),
            ("dinov2".to_string(), compare_model(0.734, 0.668, 0.408, 1.17)),
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
        provenance: provenance(&["dino", "dinov2"]),
        comparisons: vec![PairComparison {
            a: "dino".into(),
            b: "dinov2".into(),
            metric: "spearman".into(),
            diff: 0.117,
            ci_low: 0.043,
            ci_high: 0.189,
            ci_level: 0.95,
            significant: true,
        }],
        agreements: vec![PairAgreement {
            a: "dino".into(),
            b: "dinov2".into(),
            agreement: 0.327,
            chance: 0.0053,
        }],
        warnings: vec![],
        ladder: vec![
            LadderPoint {
                id: "dino".into(),
                display_name: "DINO ViT-B/16".into(),
                family: "dino".into(),
                pretraining_data: "ImageNet-1k".into(),
                pretraining_images: 1_281_167,
                params: 85_798_656,
                spearman: Some(0.291),
                ci_low: Some(0.18),
                ci_high: Some(0.40),
                folds: 50,
                headline: Some(0.604),
                headline_low: Some(0.55),
                headline_high: Some(0.66),
            },
            LadderPoint {
                id: "dinov2".into(),
                display_name: "DINOv2 ViT-B/14".into(),
                family: "dinov2".into(),
                pretraining_data: "LVD-142M".into(),
                pretraining_images: 142_000_000,
                params: 86_579_712,
                spearman: Some(0.408),
                ci_low: Some(0.30),
                ci_high: Some(0.51),
                folds: 50,
                headline: Some(0.714),
                headline_low: Some(0.66),
                headline_high: Some(0.77),
            },
        ],
        ..CompareView::default()
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
    // The data ladder: one point per backbone, DINO left of DINOv2, with intervals.
    assert!(dom.contains("The data ladder") && dom.contains("pretraining images (log scale)"));
    let x_of = |m: &str| {
        let at = dom
            .find(&format!(r#"data-model="{m}" data-images="#))
            .unwrap();
        let rest = &dom[at..];
        let rest = &rest[rest.find(r#"<circle cx=""#).unwrap() + 12..];
        rest[..rest.find('"').unwrap()].parse::<f64>().unwrap()
    };
    assert!(x_of("dino") < x_of("dinov2"));
    assert_eq!(dom.matches(r#"<line class="interval""#).count(), 2);
    for text in [
        "DINO ViT-B/16 vs DINOv2 ViT-B/14",
        "“style”",
        "Leave-one-out 10-NN accuracy",
        "Precision@10",
        "always the most frequent label",
        "Taste head, cross-validated",
        // The metrics in words, never as their JSON keys.
        "rank correlation (Spearman)",
        "mean error, in rating points",
        "32.7%",
        "Learning curve",
        // The paired comparison: b − a, its interval and level.
        "Paired comparisons",
        "DINOv2 ViT-B/14 − DINO ViT-B/16",
        "+0.117",
        "[+0.043, +0.189]",
        ">95%<",
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
    // Two backbones: the agreement is the sentence, not the pair table.
    assert!(dom.contains("On average the two backbones share"));
    assert!(!dom.contains(r#"class="metrics agreements""#));

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
    // Ten learning-curve points and the two on the data ladder.
    assert_eq!(dom.matches("<circle").count(), 12);
    assert!(dom.contains("&lt;b&gt;not bold&lt;/b&gt;"));
    assert_eq!(dom.matches("<script").count(), 1);
    assert_provenance(&dom, &["dino", "dinov2"]);
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "the report refers to the network"
    );

    let png = screenshot(&page, &dir, "compare", 1000);
    eprintln!("compare report screenshot: {}", png.display());
}

/// Three backbones: three columns per scored image in provenance order, a
/// three-column metric table, the pair tables, three curves.
#[test]
fn three_backbones_render_in_chromium() {
    let dir = out_dir("three");
    let ids = ["dino", "dinov2", "dinov2@518"];
    let scores = [7.11, 6.22, 5.33];
    let models = ids
        .iter()
        .zip(scores)
        .map(|(id, score)| {
            let m = ModelScore {
                score,
                knn_estimate: Some(score - 1.0),
                references: vec![
                    reference(1, Some("small.png"), 0.9, 8.0, "Small study"),
                    reference(2, Some("square224.png"), 0.8, 7.0, "Square"),
                    // The query itself as a reference: one picture, shown
                    // large and small.
                    reference(3, Some("tall518.png"), 0.7, 6.0, "Tall"),
                ],
                out_of_distribution: false,
                nearest_similarity: 0.9,
                threshold_similarity: 0.5,
                intercept: None,
                contributions: Vec::new(),
                contribution_rest: None,
                contribution_rest_count: None,
                contributions_note: None,
                your_rating: None,
                without_your_rating: None,
                maps: None,
            };
            (id.to_string(), m)
        })
        .collect();
    let view = ScoreView {
        images: vec![ScoredImage {
            path: fixture("tall518.png"),
            error: None,
            models,
            reference_overlap: Some(3),
        }],
        provenance: provenance(&ids),
        warnings: vec![],
    };
    let html = render_score_html(&view);
    let page = dir.join("score3.html");
    std::fs::write(&page, &html).unwrap();
    let dom = rendered_dom(&html, &dir, "score3");
    assert_eq!(html.matches("data:image/jpeg;base64,").count(), 3);
    assert_thumbnails(&dom, 1 + 3 * 3);
    assert!(dom.contains("repeat(3,minmax(0,1fr))"));
    let mut at = 0;
    for (id, score) in ids.iter().zip(scores) {
        let column = format!(r#"class="model" data-model="{id}""#);
        assert_eq!(dom.matches(&column).count(), 1, "{id}");
        let here = dom.find(&column).unwrap();
        assert!(here > at, "{id} is not in provenance order");
        at = here;
        assert!(dom.contains(&format!("{score:.2}")), "{score}");
    }
    assert!(dom.contains("DINOv2 ViT-B/14 at 518 px"));
    assert_provenance(&dom, &ids);
    let png = screenshot(&page, &dir, "score3", 1000);
    eprintln!("three-backbone score screenshot: {}", png.display());

    let mut cmp = compare_view();
    cmp.models.insert(
        "dinov2@518".into(),
        compare_model(0.781, 0.702, 0.455, 1.09),
    );
    cmp.learning_curve.insert(
        "dinov2@518".into(),
        curve(&[
            (0.1, 0.11),
            (0.25, 0.25),
            (0.5, 0.37),
            (0.75, 0.42),
            (1.0, 0.455),
        ]),
    );
    cmp.provenance = provenance(&ids);
    cmp.agreements = vec![
        PairAgreement {
            a: "dino".into(),
            b: "dinov2".into(),
            agreement: 0.327,
            chance: 0.0053,
        },
        PairAgreement {
            a: "dino".into(),
            b: "dinov2@518".into(),
            agreement: 0.298,
            chance: 0.0053,
        },
        PairAgreement {
            a: "dinov2".into(),
            b: "dinov2@518".into(),
            agreement: 0.611,
            chance: 0.0053,
        },
    ];
    cmp.warnings = vec!["ratings changed after the heads were trained".into()];
    let html = render_compare_html(&cmp);
    let page = dir.join("compare3.html");
    std::fs::write(&page, &html).unwrap();
    let dom = rendered_dom(&html, &dir, "compare3");
    assert!(dom.contains("DINO ViT-B/16 vs DINOv2 ViT-B/14 vs DINOv2 ViT-B/14 at 518 px"));
    for id in ids {
        assert!(dom.contains(&format!(r#"<th data-model="{id}""#)), "{id}");
    }
    assert!(dom.contains(r#"<td class="best">0.781</td>"#));
    assert!(dom.contains(r#"class="metrics agreements""#));
    assert!(!dom.contains("On average the two backbones share"));
    for text in [
        "32.7%",
        "29.8%",
        "61.1%",
        "DINOv2 ViT-B/14 and DINOv2 ViT-B/14 at 518 px",
    ] {
        assert!(dom.contains(text), "{text}");
    }
    assert!(dom.contains("ratings changed after the heads were trained"));
    assert_eq!(dom.matches("<polyline").count(), 3);
    assert_eq!(dom.matches(r#"<g class="legend">"#).count(), 3);
    let widths: Vec<u32> = body_data(&dom, "polyline-widths")
        .split(',')
        .map(|w| w.parse().unwrap())
        .collect();
    assert!(
        widths.len() == 3 && widths.iter().all(|&w| w > 300),
        "{widths:?}"
    );
    assert_provenance(&dom, &ids);
    let png = screenshot(&page, &dir, "compare3", 1600);
    eprintln!("three-backbone compare screenshot: {}", png.display());
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

/// The size of a score report of 48 images × 2 backbones × 5 references,
/// from copies of the fixture images and from the sample collection
/// (`data/collection`); prints bytes and `data:` URI counts. Run with
/// `cargo test --test tests report_browser::report_size -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check"]
fn report_size() {
    let tmp = tempfile::tempdir().unwrap();
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(Path::new(&fixture("")))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.to_string_lossy().contains("exif"))
        .collect();
    fixtures.sort();
    let copies: Vec<String> = (0..48)
        .map(|i| {
            let src = &fixtures[i % fixtures.len()];
            let dst = tmp.path().join(format!(
                "work{i:02}.{}",
                src.extension().unwrap().to_string_lossy()
            ));
            std::fs::copy(src, &dst).unwrap();
            dst.to_string_lossy().into_owned()
        })
        .collect();
    let mut sample: Vec<String> =
        walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("data/collection"));
    sample.sort();
    for (name, paths) in [("fixture copies", copies), ("data/collection", sample)] {
        assert_eq!(paths.len(), 48, "{name}");
        let images = (0..48)
            .map(|i| {
                let models = ["dino", "dinov2"]
                    .iter()
                    .enumerate()
                    .map(|(b, key)| {
                        let references = (0..5)
                            .map(|r| {
                                let j = (i + 1 + r * (3 + b) + b * 7) % 48;
                                let mut metadata = BTreeMap::new();
                                metadata.insert("title".to_string(), format!("Work {j}"));
                                Reference {
                                    id: j as u64,
                                    hash: format!("{j:064x}"),
                                    path: Some(paths[j].clone()),
                                    similarity: 0.9 - 0.05 * r as f32,
                                    rating: 5.0,
                                    metadata,
                                }
                            })
                            .collect();
                        let m = ModelScore {
                            score: 5.0,
                            knn_estimate: Some(5.0),
                            references,
                            out_of_distribution: false,
                            nearest_similarity: 0.9,
                            threshold_similarity: 0.5,
                            intercept: None,
                            contributions: Vec::new(),
                            contribution_rest: None,
                            contribution_rest_count: None,
                            contributions_note: None,
                            your_rating: None,
                            without_your_rating: None,
                            maps: None,
                        };
                        (key.to_string(), m)
                    })
                    .collect();
                ScoredImage {
                    path: paths[i].clone(),
                    error: None,
                    models,
                    reference_overlap: Some(1),
                }
            })
            .collect();
        let view = ScoreView {
            images,
            ..Default::default()
        };
        let html = render_score_html(&view);
        let uris: Vec<&str> = html
            .match_indices("data:image/jpeg;base64,")
            .map(|(at, _)| {
                let rest = &html[at..];
                &rest[..rest.find(['"', ')']).unwrap()]
            })
            .collect();
        let distinct: std::collections::HashSet<&str> = uris.iter().copied().collect();
        eprintln!(
            "{name}: {} bytes, {} data: URIs, {} distinct, {} bytes in distinct URIs",
            html.len(),
            uris.len(),
            distinct.len(),
            distinct.iter().map(|u| u.len()).sum::<usize>()
        );
    }
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.to_string_lossy().into_owned());
        }
    }
    out
}

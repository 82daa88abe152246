//! Page-level tests: JSON names, escaping, the once-per-report thumbnails,
//! N backbone columns and provenance. The browser's view is checked in
//! `tests/report_browser.rs`.

use std::collections::BTreeMap;
use std::path::Path;

use super::thumbs::REFERENCE_THUMB_SIDE;
use super::*;
use crate::explain::Reference;

fn fixture(name: &str) -> String {
    format!(
        "{}/tests/fixtures/images/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn reference(id: u64, path: Option<String>, title: &str) -> Reference {
    Reference {
        id,
        hash: format!("{id:064x}"),
        path,
        similarity: 0.5,
        rating: 4.0,
        metadata: [("title".to_string(), title.to_string())]
            .into_iter()
            .collect(),
    }
}

fn score(references: Vec<Reference>) -> ModelScore {
    ModelScore {
        knn_estimate: Some(4.0),
        nearest_similarity: 0.5,
        threshold_similarity: 0.4,
        ..ModelScore::new(3.5, references)
    }
}

fn label(id: &str, name: &str) -> BackboneLabel {
    BackboneLabel {
        id: id.into(),
        hub_id: format!("org/{id}"),
        display_name: name.into(),
        description: format!("{name} described"),
        resolution: 224,
    }
}

#[test]
fn score_json_keeps_the_cli_field_names() {
    let image = ScoredImage {
        path: "q.png".into(),
        error: None,
        models: [(
            "dino".to_string(),
            score(vec![reference(7, Some("a.png".into()), "A")]),
        )]
        .into_iter()
        .collect(),
        reference_overlap: None,
    };
    let json = serde_json::to_value(&image).unwrap();
    let keys = |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&json), ["models", "path", "reference_overlap"]);
    let dino = &json["models"]["dino"];
    for k in ["score", "knn_estimate", "references", "out_of_distribution"] {
        assert!(dino.get(k).is_some(), "{k}");
    }
    for k in ["id", "path", "similarity", "rating", "metadata"] {
        assert!(dino["references"][0].get(k).is_some(), "{k}");
    }
    let back: ScoredImage = serde_json::from_value(json).unwrap();
    assert_eq!(back, image);
}

#[test]
fn views_carry_provenance_and_read_old_json() {
    // JSON written before provenance, comparisons and warnings existed still
    // reads, with empty defaults.
    let old = r#"{"label":"style","models":{},"neighbour_agreement":0.3,"k":10,"verdict":"v"}"#;
    let cmp: CompareView = serde_json::from_str(old).unwrap();
    assert_eq!(cmp.provenance, Provenance::default());
    assert!(cmp.comparisons.is_empty() && cmp.agreements.is_empty() && cmp.warnings.is_empty());
    let score: ScoreView = serde_json::from_str(r#"{"images":[]}"#).unwrap();
    assert_eq!(score, ScoreView::default());

    let view = CompareView {
        provenance: Provenance::now("/s", Some("ridge".into()), vec![label("dino", "DINO")]),
        comparisons: vec![PairComparison {
            a: "dino".into(),
            b: "dinov2".into(),
            metric: "spearman".into(),
            diff: 0.1,
            ci_low: 0.05,
            ci_high: 0.15,
            ci_level: 0.95,
            significant: true,
        }],
        ..CompareView::default()
    };
    let json = serde_json::to_value(&view).unwrap();
    assert!(
        json.get("warnings").is_none(),
        "empty warnings are left out"
    );
    assert_eq!(json["provenance"]["head_kind"], "ridge");
    assert_eq!(json["provenance"]["backbones"][0]["hub_id"], "org/dino");
    assert_eq!(
        json["provenance"]["artlens_version"],
        env!("CARGO_PKG_VERSION")
    );
    assert!(json["provenance"]["generated_at"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(json["comparisons"][0]["ci_level"], 0.95);
    let back: CompareView = serde_json::from_value(json).unwrap();
    assert_eq!(back, view);
}

#[test]
fn pages_escape_user_strings_and_fetch_nothing() {
    let mut meta = BTreeMap::new();
    meta.insert("title".to_string(), "<script>alert(1)</script>".to_string());
    let mut r = reference(3, Some("/no/such/<file>.png".into()), "");
    r.metadata = meta;
    let mut s = score(vec![r]);
    s.out_of_distribution = true;
    let view = ScoreView {
        images: vec![ScoredImage {
            path: "/no/such/\"query\".png".into(),
            error: None,
            models: [("<b>dino</b>".to_string(), s)].into_iter().collect(),
            reference_overlap: None,
        }],
        provenance: Provenance {
            store: "/store/<script>x</script>".into(),
            head_kind: Some("<i>ridge</i>".into()),
            ..Provenance::default()
        },
        warnings: vec!["<script>alert(2)</script>".into()],
    };
    let html = render_score_html(&view);
    assert!(
        !html.contains("<script"),
        "user text reached the page unescaped"
    );
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("&lt;script&gt;alert(2)&lt;/script&gt;"));
    assert!(html.contains("/store/&lt;script&gt;x&lt;/script&gt;"));
    assert!(html.contains("&lt;i&gt;ridge&lt;/i&gt;"));
    assert!(html.contains(r#"data-model="&lt;b&gt;dino&lt;/b&gt;""#));
    assert!(html.contains("&quot;query&quot;.png"));
    assert!(html.contains("/no/such/&lt;file&gt;.png"));
    assert!(html.contains("this score is a guess"));
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("src=\"//"));

    let cmp = CompareView {
        verdict: "<b>DINOv2</b> & co".into(),
        label: "</style><script>".into(),
        ..CompareView::default()
    };
    let html = render_compare_html(&cmp);
    assert!(html.contains("&lt;b&gt;DINOv2&lt;/b&gt; &amp; co"));
    assert!(!html.contains("<script") && html.matches("</style>").count() == 1);
    assert!(!html.contains("http://") && !html.contains("https://"));
}

#[test]
fn a_recurring_reference_is_embedded_once() {
    let shared = fixture("small.png");
    let queries = ["landscape.png", "portrait.png", "photo.jpg"];
    let images = queries
        .iter()
        .map(|q| ScoredImage {
            path: fixture(q),
            error: None,
            models: ["dino", "dinov2"]
                .iter()
                .map(|k| {
                    (
                        k.to_string(),
                        score(vec![reference(1, Some(shared.clone()), "Shared")]),
                    )
                })
                .collect(),
            reference_overlap: Some(1),
        })
        .collect();
    let view = ScoreView {
        images,
        ..ScoreView::default()
    };
    let html = render_score_html(&view);
    let uri = thumbnail_data_uri(Path::new(&shared), REFERENCE_THUMB_SIDE).unwrap();
    // The reference shows in 3 × 2 places and is embedded once.
    assert_eq!(html.matches(uri.as_str()).count(), 1);
    assert_eq!(html.matches(r#"aria-label="Shared""#).count(), 6);
    // One URI per distinct picture: the three queries and the reference.
    assert_eq!(html.matches("data:image/jpeg;base64,").count(), 4);
    assert_eq!(html.matches(r#"<span class="thumb t"#).count(), 9);
    // The shared one's class is used at each of its occurrences.
    let at = html.find(uri.as_str()).unwrap();
    let rule = &html[html[..at].rfind('.').unwrap()..at];
    let class = rule.split('{').next().unwrap().trim_start_matches('.');
    assert_eq!(
        html.matches(&format!(r#"class="thumb {class}""#)).count(),
        6,
        "{rule}"
    );
}

#[test]
fn pages_take_any_number_of_backbones_with_provenance() {
    let ids = ["dino", "dinov2", "dinov2@518", "siglip"];
    let provenance = Provenance {
        artlens_version: "9.9.9".into(),
        generated_at: 1_709_251_200,
        store: "/data/store".into(),
        head_kind: Some("mlp".into()),
        // Column order is the provenance's, not the keys' alphabetical one.
        backbones: vec![
            label("siglip", "SigLIP"),
            label("dinov2@518", "DINOv2 at 518"),
            label("dino", "DINO ViT-B/16"),
        ],
    };
    let view = ScoreView {
        images: vec![ScoredImage {
            path: fixture("landscape.png"),
            error: None,
            models: ids.iter().map(|k| (k.to_string(), score(vec![]))).collect(),
            reference_overlap: Some(0),
        }],
        provenance: provenance.clone(),
        warnings: vec!["ratings changed after the heads were trained".into()],
    };
    let html = render_score_html(&view);
    assert!(html.contains("repeat(4,minmax(0,1fr))"));
    let pos = |s: &str| {
        html.find(&format!(r#"class="model" data-model="{s}""#))
            .unwrap()
    };
    assert!(
        pos("siglip") < pos("dinov2@518")
            && pos("dinov2@518") < pos("dino")
            && pos("dino") < pos("dinov2")
    );
    // Colours follow the columns; the unlabelled key is titled by itself.
    assert!(html.contains(r#"data-model="siglip" style="border-top-color:#d95f02""#));
    assert!(html.contains(r#"data-model="dinov2" style="border-top-color:#e7298a""#));
    assert!(html.contains("SigLIP, DINOv2 at 518, DINO ViT-B/16 and dinov2"));
    assert!(html.contains("<h3>dinov2</h3>"));
    for text in [
        "2024-03-01 00:00 UTC",
        "/data/store",
        "mlp",
        "9.9.9",
        "SigLIP described",
        "org/dinov2@518",
        "ratings changed after the heads were trained",
        "all backbones",
    ] {
        assert!(html.contains(text), "{text}");
    }

    let model = |x: f64| CompareModel {
        loo_accuracy: Some(x),
        n: 10,
        ..CompareModel::default()
    };
    let cmp = CompareView {
        label: "style".into(),
        models: ids
            .iter()
            .zip([0.1, 0.2, 0.3, 0.4])
            .map(|(k, x)| (k.to_string(), model(x)))
            .collect(),
        k: 5,
        agreements: vec![PairAgreement {
            a: "dino".into(),
            b: "siglip".into(),
            agreement: 0.25,
            chance: 0.01,
        }],
        comparisons: vec![PairComparison {
            a: "dino".into(),
            b: "siglip".into(),
            metric: "spearman".into(),
            diff: -0.123,
            ci_low: -0.2,
            ci_high: -0.05,
            ci_level: 0.95,
            significant: true,
        }],
        learning_curve: ids
            .iter()
            .map(|k| {
                let pts = vec![
                    CurvePoint {
                        fraction: 0.5,
                        n_train: 5,
                        spearman: 0.1,
                    },
                    CurvePoint {
                        fraction: 1.0,
                        n_train: 10,
                        spearman: 0.2,
                    },
                ];
                (k.to_string(), pts)
            })
            .collect(),
        provenance,
        ..CompareView::default()
    };
    let html = render_compare_html(&cmp);
    assert!(html
        .contains("<title>artlens — SigLIP vs DINOv2 at 518 vs DINO ViT-B/16 vs dinov2</title>"));
    assert_eq!(html.matches("<polyline").count(), 4);
    assert_eq!(html.matches(r#"<g class="legend">"#).count(), 4);
    assert!(html.contains(r#"<td class="best">0.400</td>"#));
    assert!(html.contains("SigLIP − DINO ViT-B/16"));
    assert!(html.contains("−0.123") && html.contains("[−0.200, −0.050]") && html.contains(">95%<"));
    assert!(html.contains("DINO ViT-B/16 and SigLIP") && html.contains("25.0%"));
    assert!(!html.contains("On average the two backbones"));
    assert!(html.contains("2024-03-01 00:00 UTC"));
}

#[test]
fn contributions_are_listed_escaped_and_add_up_on_the_page() {
    let mut m = score(vec![reference(7, Some(fixture("small.png")), "A")]);
    m.intercept = Some(3.0);
    m.your_rating = Some(4.0);
    m.without_your_rating = Some(3.25);
    m.contributions = vec![
        crate::explain::Contribution {
            id: 11,
            hash: "ab".repeat(32),
            path: Some("x/<up>.png".into()),
            title: None,
            rating: 9.0,
            similarity: 0.8,
            weight: 0.125,
            contribution: 0.75,
            own: false,
        },
        crate::explain::Contribution {
            id: 12,
            hash: "cd".repeat(32),
            path: None,
            title: None,
            rating: 1.0,
            similarity: 0.2,
            weight: 0.25,
            contribution: -0.5,
            own: false,
        },
    ];
    m.contribution_rest = Some(0.25);
    m.contribution_rest_count = Some(21);
    let view = ScoreView {
        images: vec![ScoredImage {
            path: fixture("landscape.png"),
            error: None,
            models: [("dino".to_string(), m.clone())].into_iter().collect(),
            reference_overlap: None,
        }],
        ..Default::default()
    };
    let html = render_score_html(&view);
    assert!(html.contains("&lt;up&gt;.png"));
    assert!(!html.contains("<up>"), "a path is text, never markup");
    // Each listed work is a sentence, with its weight beside it.
    assert!(html.contains("your 9 for #11 <em>&lt;up&gt;.png</em> pulls this up by 0.75"));
    assert!(html.contains("your 1 for <em>#12</em> pulls this down by 0.50"));
    assert!(html.contains("weight +0.125") && html.contains("weight +0.250"));
    assert!(html.contains("The other 21 rated works together: +0.25."));
    // The person's rating beside the prediction without it.
    assert!(html.contains("Without your rating the head would predict 3.25"));
    // 3 + 0.75 − 0.5 + 0.25 = 3.5, the score.
    assert!(
        html.contains(r#"= score <strong class="total">3.50</strong>"#),
        "total line"
    );
    let json = serde_json::to_value(&m).unwrap();
    for k in [
        "intercept",
        "contributions",
        "contribution_rest",
        "your_rating",
        "without_your_rating",
    ] {
        assert!(json.get(k).is_some(), "{k}");
    }
    for k in [
        "id",
        "path",
        "rating",
        "similarity",
        "weight",
        "contribution",
    ] {
        assert!(json["contributions"][0].get(k).is_some(), "{k}");
    }
    // Without contributions the page says why instead.
    let mut mlp = score(Vec::new());
    mlp.contributions_note = Some("not available for the MLP head".into());
    let view = ScoreView {
        images: vec![ScoredImage {
            path: "q.png".into(),
            error: None,
            models: [("dino".to_string(), mlp)].into_iter().collect(),
            reference_overlap: None,
        }],
        ..Default::default()
    };
    let html = render_score_html(&view);
    assert!(
        html.contains("not available for the MLP head") && !html.contains("What made the score")
    );
}

/// Guards "one answer, the same everywhere": the data ladder's chart, its
/// list and the metric table show each backbone's headline figure with the
/// one percentage format, and with too few ratings the chart says so
/// instead of drawing meaningless points.
#[test]
fn the_compare_page_shows_one_headline_figure_or_says_there_is_none_yet() {
    let point = |id: &str, images: u64, h: Option<(f64, f64, f64)>| LadderPoint {
        id: id.into(),
        display_name: id.to_uppercase(),
        pretraining_data: "data".into(),
        pretraining_images: images,
        spearman: Some(-0.4),
        ci_low: Some(-1.0),
        ci_high: Some(1.0),
        folds: 50,
        headline: h.map(|h| h.0),
        headline_low: h.map(|h| h.1),
        headline_high: h.map(|h| h.2),
        ..LadderPoint::default()
    };
    let model = CompareModel {
        cv: [("spearman".to_string(), 0.25)].into_iter().collect(),
        ..CompareModel::default()
    };
    let mut view = CompareView {
        models: [("dino", &model), ("dinov2", &model)]
            .into_iter()
            .map(|(k, m)| (k.to_string(), m.clone()))
            .collect(),
        ladder: vec![
            point("dino", 1_281_167, Some((0.604, 0.52, 0.69))),
            point("dinov2", 142_000_000, Some((0.714, 0.63, 0.79))),
        ],
        headline_name: crate::head::HEADLINE_NAME.into(),
        n_ratings: 30,
        first_answer: 20,
        verdict_detail: "Live: the detail".into(),
        procedure: "the procedure".into(),
        ..CompareView::default()
    };
    let html = render_compare_html(&view);
    assert!(html.contains(r#"<svg class="chart ladder""#));
    assert!(html.contains("DINOV2: agrees with your ratings 71% of the time (95% sure 63% … 79%)"));
    assert!(html.contains("agrees with your ratings 60% of the time (95% sure 52% … 69%)"));
    assert!(html.contains("<strong>71%</strong>") && html.contains("<strong>60%</strong>"));
    assert!(html.contains("Live: the detail") && html.contains("Procedure: the procedure"));
    // The fold-mean Spearman of the JSON is not what the chart shows.
    assert!(!html.contains("ρ =") && !html.contains("−0.400"));
    assert_eq!(html.matches(r#"<line class="interval""#).count(), 2);

    view.n_ratings = 12;
    for p in &mut view.ladder {
        (p.headline, p.headline_low, p.headline_high) = (None, None, None);
    }
    let html = render_compare_html(&view);
    assert!(!html.contains(r#"<svg class="chart ladder""#));
    assert!(html.contains("Not enough ratings yet: the chart appears at 20 ratings (you have 12)."));
    assert!(!html.contains("<strong>71%</strong>"));
}

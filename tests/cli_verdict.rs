//! The verdict through the real commands, on a store whose embeddings are
//! planted: DINOv2's vectors carry the rating and DINO's are noise, so
//! `train` and `compare` must name DINOv2 with an interval excluding zero;
//! swap the spaces and they must name DINO. (The tiny random checkpoints
//! cannot plant a signal, so the store is written through the library.)

use crate::common;

use artlens::model::Fingerprint;
use artlens::store::{NewArtwork, Store};
use artlens::BackboneId;
use common::*;
use common::{dino, dinov2};

const DIM: usize = 16;
const N: usize = 80;

fn fingerprint(model: BackboneId) -> Fingerprint {
    let name = model.name();
    test_fingerprint(model, &name, DIM)
}

/// A store with N works; `signal` gets vectors whose first coordinate is
/// the rating, the other backbone random vectors. Ratings are stored.
fn planted_store(dir: &std::path::Path, signal: &BackboneId) {
    let store = Store::open(dir).unwrap();
    for m in [dino(), dinov2()] {
        store.ensure_fingerprint(&fingerprint(m), false).unwrap();
    }
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    for i in 0..N {
        let rating = 1.0 + 9.0 * (i as f64 / N as f64);
        let mut informative: Vec<f32> = (0..DIM).map(|_| uniform() as f32 * 0.2).collect();
        informative[0] = rating as f32 + uniform() as f32;
        informative[1] = 1.0;
        let mut noise: Vec<f32> = (0..DIM).map(|_| uniform() as f32).collect();
        noise[1] = 1.0;
        let (v1, v2) = if *signal == dinov2() {
            (noise, informative)
        } else {
            (informative, noise)
        };
        let hash = blake3::hash(format!("work {i}").as_bytes())
            .to_hex()
            .to_string();
        let style = if i % 2 == 0 { "Even" } else { "Odd" };
        store
            .record_image(
                &NewArtwork {
                    hash: hash.clone(),
                    paths: vec![format!("/nowhere/work-{i}.png")],
                    size: 1,
                    width: 1,
                    height: 1,
                    metadata: [("style".to_string(), style.to_string())].into(),
                },
                &[(&dino(), &v1), (&dinov2(), &v2)],
            )
            .unwrap();
        artlens::ratings::set_rating_as(&store, &artlens::ratings::Rater::default(), &hash, rating)
            .unwrap();
    }
    store.flush().unwrap();
}

fn verdict_for(signal: &BackboneId) -> (serde_json::Value, serde_json::Value) {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    planted_store(&store, signal);
    let o = run(artlens()
        .args(["train", "--json", "--seed", "3", "--store"])
        .arg(&store));
    assert!(o.status.success(), "{}", stderr(&o));
    let train: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let o = run(artlens()
        .args(["compare", "--json", "-k", "5", "--store"])
        .arg(&store));
    assert!(o.status.success(), "{}", stderr(&o));
    let compare: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    (train, compare)
}

#[test]
fn train_and_compare_name_the_backbone_that_carries_the_taste() {
    for (signal, winner, sign) in [(dinov2(), "DINOv2", 1.0), (dino(), "DINO", -1.0)] {
        let (train, compare) = verdict_for(&signal);
        let spearman = &train["comparisons"][0];
        assert_eq!(spearman["metric"], "spearman");
        let (low, high) = (
            spearman["ci_low"].as_f64().unwrap(),
            spearman["ci_high"].as_f64().unwrap(),
        );
        // DINOv2 − DINO: positive when DINOv2 wins, negative when DINO does.
        assert!(
            sign * low > 0.0 && sign * high > 0.0,
            "{signal:?}: CI {low} … {high} includes zero"
        );
        let verdict = train["verdict"].as_str().unwrap();
        eprintln!("{signal:?} carries the signal: {verdict}");
        assert!(
            verdict.starts_with(&format!("{winner} understands your taste better")),
            "{signal:?}: {verdict}"
        );
        // The cross-validated line is the detail; both commands say which
        // procedure produced the answer.
        let detail = train["verdict_detail"].as_str().unwrap();
        assert!(
            detail.contains(&format!("{winner} predicts this taste better")),
            "{signal:?}: {detail}"
        );
        assert_eq!(train["procedure"], artlens::head::PROCEDURE);
        assert_eq!(compare["procedure"], train["procedure"]);
        assert_eq!(compare["verdict_detail"], train["verdict_detail"]);
        // One headline figure: the ladder carries the report's.
        for p in compare["ladder"].as_array().unwrap() {
            let id = p["id"].as_str().unwrap();
            assert_eq!(p["headline"], train["backbones"][id]["headline"], "{id}");
        }
        assert_eq!(
            compare["verdict"], train["verdict"],
            "compare carries train's verdict"
        );
        let s = |m: &str| compare["models"][m]["cv"]["spearman"].as_f64().unwrap();
        let (strong, weak) = if signal == dinov2() {
            ("dinov2", "dino")
        } else {
            ("dino", "dinov2")
        };
        assert!(
            s(strong) > 0.9 && s(weak) < 0.5,
            "{} vs {}",
            s(strong),
            s(weak)
        );
    }
}

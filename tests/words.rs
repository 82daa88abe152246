//! `search` and `taste` (issue 24): through the binary on real stores. The
//! bad-input tests run on a store indexed with the tiny DINO fixture (no
//! text tower); the end-to-end ones on a store indexed with the tiny random
//! CLIP fixture, whose text tower puts text and images in one space.

use crate::common;

use std::path::PathBuf;
use std::process::{Command, Output};

use common::*;

/// A store of 24 works indexed with DINO only (no text tower).
struct DinoStore {
    tmp: tempfile::TempDir,
}

impl DinoStore {
    fn new() -> DinoStore {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("collection");
        common::rated_collection(&dir);
        let s = DinoStore { tmp };
        let o = run(s
            .cmd(&["index", "--quiet", "--backbones", "dino"])
            .arg(&dir));
        assert!(o.status.success(), "{}", stderr(&o));
        s
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = artlens();
        c.args(args)
            .env("ARTLENS_STORE", self.tmp.path().join("store"))
            .env("ARTLENS_DINO_WEIGHTS", fixtures().join("dino_tiny"));
        c
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }
}

fn refused(o: &Output, says: &[&str]) {
    assert_eq!(o.status.code(), Some(2), "{}", stderr(o));
    let e = stderr(o);
    for s in says {
        assert!(e.contains(s), "{s:?} not in: {e}");
    }
    assert!(!e.contains("panicked"), "{e}");
    assert!(stdout(o).is_empty(), "{}", stdout(o));
}

#[test]
fn bad_queries_are_refused_saying_why() {
    let s = DinoStore::new();
    refused(
        &run(s.cmd(&["search", ""])),
        &["empty", "say what to look for"],
    );
    refused(
        &run(s.cmd(&["search", "\"stormy sea"])),
        &["quote is not closed"],
    );
    refused(
        &run(s.cmd(&["search", "-people"])),
        &["say what to look for"],
    );
    refused(&run(s.cmd(&["search", "\"sea\":x"])), &["must be a weight"]);
    refused(&run(s.cmd(&["search", &"a".repeat(1001)])), &["1000"]);
    refused(&run(s.cmd(&["search", "sea", "-k", "0"])), &["-k"]);
}

#[test]
fn a_store_without_a_text_tower_names_the_backbones_that_would_add_one() {
    let s = DinoStore::new();
    for args in [vec!["search", "a stormy sea"], vec!["taste"]] {
        if args[0] == "taste" {
            let o = run(s.cmd(&["rate", "set", "1", "5"]));
            assert!(o.status.success(), "{}", stderr(&o));
        }
        let o = run(s.cmd(&args));
        refused(&o, &["no backbone here reads text", "dino", "clip"]);
    }
}

#[test]
fn a_vocabulary_file_is_checked_and_named() {
    let s = DinoStore::new();
    let long = s.path("long.txt");
    std::fs::write(&long, format!("calm sea\n{}\n", "x".repeat(300))).unwrap();
    refused(
        &run(s.cmd(&["taste", "--vocabulary", long.to_str().unwrap()])),
        &["long.txt, line 2", "at most 200"],
    );
    let binary = s.path("bin.txt");
    std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x41]).unwrap();
    refused(
        &run(s.cmd(&["taste", "--vocabulary", binary.to_str().unwrap()])),
        &["bin.txt", "UTF-8"],
    );
    refused(
        &run(s.cmd(&[
            "taste",
            "--vocabulary",
            s.path("none.txt").to_str().unwrap(),
        ])),
        &["none.txt"],
    );
    refused(
        &run(s.cmd(&["taste", "--vocabulary", s.tmp.path().to_str().unwrap()])),
        &["vocabulary"],
    );
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_str(stdout(o).trim())
        .unwrap_or_else(|e| panic!("{e}: {} / {}", stdout(o), stderr(o)))
}

/// The tiny random CLIP checkpoint of the text towers' parity fixtures
/// (transformers `CLIPModel`: image tower, text tower, projections).
fn clip_dir() -> PathBuf {
    fixtures().join("text").join("clip")
}

const CLIP: &str = "clip-b16-hf";

/// A work's id, content hash and image embedding in the joint space.
type JointWork = (u64, String, Vec<f32>);

/// 40 works of varied colour and pattern, indexed with the tiny CLIP and
/// DINO (which reads no text).
struct ClipStore {
    tmp: tempfile::TempDir,
}

impl ClipStore {
    fn new() -> ClipStore {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("collection");
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..40u32 {
            let (r, g, b) = ((i * 53) % 256, (i * 97 + 40) % 256, (i * 31 + 90) % 256);
            let img = image::RgbImage::from_fn(48 + i % 5 * 8, 48, |x, y| {
                let stripe = (x / (2 + i % 7) + y / (3 + i % 4)) % 2 == 0;
                if stripe {
                    image::Rgb([r as u8, g as u8, b as u8])
                } else {
                    image::Rgb([(255 - r) as u8, (x * 4) as u8, (y * 5) as u8])
                }
            });
            img.save(dir.join(format!("work-{i:02}.png"))).unwrap();
        }
        let s = ClipStore { tmp };
        let o = run(s
            .cmd(&["index", "--quiet", "--backbones", &format!("{CLIP},dino")])
            .arg(&dir));
        assert!(o.status.success(), "{}", stderr(&o));
        s
    }

    fn store(&self) -> PathBuf {
        self.tmp.path().join("store")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.bare(args);
        c.arg("--weights")
            .arg(format!("{CLIP}={}", clip_dir().display()));
        c
    }

    /// A command that takes no weights flag (`rate`).
    fn bare(&self, args: &[&str]) -> Command {
        let mut c = artlens();
        c.args(args)
            .env("ARTLENS_STORE", self.store())
            .env("ARTLENS_DINO_WEIGHTS", fixtures().join("dino_tiny"));
        c
    }

    /// Each work's id and hash with its image embedding carried into the
    /// joint space, and the tower, read through the library.
    fn joint(
        &self,
    ) -> (
        Vec<JointWork>,
        std::sync::Arc<artlens::model::text::TextTower>,
    ) {
        let id = artlens::BackboneId::parse(CLIP).unwrap();
        let mut w = artlens::app::WeightsConfig::default();
        w.set_dir(&id, clip_dir(), true);
        let c = artlens::Collection::open(&self.store(), w).unwrap();
        let tower = c.text_tower(&id).unwrap();
        let works = c
            .store()
            .embeddings(&id)
            .unwrap()
            .into_iter()
            .map(|(i, h, v)| (i, h, tower.project_image(&v)))
            .collect();
        (works, tower)
    }
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let d: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    d / (na * nb)
}

/// A seeded normal (Box–Muller over splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u1, u2) = (1.0 - self.next(), self.next());
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

#[test]
fn search_finds_the_planted_work_first_for_its_own_caption_and_skips_dino() {
    let s = ClipStore::new();
    let (works, tower) = s.joint();
    for caption in ["a stormy sea at night", "portrait of a woman in blue"] {
        // The planted target: the work the tower itself puts nearest the
        // caption, computed here without the search path.
        let t = &tower.embed_texts(&[caption]).unwrap()[0].vector;
        let target = works
            .iter()
            .max_by(|a, b| cosine(&a.2, t).total_cmp(&cosine(&b.2, t)))
            .unwrap();
        let o = run(s.cmd(&["search", caption, "-k", "3", "--json"]));
        assert!(o.status.success(), "{}", stderr(&o));
        let v = json(&o);
        assert_eq!(v["backbones"], serde_json::json!([CLIP]), "{v}");
        assert_eq!(v["skipped"][0]["backbone"], "dino", "{v}");
        assert!(stderr(&o).contains("dino skipped"), "{}", stderr(&o));
        let first = &v["results"][CLIP][0];
        assert_eq!(first["id"].as_u64().unwrap(), target.0, "{v}");
        let want = cosine(&target.2, t);
        assert!(
            (first["similarity"].as_f64().unwrap() - want).abs() < 1e-4,
            "{v} vs {want}"
        );
        // The table prints the same number, through plain::similarity.
        let o = run(s.cmd(&["search", caption, "-k", "1"]));
        assert!(
            stdout(&o).contains(&artlens::plain::similarity(want as f32)),
            "{}",
            stdout(&o)
        );
    }
    // Works in the query: the named one is left out, and moving away from
    // the first hit drops it.
    let o = run(s.cmd(&["search", "a stormy sea at night", "-k", "40", "--json"]));
    let first = json(&o)["results"][CLIP][0]["id"].as_u64().unwrap();
    let q = format!("\"a stormy sea at night\" -work:{first}:2");
    let v = json(&run(s.cmd(&["search", &q, "-k", "40", "--json"])));
    let ids: Vec<u64> = v["results"][CLIP]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_u64().unwrap())
        .collect();
    assert!(!ids.contains(&first), "{v}");
    assert_eq!(ids.len(), 39);
    assert_eq!(v["terms"][1]["work_id"].as_u64(), Some(first));
    assert_eq!(v["terms"][1]["weight"].as_f64(), Some(-2.0));
    // A phrase longer than CLIP's 77 tokens is cut, and said so.
    let long = "a very long description of a painting ".repeat(20);
    let o = run(s.cmd(&["search", &long, "--json"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cut to its first tokens"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        json(&o)["terms"][0]["truncated_by"],
        serde_json::json!([CLIP])
    );
}

/// Ratings of the first 32 works from the tower's cosine to `hidden` plus
/// noise of half its spread (`noise_only`: the noise alone).
fn planted_ratings(works: &[JointWork], hidden: &[f32], seed: u64, noise_only: bool) -> Vec<f64> {
    let mut rng = Rng(seed);
    let sims: Vec<f64> = works
        .iter()
        .take(32)
        .map(|w| cosine(&w.2, hidden))
        .collect();
    let m = sims.iter().sum::<f64>() / sims.len() as f64;
    let sd = (sims.iter().map(|s| (s - m).powi(2)).sum::<f64>() / sims.len() as f64).sqrt();
    sims.iter()
        .map(|s| {
            let e = rng.normal() * 0.5 * sd;
            if noise_only {
                e
            } else {
                s + e
            }
        })
        .collect()
}

#[test]
fn a_planted_taste_is_found_and_noise_explains_nothing_on_the_tiny_clip() {
    use artlens::eval::words::{taste_in_words, Vocabulary, WordsOptions};
    let s = ClipStore::new();
    let (works, tower) = s.joint();
    let vocabulary = Vocabulary::builtin();
    let phrases = vocabulary.phrases().to_vec();
    let refs: Vec<&str> = phrases.iter().map(String::as_str).collect();
    let vectors: Vec<Vec<f32>> = tower
        .embed_texts(&refs)
        .unwrap()
        .into_iter()
        .map(|e| e.vector)
        .collect();
    let images: Vec<Vec<f32>> = works.iter().take(32).map(|w| w.2.clone()).collect();
    let opts = WordsOptions::default();
    let seeds = 30u64;
    let (mut top3, mut nothing) = (0, 0);
    for seed in 0..seeds {
        let hidden = (seed as usize * 37 + 11) % phrases.len();
        let y = planted_ratings(&works, &vectors[hidden], seed, false);
        let t = taste_in_words(&images, &y, &phrases, &vectors, &opts).unwrap();
        if t.up.iter().take(3).any(|f| f.phrase == phrases[hidden]) {
            top3 += 1;
        }
        let y = planted_ratings(&works, &vectors[hidden], seed + 1000, true);
        let t = taste_in_words(&images, &y, &phrases, &vectors, &opts).unwrap();
        if !t.explains {
            nothing += 1;
        }
    }
    eprintln!("tiny CLIP, 32 ratings, {seeds} seeds: hidden phrase in the top 3 {top3}, noise says nothing {nothing}");
    assert!(
        top3 * 10 >= seeds * 9,
        "hidden phrase in the top 3 in {top3} of {seeds}"
    );
    assert!(
        nothing * 10 >= seeds * 9,
        "noise says nothing in {nothing} of {seeds}"
    );

    // The same through the binary: the ratings set, `taste --json`, the
    // hidden phrase among the first three up, and the HTML page written.
    let hidden = 11 % phrases.len();
    let y = planted_ratings(&works, &vectors[hidden], 0, false);
    for (w, r) in works.iter().take(32).zip(&y) {
        // Ratings from 1 to 8.75 in the planted order: only the order counts
        // (Spearman), and a positive number is a rating on the command line.
        let rank = y.iter().filter(|o| *o < r).count();
        let o = run(s.bare(&[
            "rate",
            "set",
            &w.0.to_string(),
            &format!("{}", 1.0 + 0.25 * rank as f64),
        ]));
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let html = s.tmp.path().join("taste.html");
    let o = run(s.cmd(&["taste", "--json", "--html", html.to_str().unwrap()]));
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json(&o);
    let col = &v["columns"][0];
    assert_eq!(col["backbone"], CLIP);
    let up: Vec<&str> = col["words"]["up"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["phrase"].as_str().unwrap())
        .collect();
    assert!(
        up.iter().take(3).any(|p| *p == phrases[hidden]),
        "{} not in {up:?}",
        phrases[hidden]
    );
    assert_eq!(v["skipped"][0]["backbone"], "dino");
    assert_eq!(
        v["vocabulary"]["phrases"].as_u64(),
        Some(phrases.len() as u64)
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains(&phrases[hidden]) && page.contains("Content-Security-Policy"));
    // The text output shows the same strength as the JSON.
    let o = run(s.cmd(&["taste"]));
    let strength = artlens::plain::score(col["words"]["up"][0]["spearman"].as_f64().unwrap());
    assert!(stdout(&o).contains(&strength), "{}", stdout(&o));

    // A vocabulary file with repeats and empty lines: counted and said.
    let extra = s.tmp.path().join("mine.txt");
    std::fs::write(
        &extra,
        "foggy harbour at dawn\n\nFoggy  harbour at dawn\nseascape\n",
    )
    .unwrap();
    let o = run(s.cmd(&["taste", "--json", "--vocabulary", extra.to_str().unwrap()]));
    assert!(o.status.success(), "{}", stderr(&o));
    let voc = &json(&o)["vocabulary"];
    assert_eq!(voc["added"].as_u64(), Some(1), "{voc}");
    assert_eq!(voc["duplicates"].as_u64(), Some(2), "{voc}");
    assert_eq!(voc["empty_lines"].as_u64(), Some(1), "{voc}");
    assert!(
        stderr(&o).contains("2 repeated phrases and 1 empty line left out"),
        "{}",
        stderr(&o)
    );
}

/// A timm CLIP repository from the Hugging Face cache, as a hub download
/// leaves it (the image tower's files; open_clip's here beside them), finds
/// the CLIP vocabulary, which no timm repository carries, in another cached
/// repository, as a person's cache often holds it, and searches. Offline
/// and without it, the backbone is refused naming the file, the repository
/// it would come from, why it was not fetched, and the command to fetch it.
#[test]
fn a_timm_clip_from_the_hub_cache_finds_its_vocabulary_in_the_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("hf");
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let put = |repo: &str, files: &[&str]| {
        let r = home.join("hub").join(repo);
        std::fs::create_dir_all(r.join("refs")).unwrap();
        std::fs::write(r.join("refs/main"), sha).unwrap();
        let snap = r.join("snapshots").join(sha);
        std::fs::create_dir_all(&snap).unwrap();
        for f in files {
            std::fs::copy(fixtures().join("text/openclip").join(f), snap.join(f)).unwrap();
        }
    };
    put(
        "models--timm--vit_base_patch16_clip_224.openai",
        &[
            "config.json",
            "model.safetensors",
            "open_clip_config.json",
            "open_clip_model.safetensors",
        ],
    );
    let vocabulary = "models--openai--clip-vit-base-patch32";
    put(vocabulary, &["tokenizer.json"]);
    let dir = tmp.path().join("collection");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..6u8 {
        image::RgbImage::from_fn(40, 32, |x, y| {
            image::Rgb([i * 40, (x * 6) as u8, (y * 7) as u8])
        })
        .save(dir.join(format!("w{i}.png")))
        .unwrap();
    }
    let cmd = |args: &[&str]| {
        let mut c = artlens();
        c.env("HF_HOME", &home)
            .env("ARTLENS_STORE", tmp.path().join("store"))
            .args(args)
            .arg("--offline");
        c
    };
    let o = run(cmd(&["index", "--quiet", "--backbones", "clip-b16"]).arg(&dir));
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(cmd(&["search", "a stormy sea", "-k", "3", "--json"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["backbones"], serde_json::json!(["clip-b16"]), "{v}");
    assert_eq!(v["results"]["clip-b16"].as_array().unwrap().len(), 3, "{v}");

    std::fs::remove_dir_all(home.join("hub").join(vocabulary)).unwrap();
    let o = run(cmd(&["search", "a stormy sea"]));
    refused(
        &o,
        &[
            "clip-b16",
            "tokenizer.json",
            "openai/clip-vit-base-patch32",
            "--offline and not in the Hugging Face cache",
            "huggingface-cli download openai/clip-vit-base-patch32 tokenizer.json",
        ],
    );
}

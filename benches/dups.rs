//! Near-duplicate detection on a planted set: precision and recall of copy
//! pairs per backbone at the default settings of `artlens dups`, and what
//! the best embedding threshold alone would reach (the reason for the pixel
//! check).
//!
//! The planted set: the sample collection (`data/collection`, the README's
//! quick start) plus, for every other work, two generated copies, each a
//! random mix of a crop to 78–92% of the side, a resize to 40–80%, JPEG
//! recompression at quality 35–90, a brightness change of ±20% and colour
//! gains of ±10%; and hard negatives: 8 series of 3 generated flat
//! minimalist works sharing a palette and differing in composition (two to
//! four bands and blocks each). A pair is a true copy pair when both works come
//! from one original.
//!
//! The ground truth treats every two works of the sample as distinct, and
//! that is right: `examples/make_sample_collection.rs` draws each work's
//! composition from its own seed (where the horizon, trees, haystacks,
//! colour rectangles or the one line of a minimalist field fall), so two
//! works of one style share a generator and a palette family, not a
//! picture. At 48 pixels two landscapes of the sample are mostly the same
//! sky-to-field gradient in other colours, which a per-channel correlation
//! (it forgives any gain and offset per channel) used to call copies; the
//! check now compares the shapes and edges (a band-pass of the picture)
//! after aligning, and only within a copy's brightness and colour change.
//!
//! The backbones are the random-initialised checkpoints the tests use
//! (`tests/fixtures/dino_tiny`, `dinov2_tiny`, and the zoo's CLIP, SigLIP
//! and DINOv3 cases): no trained weights exist on the machines this runs
//! on, so the embedding step is weak and the pixel check must carry the
//! decision. Run: `cargo bench --bench dups` (`ARTLENS_BENCH_SEED` changes
//! the planted set; `ARTLENS_BENCH_ALL_PAIRS=1` also runs the pixel check
//! on every pair, without candidates, and names the pairs on the wrong side
//! of its cut-off).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use artlens::app::{DupsRequest, Event, IndexRequest, WeightsConfig};
use artlens::pipeline::IndexOptions;
use artlens::{BackboneId, Collection};
use image::{imageops, Rgb, RgbImage};

#[path = "../tests/common/rng.rs"]
mod rng;
use rng::Rng;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The backbones measured: (id, checkpoint folder).
fn backbones() -> Vec<(BackboneId, PathBuf)> {
    let fx = root().join("tests/fixtures");
    [
        ("dino", fx.join("dino_tiny")),
        ("dinov2", fx.join("dinov2_tiny")),
        (
            "timm/vit_base_patch16_clip_224.openai",
            fx.join("zoo/clip_b16"),
        ),
        (
            "timm/vit_base_patch16_siglip_224.webli",
            fx.join("zoo/siglip_b16"),
        ),
        (
            "timm/vit_base_patch16_dinov3.lvd1689m",
            fx.join("zoo/dinov3_b"),
        ),
    ]
    .into_iter()
    // `ARTLENS_BENCH_BACKBONES=dino,dinov2`: only those (a quicker run).
    .filter(|(id, _)| match std::env::var("ARTLENS_BENCH_BACKBONES") {
        Ok(only) => only.split(',').any(|o| o == *id),
        Err(_) => true,
    })
    .map(|(id, dir)| (BackboneId::parse(id).unwrap(), dir))
    .collect()
}

fn save_jpeg(img: &RgbImage, path: &Path, quality: u8) {
    let mut out = std::fs::File::create(path).unwrap();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(img)
        .unwrap();
}

/// One generated copy of `img`: a random mix of crop, resize, brightness,
/// colour gains and JPEG recompression.
fn copy_of(img: &RgbImage, rng: &mut Rng, path_stem: &Path) -> PathBuf {
    let (w, h) = img.dimensions();
    let mut out = img.clone();
    if rng.uniform() < 0.6 {
        let s = 0.78 + 0.14 * rng.uniform();
        let (cw, ch) = ((w as f64 * s) as u32, (h as f64 * s) as u32);
        let x = (rng.uniform() * (w - cw) as f64) as u32;
        let y = (rng.uniform() * (h - ch) as f64) as u32;
        out = imageops::crop_imm(&out, x, y, cw, ch).to_image();
    }
    if rng.uniform() < 0.6 {
        let s = 0.4 + 0.4 * rng.uniform();
        let (nw, nh) = (
            ((out.width() as f64 * s) as u32).max(16),
            ((out.height() as f64 * s) as u32).max(16),
        );
        out = imageops::resize(&out, nw, nh, imageops::FilterType::Triangle);
    }
    if rng.uniform() < 0.6 {
        let b = 0.8 + 0.4 * rng.uniform();
        let gains: Vec<f64> = (0..3).map(|_| b * (0.9 + 0.2 * rng.uniform())).collect();
        for p in out.pixels_mut() {
            for (v, g) in p.0.iter_mut().zip(&gains) {
                *v = (*v as f64 * g).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    if rng.uniform() < 0.7 {
        let q = 35 + rng.below(56) as u8;
        let path = path_stem.with_extension("jpg");
        save_jpeg(&out, &path, q);
        path
    } else {
        let path = path_stem.with_extension("png");
        out.save(&path).unwrap();
        path
    }
}

/// A flat minimalist work: a field of `ground` with rectangles of `ink`
/// (x, y, width, height as shares of the sides).
fn minimal(ground: [u8; 3], ink: [u8; 3], shapes: &[(f64, f64, f64, f64)]) -> RgbImage {
    RgbImage::from_fn(480, 360, |x, y| {
        let (fx, fy) = (x as f64 / 480.0, y as f64 / 360.0);
        if shapes
            .iter()
            .any(|&(sx, sy, w, h)| fx >= sx && fx < sx + w && fy >= sy && fy < sy + h)
        {
            Rgb(ink)
        } else {
            Rgb(ground)
        }
    })
}

/// Writes the planted set under `dir`; returns each file's original (the
/// planted group label).
fn planted(dir: &Path, seed: u64) -> BTreeMap<String, String> {
    let mut rng = Rng(seed);
    let mut origin = BTreeMap::new();
    let sample = root().join("data/collection");
    let mut files: Vec<PathBuf> = walk(&sample);
    files.sort();
    std::fs::create_dir_all(dir).unwrap();
    for (i, f) in files.iter().enumerate() {
        let name = format!("w{i:02}.png");
        let img = image::open(f).unwrap().to_rgb8();
        img.save(dir.join(&name)).unwrap();
        origin.insert(name.clone(), name.clone());
        if i % 2 == 0 {
            for c in 0..2 {
                let p = copy_of(&img, &mut rng, &dir.join(format!("w{i:02}-copy{c}")));
                let n = p.file_name().unwrap().to_string_lossy().into_owned();
                origin.insert(n, name.clone());
            }
        }
    }
    for s in 0..8 {
        let ground = [
            150 + rng.below(100) as u8,
            150 + rng.below(100) as u8,
            150 + rng.below(100) as u8,
        ];
        let ink = [
            rng.below(90) as u8,
            rng.below(90) as u8,
            rng.below(90) as u8,
        ];
        for k in 0..3 {
            // Two to four bars and blocks, full-height or full-width bands
            // among them, as in a series of colour-field paintings.
            let n_shapes = 2 + rng.below(3);
            let shapes: Vec<(f64, f64, f64, f64)> = (0..n_shapes)
                .map(|_| {
                    let (w, h) = (0.04 + 0.2 * rng.uniform(), 0.04 + 0.2 * rng.uniform());
                    match rng.below(3) {
                        0 => (0.05 + 0.85 * rng.uniform(), 0.0, w, 1.0),
                        1 => (0.0, 0.05 + 0.85 * rng.uniform(), 1.0, h),
                        _ => (0.8 * rng.uniform(), 0.8 * rng.uniform(), w, h),
                    }
                })
                .collect();
            let name = format!("m{s}-{k}.png");
            minimal(ground, ink, &shapes).save(dir.join(&name)).unwrap();
            origin.insert(name.clone(), name);
        }
    }
    origin
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("png" | "jpg" | "jpeg")
        ) {
            out.push(p);
        }
    }
    out
}

fn pair(a: &str, b: &str) -> (String, String) {
    if a < b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

fn name_of(path: &str) -> String {
    Path::new(path)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn main() {
    let seed: u64 = std::env::var("ARTLENS_BENCH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(25);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("planted");
    let origin = planted(&dir, seed);
    let truth: BTreeSet<(String, String)> = {
        let mut by_origin: HashMap<&str, Vec<&str>> = HashMap::new();
        for (f, o) in &origin {
            by_origin.entry(o).or_default().push(f);
        }
        by_origin
            .values()
            .flat_map(|g| {
                g.iter()
                    .enumerate()
                    .flat_map(move |(i, a)| g[i + 1..].iter().map(move |b| pair(a, b)))
            })
            .collect()
    };
    println!(
        "planted set (seed {seed}): {} works, {} true copy pairs, 24 hard negatives in 8 series; random-init weights",
        origin.len(),
        truth.len()
    );
    println!(
        "{:<42} {:>9} {:>7} {:>7} {:>10} {:>22}",
        "backbone", "cand.", "P", "R", "time (s)", "threshold alone: P@R≥0.9"
    );
    let mut pixel_check_done = false;
    for (id, weights_dir) in backbones() {
        let mut w = WeightsConfig::default();
        w.set_dir(&id, weights_dir, true);
        let store = tmp.path().join(format!("store-{}", id.folder_name()));
        let c = Collection::create(&store, w).unwrap();
        c.index(
            &IndexRequest {
                dir: dir.clone(),
                metadata: None,
                skip_bad_metadata: false,
                backbones: vec![id.clone()],
                rebuild: Vec::new(),
                shard: None,
                options: IndexOptions::default(),
            },
            &mut |_: Event| {},
        )
        .unwrap();
        // Every pair costs minutes on a small machine: asked for only.
        if !pixel_check_done && std::env::var_os("ARTLENS_BENCH_ALL_PAIRS").is_some() {
            pixel_check_done = true;
            pixel_check_alone(&c, &truth);
        }
        let start = Instant::now();
        let view = c
            .dups(
                &DupsRequest {
                    backbone: Some(id.clone()),
                    ..DupsRequest::default()
                },
                &mut |_: Event| {},
            )
            .unwrap();
        let secs = start.elapsed().as_secs_f64();
        // A generated copy that changed nothing is the original's bytes,
        // which the store keeps as one work with two paths (artlens
        // merges byte-identical files by design): every name of a work
        // counts, and a work's own names are a found pair.
        let paths_of: HashMap<u64, Vec<String>> = c
            .store()
            .artworks()
            .unwrap()
            .into_iter()
            .map(|a| (a.id, a.paths.iter().map(|p| name_of(p)).collect()))
            .collect();
        let sets: Vec<Vec<String>> = view
            .groups
            .iter()
            .map(|g| {
                g.members
                    .iter()
                    .flat_map(|m| paths_of[&m.id].clone())
                    .collect()
            })
            .chain(paths_of.values().filter(|p| p.len() > 1).cloned())
            .collect();
        let found: BTreeSet<(String, String)> = sets
            .iter()
            .flat_map(|names| {
                let mut out = Vec::new();
                for i in 0..names.len() {
                    for j in i + 1..names.len() {
                        out.push(pair(&names[i], &names[j]));
                    }
                }
                out
            })
            .collect();
        let tp = found.intersection(&truth).count() as f64;
        let precision = if found.is_empty() {
            1.0
        } else {
            tp / found.len() as f64
        };
        let recall = tp / truth.len() as f64;
        // The embedding alone: every pair by cosine, the best precision of
        // a threshold that keeps 90% of the true pairs.
        let embeddings = c.store().embeddings(&id).unwrap();
        let names: HashMap<u64, String> = c
            .store()
            .artworks()
            .unwrap()
            .into_iter()
            .map(|a| (a.id, name_of(&a.paths[0])))
            .collect();
        let mut scored: Vec<(f64, bool)> = Vec::new();
        for i in 0..embeddings.len() {
            for j in i + 1..embeddings.len() {
                let (a, b) = (&embeddings[i].2, &embeddings[j].2);
                let cos = cosine(a, b);
                let p = pair(&names[&embeddings[i].0], &names[&embeddings[j].0]);
                scored.push((cos, truth.contains(&p)));
            }
        }
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let need = (0.9 * truth.len() as f64).ceil() as usize;
        let (mut hits, mut taken) = (0usize, 0usize);
        for (_, is_true) in &scored {
            taken += 1;
            hits += *is_true as usize;
            if hits >= need {
                break;
            }
        }
        if view.unreadable > 0 {
            println!("    {} works' pictures could not be read", view.unreadable);
        }
        println!(
            "{:<42} {:>9} {:>7.3} {:>7.3} {:>10.2} {:>22.3}",
            id.name(),
            view.candidates,
            precision,
            recall,
            secs,
            hits as f64 / taken.max(1) as f64
        );
        // Why a true pair was missed: its pixels (the check's own figure on
        // the files) or no candidate.
        let mut missed: Vec<String> = Vec::new();
        for p in truth.difference(&found) {
            let sig = |n: &str| {
                artlens::dups::Signature::of(&image::open(dir.join(n)).unwrap().to_rgb8())
            };
            let a = artlens::dups::agreement(&sig(&p.0), &sig(&p.1));
            missed.push(format!("{}~{} {a:.3}", p.0, p.1));
        }
        if !missed.is_empty() {
            println!("    missed: {}", missed.join(", "));
        }
        for g in &view.groups {
            let names: Vec<String> = g.members.iter().map(|m| name_of(&m.path)).collect();
            let origins: BTreeSet<&String> = names.iter().map(|n| &origin[n]).collect();
            if origins.len() > 1 {
                println!("    wrong group: {names:?}");
            }
        }
    }
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut d, mut na, mut nb) = (0f64, 0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        d += *x as f64 * *y as f64;
        na += (*x as f64).powi(2);
        nb += (*y as f64).powi(2);
    }
    d / (na.sqrt() * nb.sqrt()).max(1e-30)
}

/// The pixel check on every pair of works, without candidates: how far
/// apart the copies' agreement and the other pairs' lie (the check's own
/// precision and recall, the ceiling of any candidate step), with the
/// pairs on the wrong side of the cut-off named. The signatures come from
/// the same cached thumbnails `dups` reads.
fn pixel_check_alone(c: &Collection, truth: &BTreeSet<(String, String)>) {
    let arts = c.store().artworks().unwrap();
    let start = Instant::now();
    let sigs: Vec<(String, artlens::dups::Signature)> = arts
        .iter()
        .map(|a| {
            let thumb = c.thumbnail(a.id, 256).unwrap();
            let img = image::open(&thumb.path).unwrap().to_rgb8();
            (name_of(&a.paths[0]), artlens::dups::Signature::of(&img))
        })
        .collect();
    let mut scored: Vec<(f64, bool, String)> = Vec::new();
    for i in 0..sigs.len() {
        for j in i + 1..sigs.len() {
            let a = artlens::dups::agreement(&sigs[i].1, &sigs[j].1);
            let p = pair(&sigs[i].0, &sigs[j].0);
            scored.push((a, truth.contains(&p), format!("{}~{}", p.0, p.1)));
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let cut = artlens::dups::DEFAULT_AGREEMENT;
    let tp = scored.iter().filter(|s| s.1 && s.0 >= cut).count();
    let fp = scored.iter().filter(|s| !s.1 && s.0 >= cut).count();
    let n_true = scored.iter().filter(|s| s.1).count();
    println!(
        "pixel check alone, all {} pairs ({secs:.1} s): P {:.3}, R {:.3} at {cut}",
        scored.len(),
        tp as f64 / (tp + fp).max(1) as f64,
        tp as f64 / n_true.max(1) as f64
    );
    let mut wrong: Vec<&(f64, bool, String)> =
        scored.iter().filter(|s| s.1 != (s.0 >= cut)).collect();
    wrong.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (a, is_true, name) in wrong.iter().take(30) {
        let what = if *is_true {
            "copy below"
        } else {
            "other above"
        };
        println!("    {what}: {name} {a:.3}");
    }
}

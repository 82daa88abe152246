//! Past one machine, with the real binary: a collection indexed in four
//! shards by the rendered Slurm array script and merged by the rendered
//! merge script equals a single-run store (the same (hash, backbone) pairs
//! with bit-identical vectors, the same paths and metadata, the same
//! `similar` answers); merging again changes nothing; ratings from several
//! stores are united, a conflict resolved by the newer one and reported;
//! the Kubernetes manifest runs the four shard commands; the Parquet export
//! reads back bit for bit; and every refusal the issue names.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use arrow_array::{Array, FixedSizeListArray, Float32Array, StringArray, UInt64Array};
use artlens::store::Store;
use common::{artlens, fixtures, run, stderr, stdout};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

fn weights_args() -> Vec<String> {
    vec![
        "--weights".into(),
        format!("dino={}", fixtures().join("dino_tiny").display()),
        "--weights".into(),
        format!("dinov2={}", fixtures().join("dinov2_tiny").display()),
    ]
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The 24-work test collection plus one duplicate (same bytes, two paths).
fn collection(dir: &Path) -> Vec<(String, f64)> {
    let ratings = common::rated_collection(dir);
    std::fs::create_dir_all(dir.join("copies")).unwrap();
    std::fs::copy(dir.join(&ratings[0].0), dir.join("copies/again.png")).unwrap();
    ratings
}

/// `index COLL --store STORE` with the tiny fixture weights of the
/// backbones `extra` names (`--backbones`), both by default.
fn index(coll: &Path, store: &Path, extra: &[&str]) -> Value {
    let mut weights = weights_args();
    if let Some(i) = extra.iter().position(|a| *a == "--backbones") {
        let wanted: Vec<&str> = extra[i + 1].split(',').collect();
        weights = weights
            .chunks(2)
            .filter(|w| wanted.iter().any(|b| w[1].starts_with(&format!("{b}="))))
            .flatten()
            .cloned()
            .collect();
    }
    let o = run(artlens()
        .arg("index")
        .arg(coll)
        .arg("--store")
        .arg(store)
        .args(weights)
        .args(extra)
        .arg("--json"));
    assert!(o.status.success(), "index failed: {}", stderr(&o));
    serde_json::from_str(&stdout(&o)).unwrap()
}

fn render(kind: &str, n: u32, out: &Path) -> String {
    let o = run(Command::new("sh")
        .arg(repo().join("deploy/render.sh"))
        .arg(kind)
        .arg(n.to_string()));
    assert!(o.status.success(), "render {kind}: {}", stderr(&o));
    let text = stdout(&o);
    std::fs::write(out, &text).unwrap();
    text
}

/// Every (hash, backbone) → vector bits, and hash → (sorted paths, metadata).
type Snapshot = (
    BTreeMap<(String, String), Vec<u32>>,
    BTreeMap<String, (Vec<String>, BTreeMap<String, String>)>,
);

fn snapshot(dir: &Path) -> Snapshot {
    let store = Store::open_existing(dir).unwrap();
    let mut vectors = BTreeMap::new();
    for id in store.backbones().unwrap() {
        for (_, hash, v) in store.embeddings(&id).unwrap() {
            vectors.insert((hash, id.name()), v.iter().map(|x| x.to_bits()).collect());
        }
    }
    let mut works = BTreeMap::new();
    for a in store.artworks().unwrap() {
        let mut paths = a.paths.clone();
        paths.sort();
        let meta: BTreeMap<String, String> = a.metadata.into_iter().collect();
        works.insert(a.hash, (paths, meta));
    }
    (vectors, works)
}

/// `similar` for `work`, as (backbone, path, similarity bits) without ids
/// (ids are per store).
fn similar(store: &Path, work: &str) -> Vec<(String, String, u32)> {
    let o = run(artlens()
        .args(["similar", work, "-k", "6", "--json", "--store"])
        .arg(store));
    assert!(o.status.success(), "similar: {}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let mut out = Vec::new();
    for (b, hits) in v["results"].as_object().unwrap() {
        for h in hits.as_array().unwrap() {
            out.push((
                b.clone(),
                h["path"].as_str().unwrap().to_string(),
                (h["similarity"].as_f64().unwrap() as f32).to_bits(),
            ));
        }
    }
    out
}

fn merge(sources: &[&Path], into: &Path) -> std::process::Output {
    run(artlens()
        .arg("merge")
        .args(sources)
        .arg("--into")
        .arg(into)
        .arg("--json"))
}

#[test]
fn four_shards_from_the_slurm_scripts_merge_into_the_single_run_store() {
    let t = tempfile::tempdir().unwrap();
    let coll = t.path().join("collection");
    let ratings = collection(&coll);
    let single = t.path().join("single");
    let whole = index(&coll, &single, &[]);
    assert_eq!(whole["files"], 25);

    // The Slurm array, task by task, as sbatch would run it.
    let sbatch = t.path().join("index-shards.sbatch");
    let script = render("slurm", 4, &sbatch);
    assert!(script.contains("#SBATCH --array=0-3"), "{script}");
    let shards_dir = t.path().join("shards");
    let run_task = |task: u32| -> Value {
        let o = run(Command::new("bash")
            .arg(&sbatch)
            .env("SLURM_ARRAY_TASK_ID", task.to_string())
            .env("ARTLENS", env!("CARGO_BIN_EXE_artlens"))
            .env("COLLECTION", &coll)
            .env("SHARDS_DIR", &shards_dir)
            .env("ARTLENS_INDEX_ARGS", weights_args().join(" ") + " --json")
            .env("HF_HUB_OFFLINE", "1")
            .env_remove("ARTLENS_STORE"));
        assert!(o.status.success(), "task {task}: {}", stderr(&o));
        serde_json::from_str(&stdout(&o)).unwrap()
    };
    let mut shard_files = 0;
    for task in 0..4 {
        let summary = run_task(task);
        assert_eq!(summary["shard"]["index"], task);
        assert_eq!(summary["shard"]["count"], 4);
        let files = summary["files"].as_u64().unwrap();
        assert_eq!(files + summary["other_shards"].as_u64().unwrap(), 25);
        assert!(
            files > 0,
            "a shard of 25 works is empty: the split is not by hash"
        );
        shard_files += files;
        let s = Store::open_existing(&shards_dir.join(task.to_string())).unwrap();
        assert_eq!(s.shard().unwrap().unwrap().to_string(), format!("{task}/4"));
        for a in s.artworks().unwrap() {
            assert!(artlens::shard::Shard::new(task, 4)
                .unwrap()
                .contains(&a.hash));
        }
    }
    assert_eq!(shard_files, 25, "every file is in exactly one shard");
    // A task run again (a pre-empted job resubmitted) redoes nothing.
    let again = run_task(2);
    assert_eq!(again["embedded"], 0, "{again}");
    assert_eq!(again["already_stored"], again["distinct"]);

    // Ratings made on two of the shard machines travel with the merge.
    let csv0 = t.path().join("ratings.csv");
    let mut text = String::from("path,rating\n");
    for (rel, r) in &ratings {
        text.push_str(&format!("{rel},{r}\n"));
    }
    std::fs::write(&csv0, text).unwrap();
    let mut rated_in_shards = 0;
    for task in [0, 2] {
        let store = shards_dir.join(task.to_string());
        let o = run(artlens()
            .args(["rate", "import"])
            .arg(&csv0)
            .arg("--skip-bad")
            .arg("--store")
            .arg(&store));
        // Rows naming works of other shards are skipped (exit 1), the rest imported.
        assert!(o.status.code().unwrap() <= 1, "{}", stderr(&o));
        rated_in_shards += Store::open_existing(&store)
            .map(|s| {
                artlens::ratings::ratings_of(&s, &artlens::ratings::Rater::default())
                    .unwrap()
                    .len()
            })
            .unwrap();
    }
    assert!(rated_in_shards > 0);

    // The merge job.
    let merge_script = t.path().join("merge.sbatch");
    render("slurm-merge", 4, &merge_script);
    let merged = t.path().join("merged");
    let o = run(Command::new("bash")
        .arg(&merge_script)
        .env("ARTLENS", env!("CARGO_BIN_EXE_artlens"))
        .env("SHARDS_DIR", &shards_dir)
        .env("STORE", &merged)
        .env_remove("ARTLENS_STORE"));
    assert!(o.status.success(), "merge job: {}", stderr(&o));
    assert!(stderr(&o).contains("merged 4 stores"), "{}", stderr(&o));

    assert_eq!(
        snapshot(&merged),
        snapshot(&single),
        "merged store differs from the single run"
    );
    let m = Store::open_existing(&merged).unwrap();
    assert_eq!(m.shard().unwrap(), None);
    assert_eq!(
        artlens::ratings::ratings_of(&m, &artlens::ratings::Rater::default())
            .unwrap()
            .len(),
        rated_in_shards
    );
    drop(m);
    for q in [&ratings[0].0, &ratings[7].0, &ratings[20].0] {
        let q = coll.join(q).display().to_string();
        assert_eq!(similar(&merged, &q), similar(&single, &q), "similar {q}");
    }
    // The ANN index was built by the merge and saved: reading needs no rebuild.
    let o = run(artlens()
        .args(["similar", "--id", &ratings[3].0, "--store"])
        .arg(&merged));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("building"), "{}", stderr(&o));

    // Merging again changes nothing.
    let shard_dirs: Vec<PathBuf> = (0..4).map(|i| shards_dir.join(i.to_string())).collect();
    let refs: Vec<&Path> = shard_dirs.iter().map(PathBuf::as_path).collect();
    let o = merge(&refs, &merged);
    assert!(o.status.success(), "{}", stderr(&o));
    let again: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(again["added"], 0);
    assert_eq!(again["updated"], 0);
    assert_eq!(again["unchanged"], 24);
    assert!(
        again["records_added"].as_object().unwrap().is_empty(),
        "{again}"
    );
    assert_eq!(snapshot(&merged), snapshot(&single));

    // Three of four shards: the missing one is named, and merging it later completes the store.
    let partial = t.path().join("partial");
    let o = merge(&refs[..3], &partial);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let notes = report["notes"].to_string();
    assert!(notes.contains("3/4"), "{notes}");
    let o = merge(&refs[3..], &partial);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(snapshot(&partial), snapshot(&single));

    // Parquet from the merged store: one file per backbone, read back bit for bit.
    let out = t.path().join("parquet");
    let o = run(artlens()
        .args([
            "export",
            "--format",
            "parquet",
            "--row-group-rows",
            "5",
            "--json",
            "--store",
        ])
        .arg(&merged)
        .arg(&out));
    assert!(o.status.success(), "{}", stderr(&o));
    let view: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(view["files"].as_array().unwrap().len(), 2);
    check_parquet(&merged, &out, 5);
}

/// Reads every Parquet file of the export in `out` and checks it against the store.
fn check_parquet(store_dir: &Path, out: &Path, row_group_rows: usize) {
    let store = Store::open_existing(store_dir).unwrap();
    for id in store.backbones().unwrap() {
        let path = out.join(format!("{}.parquet", id.folder_name()));
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).unwrap()).unwrap();
        let meta = builder.metadata().clone();
        let kv: BTreeMap<String, String> = meta
            .file_metadata()
            .key_value_metadata()
            .unwrap()
            .iter()
            .map(|k| (k.key.clone(), k.value.clone().unwrap_or_default()))
            .collect();
        let fp: artlens::model::Fingerprint =
            serde_json::from_str(&kv["artlens.fingerprint"]).unwrap();
        assert_eq!(Some(fp), store.fingerprint(&id).unwrap());
        assert_eq!(kv["artlens.backbone"], id.name());
        assert_eq!(kv["artlens.version"], env!("CARGO_PKG_VERSION"));
        assert!(
            kv["artlens.preprocess"].contains("mean"),
            "{}",
            kv["artlens.preprocess"]
        );
        let stored = store.embeddings(&id).unwrap();
        assert_eq!(
            meta.num_row_groups(),
            stored.len().div_ceil(row_group_rows),
            "row groups"
        );
        let dim = stored[0].2.len();
        let mut rows = Vec::new();
        for batch in builder.build().unwrap() {
            let batch = batch.unwrap();
            let ids: UInt64Array = column(&batch, "id");
            let hashes: StringArray = column(&batch, "hash");
            let style: StringArray = column(&batch, "style");
            let emb: FixedSizeListArray = column(&batch, "embedding");
            assert_eq!(emb.value_length() as usize, dim);
            for r in 0..batch.num_rows() {
                let v = emb.value(r);
                let v = v.as_any().downcast_ref::<Float32Array>().unwrap();
                rows.push((
                    ids.value(r),
                    hashes.value(r).to_string(),
                    (!style.is_null(r)).then(|| style.value(r).to_string()),
                    v.values().iter().map(|x| x.to_bits()).collect::<Vec<u32>>(),
                ));
            }
        }
        assert_eq!(rows.len(), stored.len());
        for ((id_r, hash_r, style, bits), (id_s, hash_s, v)) in rows.iter().zip(&stored) {
            assert_eq!((id_r, hash_r), (id_s, hash_s));
            assert_eq!(bits, &v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>());
            let art = store.artwork(hash_s).unwrap().unwrap();
            assert_eq!(style.as_ref(), art.metadata.get("style"));
        }
    }
}

/// The column `name` of `batch` as its concrete array type.
fn column<T: Array + Clone + 'static>(batch: &arrow_array::RecordBatch, name: &str) -> T {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .as_any()
        .downcast_ref::<T>()
        .unwrap_or_else(|| panic!("column {name} has another type"))
        .clone()
}

#[test]
fn ratings_of_one_work_in_two_stores_keep_the_newer_and_say_so() {
    let t = tempfile::tempdir().unwrap();
    let coll = t.path().join("collection");
    let ratings = collection(&coll);
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    index(&coll, &a, &["--backbones", "dino"]);
    index(&coll, &b, &["--backbones", "dino"]);
    let work = &ratings[5].0;
    let set = |store: &Path, score: &str| {
        let o = run(artlens()
            .args(["rate", "set", work, score, "--store"])
            .arg(store));
        assert!(o.status.success(), "{}", stderr(&o));
    };
    set(&b, "3");
    set(&a, "7");
    // Another work rated only in b: no conflict, carried over.
    let o = run(artlens()
        .args(["rate", "set", &ratings[6].0, "4", "--store"])
        .arg(&b));
    assert!(o.status.success());
    // Preferences: one said in both stores (kept once), one only in a.
    let prefer = |store: &Path, w: &str, l: &str| {
        let o = run(artlens()
            .args(["rate", "prefer", w, l, "--store"])
            .arg(store));
        assert!(o.status.success(), "{}", stderr(&o));
    };
    prefer(&a, &ratings[5].0, &ratings[6].0);
    prefer(&b, &ratings[5].0, &ratings[6].0);
    prefer(&a, &ratings[6].0, &ratings[7].0);
    // Ratings carry whole seconds: make b's rating of `work` the newer one.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    set(&b, "9");
    let into = t.path().join("merged");
    let o = merge(&[&a, &b], &into);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let conflicts = report["record_conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1, "{report}");
    assert_eq!(conflicts[0]["kept"]["rating"], 9.0);
    assert_eq!(conflicts[0]["dropped"]["rating"], 7.0);
    assert!(stderr(&o).contains("kept the newer"), "{}", stderr(&o));
    assert_eq!(report["records_added"]["preferences"], 2, "{report}");
    let m = Store::open_existing(&into).unwrap();
    let all = artlens::ratings::ratings_of(&m, &artlens::ratings::Rater::default()).unwrap();
    assert_eq!(all.len(), 2);
    let hash = m.find(&coll.join(work).display().to_string()).unwrap().hash;
    let kept: Vec<f64> = all
        .iter()
        .filter(|(h, _)| *h == hash)
        .map(|(_, r)| *r)
        .collect();
    assert_eq!(kept, vec![9.0]);
}

#[test]
fn the_kubernetes_indexed_job_runs_the_four_shards_and_the_merge() {
    let t = tempfile::tempdir().unwrap();
    let yaml = render("k8s", 4, &t.path().join("jobs.yaml"));
    assert!(yaml.contains("completionMode: Indexed"));
    assert!(yaml.contains("completions: 4"));
    for placeholder in ["@SHARDS@", "@LAST@", "@IMAGE@"] {
        assert!(!yaml.contains(placeholder), "{placeholder} left: {yaml}");
    }
    // A fake `artlens` on PATH that records its arguments, one per line.
    let bin = t.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = t.path().join("calls");
    let fake = bin.join("artlens");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > \"{}/$$\"\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::create_dir_all(&log).unwrap();
    let mut perm = std::fs::metadata(&fake).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&fake, perm).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let jobs: Vec<&str> = yaml.split("\n---\n").collect();
    assert_eq!(jobs.len(), 2);
    let calls = |job: &str, index: Option<u32>| -> Vec<String> {
        let (script, env) = container(job);
        for f in std::fs::read_dir(&log).unwrap() {
            std::fs::remove_file(f.unwrap().path()).unwrap();
        }
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(&script)
            .env("PATH", &path)
            .envs(env.iter().map(|(k, v)| (k, v)));
        if let Some(i) = index {
            cmd.env("JOB_COMPLETION_INDEX", i.to_string());
        }
        let o = run(cmd);
        assert!(o.status.success(), "{script}: {}", stderr(&o));
        let files: Vec<_> = std::fs::read_dir(&log).unwrap().collect();
        assert_eq!(files.len(), 1, "one artlens call");
        std::fs::read_to_string(files[0].as_ref().unwrap().path())
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    };
    let mut shards = BTreeSet::new();
    let mut stores = BTreeSet::new();
    for i in 0..4 {
        let args = calls(jobs[0], Some(i));
        assert_eq!(args[0], "index");
        assert_eq!(args[1], "/shared/collection");
        let at = |flag: &str| args[args.iter().position(|a| a == flag).unwrap() + 1].clone();
        shards.insert(at("--shard"));
        stores.insert(at("--store"));
        // What the container runs must be what artlens accepts.
        let shard: artlens::shard::Shard = at("--shard").parse().unwrap();
        assert_eq!(shard.index, i);
    }
    let expect: BTreeSet<String> = (0..4).map(|i| format!("{i}/4")).collect();
    assert_eq!(shards, expect);
    assert_eq!(stores.len(), 4, "each shard has its own store: {stores:?}");
    let merge_args = calls(jobs[1], None);
    assert_eq!(merge_args[0], "merge");
    let sources: BTreeSet<String> = merge_args[1..5].iter().cloned().collect();
    assert_eq!(
        sources, stores,
        "the merge job merges exactly the shard stores"
    );
    assert_eq!(merge_args[5], "--into");
}

/// The shell command (the `args` item after `sh -c`) and the `env` of the
/// first container of one Job in the rendered manifest.
fn container(job: &str) -> (String, Vec<(String, String)>) {
    let lines: Vec<&str> = job.lines().collect();
    let args_at = lines.iter().position(|l| l.trim() == "args:").unwrap();
    let script = lines[args_at + 1]
        .trim()
        .trim_start_matches("- ")
        .to_string();
    let mut env = Vec::new();
    let env_at = lines.iter().position(|l| l.trim() == "env:").unwrap();
    let mut i = env_at + 1;
    while let Some(name) = lines.get(i).and_then(|l| l.trim().strip_prefix("- name: ")) {
        let value = lines[i + 1].trim().strip_prefix("value: ").unwrap();
        env.push((name.to_string(), value.trim_matches('"').to_string()));
        i += 2;
    }
    (script, env)
}

#[test]
fn what_cannot_be_sharded_or_merged_is_refused_with_the_reason() {
    let t = tempfile::tempdir().unwrap();
    let coll = t.path().join("collection");
    collection(&coll);
    for bad in ["4/4", "0/0", "x/4", "1", "-1/4"] {
        let store = t.path().join(format!("bad-{}", bad.replace('/', "_")));
        let o = run(artlens()
            .arg("index")
            .arg(&coll)
            .args(["--backbones", "dino", "--shard", bad, "--store"])
            .arg(&store)
            .args(&weights_args()[..2]));
        assert_eq!(o.status.code(), Some(2), "--shard {bad}: {}", stderr(&o));
        assert!(stderr(&o).contains("--shard"), "{}", stderr(&o));
        assert!(
            !store.exists(),
            "a refused index created {}",
            store.display()
        );
    }
    let shard = t.path().join("shard1");
    index(&coll, &shard, &["--backbones", "dino", "--shard", "1/4"]);
    for other in [&["--shard", "2/4"][..], &[][..]] {
        let o = run(artlens()
            .arg("index")
            .arg(&coll)
            .args(["--backbones", "dino", "--store"])
            .arg(&shard)
            .args(other)
            .args(&weights_args()[..2]));
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains("holds shard 1/4"), "{}", stderr(&o));
    }
    let whole = t.path().join("whole");
    index(&coll, &whole, &["--backbones", "dino"]);
    let o = run(artlens()
        .arg("index")
        .arg(&coll)
        .args(["--backbones", "dino", "--shard", "0/2", "--store"])
        .arg(&whole)
        .args(&weights_args()[..2]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("whole collection"), "{}", stderr(&o));

    // Into itself.
    let o = merge(&[&shard, &whole], &whole);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("into itself"), "{}", stderr(&o));
    // Into a shard store.
    let o = merge(&[&whole], &shard);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("shard"), "{}", stderr(&o));
    // No backbone in common: nothing is created.
    let only_v2 = t.path().join("only-v2");
    index(&coll, &only_v2, &["--backbones", "dinov2"]);
    let into = t.path().join("never");
    let o = merge(&[&whole, &only_v2], &into);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no backbone in common"),
        "{}",
        stderr(&o)
    );
    assert!(!into.exists(), "a refused merge created its target");
    // The same backbone from other weights bytes: the differing fingerprint is named.
    let other_weights = t.path().join("other-weights");
    let o = run(artlens()
        .arg("index")
        .arg(&coll)
        .args(["--backbones", "dino", "--store"])
        .arg(&other_weights)
        .arg("--weights")
        .arg(format!(
            "dino={}",
            fixtures().join("dino_tiny_bin").display()
        )));
    assert!(o.status.success(), "{}", stderr(&o));
    let o = merge(&[&whole, &other_weights], &into);
    assert_eq!(o.status.code(), Some(2));
    let msg = stderr(&o);
    assert!(
        msg.contains("dino") && msg.contains("other settings"),
        "{msg}"
    );
    assert!(!into.exists());
    // A folder of someone's files is not turned into a store.
    let papers = t.path().join("papers");
    std::fs::create_dir_all(&papers).unwrap();
    std::fs::write(papers.join("draft.txt"), "mine").unwrap();
    let o = merge(&[&whole], &papers);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no artlens store"), "{}", stderr(&o));
    assert_eq!(std::fs::read_dir(&papers).unwrap().count(), 1);
    // The shard store says what it is.
    let o = run(artlens().args(["status", "--json", "--store"]).arg(&shard));
    let status: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(status["shard"]["index"], 1);
    // A store in use by another process.
    let held = Store::open_existing(&whole).unwrap();
    let o = merge(&[&whole], &t.path().join("elsewhere"));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("in use"), "{}", stderr(&o));
    drop(held);

    // Parquet into a folder of someone's files keeps them (issue 26); over
    // an older export it replaces it.
    let out = t.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let export = |extra: &[&str]| {
        run(artlens()
            .args(["export", "--format", "parquet", "--store"])
            .arg(&whole)
            .args(extra)
            .arg(&out))
    };
    let o = export(&["--row-group-rows", "7"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(out.join("notes.txt")).unwrap(),
        "mine"
    );
    std::fs::remove_file(out.join("notes.txt")).unwrap();
    let o = export(&["--row-group-rows", "7"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = export(&["--row-group-rows", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("replaced the older export"),
        "{}",
        stderr(&o)
    );
    check_parquet(&whole, &out, 3);
    let leftovers: Vec<String> = std::fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("artlens-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // npy and csv still write one backbone, named.
    let o = run(artlens()
        .args(["export", "--format", "npy", "--store"])
        .arg(&whole)
        .arg(t.path().join("npy")));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--backbone"), "{}", stderr(&o));
}

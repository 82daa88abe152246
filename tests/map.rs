//! `artlens map` on the real binary: the JSON per backbone and work, the
//! layout kept in the store until the works change (its revision says
//! whether it was made again), the HTML page, and the refusal of a
//! collection too small to map.

use crate::common;

use common::server::Env;
use common::{run, stderr, stdout};

fn map_json(env: &Env) -> serde_json::Value {
    let o = run(env.cmd(&["map", "--json"]));
    assert!(o.status.success(), "map --json: {}", stderr(&o));
    serde_json::from_str(stdout(&o).trim()).expect("map --json prints one JSON object")
}

fn revisions(v: &serde_json::Value) -> Vec<(u64, bool)> {
    v["panels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["revision"].as_u64().unwrap(),
                p["computed"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
fn map_json_places_every_work_per_backbone_with_its_rating_and_prediction() {
    let env = Env::new(true);
    let v = map_json(&env);
    let panels = v["panels"].as_array().unwrap();
    assert_eq!(panels.len(), 2, "one panel per stored backbone: {v}");
    for p in panels {
        let points = p["points"].as_array().unwrap();
        assert_eq!(points.len(), 24, "{}", p["backbone"]["id"]);
        let mut ids: Vec<u64> = points.iter().map(|q| q["id"].as_u64().unwrap()).collect();
        ids.dedup();
        assert_eq!(ids, (1..=24).collect::<Vec<u64>>());
        for q in points {
            for axis in ["x", "y"] {
                let c = q[axis].as_f64().unwrap();
                assert!((-1.0..=1.0).contains(&c), "{axis} {c}");
            }
            assert!(q["rating"].as_f64().is_some(), "every work is rated: {q}");
            assert!(
                q["predicted"].as_f64().is_some(),
                "every backbone has a head: {q}"
            );
        }
        let t = p["trustworthiness"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&t), "trustworthiness {t}");
    }
    // The works carry their names, and the keys offered for colour are
    // the metadata keys with a few values.
    assert_eq!(v["works"].as_array().unwrap().len(), 24);
    // The ratings are the ones in the store, work by work.
    let o = run(env.cmd(&["rate", "list", "--json"]));
    assert!(o.status.success(), "rate list: {}", stderr(&o));
    let listed: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    for r in listed.as_array().unwrap() {
        let id = r["id"].as_u64().unwrap();
        for p in panels {
            let q = p["points"]
                .as_array()
                .unwrap()
                .iter()
                .find(|q| q["id"].as_u64() == Some(id))
                .unwrap();
            assert_eq!(q["rating"], r["rating"], "work {id}");
        }
    }
}

#[test]
fn the_map_is_kept_in_the_store_and_made_again_when_the_works_change() {
    let env = Env::new(false);
    let first = map_json(&env);
    assert_eq!(revisions(&first), vec![(1, true), (1, true)]);
    // Asked again: read from the store, the same places.
    let again = map_json(&env);
    assert_eq!(revisions(&again), vec![(1, false), (1, false)]);
    for (a, b) in first["panels"]
        .as_array()
        .unwrap()
        .iter()
        .zip(again["panels"].as_array().unwrap())
    {
        assert_eq!(a["points"], b["points"]);
        assert_eq!(a["trustworthiness"], b["trustworthiness"]);
    }
    // Two more works: every map is made again, one revision up.
    for i in 0..2u8 {
        let img = image::RgbImage::from_fn(60, 50, |x, y| {
            image::Rgb([x as u8 * 4, y as u8 * 5, 90 + i * 60])
        });
        img.save(env.collection.join(format!("Color_Field/new-{i}.png")))
            .unwrap();
    }
    let o = run(env.cmd(&["index", "--quiet"]).arg(&env.collection));
    assert!(o.status.success(), "index: {}", stderr(&o));
    let changed = map_json(&env);
    assert_eq!(revisions(&changed), vec![(2, true), (2, true)]);
    assert_eq!(changed["panels"][0]["points"].as_array().unwrap().len(), 26);
    assert_eq!(revisions(&map_json(&env)), vec![(2, false), (2, false)]);
}

#[test]
fn map_html_draws_a_panel_per_backbone_and_runs_no_script() {
    let env = Env::new(false);
    let html = env.tmp.path().join("map.html");
    let o = run(env
        .cmd(&["map", "--backbones", "dino"])
        .arg("--html")
        .arg(&html));
    assert!(o.status.success(), "map --html: {}", stderr(&o));
    let page = std::fs::read_to_string(&html).unwrap();
    assert_eq!(page.matches("<figure class=\"map-panel\"").count(), 1);
    assert_eq!(page.matches("class=\"pt\"").count(), 24);
    assert!(!page.contains("<script"), "a report runs no script");
    assert!(page.contains("default-src 'none'"));
    assert!(
        stderr(&o).contains("trustworthiness at k = 10"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn too_few_works_say_why_there_is_nothing_to_draw() {
    let tmp = tempfile::tempdir().unwrap();
    let env = Env {
        collection: tmp.path().join("collection"),
        tmp,
        ratings: Vec::new(),
    };
    std::fs::create_dir_all(&env.collection).unwrap();
    for i in 0..3u8 {
        let img = image::RgbImage::from_fn(40, 40, |x, _| image::Rgb([x as u8 * 6, i * 80, 50]));
        img.save(env.collection.join(format!("w{i}.png"))).unwrap();
    }
    let o = run(env.cmd(&["index", "--quiet"]).arg(&env.collection));
    assert!(o.status.success(), "index: {}", stderr(&o));
    let o = run(env.cmd(&["map", "--json"]));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("has 3 works") && err.contains("at least 5"),
        "{err}"
    );
    assert!(err.contains("nothing to draw"), "{err}");
    assert!(stdout(&o).is_empty());
}

#[test]
fn the_server_answers_the_same_map_and_says_why_a_small_one_is_not_drawn() {
    let env = Env::new(false);
    let direct = map_json(&env);
    let s = env.serve(&[]);
    let r = s.get("/api/map?backbone=dino");
    assert_eq!(r.status, 200, "{}", r.text());
    let served = r.json();
    assert_eq!(served["panels"].as_array().unwrap().len(), 1);
    assert_eq!(served["panels"][0]["points"], direct["panels"][0]["points"]);
    // The command line, while the server holds the store, asks it.
    let o = run(env.cmd(&["map", "--json", "--backbones", "dino"]));
    assert!(o.status.success(), "map through the server: {}", stderr(&o));
    let remote: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(remote["panels"][0]["points"], direct["panels"][0]["points"]);
    let page = s.get("/map");
    assert_eq!(page.status, 200);
    assert_eq!(page.text().matches("class=\"pt\"").count(), 48);
    assert_eq!(s.get("/api/map?backbone=nonesuch").status, 400);
    drop(s);

    let tmp = tempfile::tempdir().unwrap();
    let small = Env {
        collection: tmp.path().join("collection"),
        tmp,
        ratings: Vec::new(),
    };
    std::fs::create_dir_all(&small.collection).unwrap();
    for i in 0..2u8 {
        let img = image::RgbImage::from_fn(40, 40, |x, _| image::Rgb([x as u8 * 6, i * 80, 50]));
        img.save(small.collection.join(format!("w{i}.png")))
            .unwrap();
    }
    let o = run(small.cmd(&["index", "--quiet"]).arg(&small.collection));
    assert!(o.status.success(), "index: {}", stderr(&o));
    let s = small.serve(&[]);
    let r = s.get("/api/map");
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(r.error().contains("nothing to draw"), "{}", r.error());
    let page = s.get("/map");
    assert_eq!(page.status, 200);
    assert!(page.text().contains("nothing to draw"), "{}", page.text());
}

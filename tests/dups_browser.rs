//! The Duplicates page in a real browser, at desktop width with the mouse
//! and at phone width with a finger: a found copy is marked, unmarked, and
//! another member kept as the representative, each visible on the page and
//! in the API afterwards.

use crate::common;

use common::cdp::Browser;
use common::server::Env;
use image::{imageops, Rgb, RgbImage};

/// Where screenshots go: kept after the run so a person can look.
fn shot(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-screens");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{name}.png"))
}

/// A picture with structure, unlike the collection's flat studies.
fn painting(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
        let mut v = [
            120.0 + 80.0 * (fx * 7.0).sin(),
            100.0 + 90.0 * (fy * 5.0 + 1.0).cos(),
            90.0 + 60.0 * ((fx + fy) * 4.0).sin(),
        ];
        if (fx - 0.3).powi(2) + (fy - 0.6).powi(2) < 0.02 {
            v = [230.0, 60.0, 30.0];
        }
        Rgb([v[0] as u8, v[1] as u8, v[2] as u8])
    })
}

/// The id of the work whose first path ends with `name`.
fn id_of(works: &serde_json::Value, name: &str) -> u64 {
    works
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["path"].as_str().unwrap().ends_with(name))
        .unwrap_or_else(|| panic!("no work {name}"))["id"]
        .as_u64()
        .unwrap()
}

fn role(b: &mut Browser, id: u64) -> String {
    b.eval(&format!(
        "(() => {{ const f = document.querySelector(\"figure.dup[data-id='{id}']\"); return f ? f.dataset.role : ''; }})()"
    ))
    .as_str()
    .unwrap_or("")
    .to_string()
}

fn wait_role(b: &mut Browser, id: u64, want: &str) {
    b.wait_for(
        &format!(
            "document.body.dataset.ready === 'true' && (() => {{ const f = document.querySelector(\"figure.dup[data-id='{id}']\"); return f && f.dataset.role === '{want}'; }})()"
        ),
        &format!("work {id} shown as {want}"),
    );
}

#[test]
fn the_duplicates_page_marks_unmarks_and_keeps_by_mouse_and_touch() {
    let env = Env::with_collection(false, |dir| {
        let copies = dir.join("Copies");
        std::fs::create_dir_all(&copies).unwrap();
        let orig = painting(200, 150);
        orig.save(copies.join("original.png")).unwrap();
        imageops::crop_imm(&orig, 20, 15, 160, 120)
            .to_image()
            .save(copies.join("crop.png"))
            .unwrap();
        imageops::resize(&orig, 100, 75, imageops::FilterType::Triangle)
            .save(copies.join("small.png"))
            .unwrap();
    });
    let s = env.serve(&[]);
    let works = s.get("/api/works").json();
    let (orig, crop, small) = (
        id_of(&works, "original.png"),
        id_of(&works, "crop.png"),
        id_of(&works, "small.png"),
    );

    // Desktop, with the mouse: mark the crop a copy of the original.
    let mut b = Browser::launch();
    b.goto(&format!("{}dups", s.url));
    b.wait_for(
        "document.body.dataset.ready === 'true'",
        "the Duplicates page",
    );
    assert_eq!(role(&mut b, orig), "representative");
    assert_eq!(role(&mut b, crop), "found");
    // Thumbnails load lazily: the group's own, once scrolled to.
    b.eval(&format!(
        "document.querySelector(\"section[data-representative='{orig}']\").scrollIntoView(); true"
    ));
    b.wait_for(
        &format!("Array.from(document.querySelectorAll(\"section[data-representative='{orig}'] img\")).every(i => i.complete && i.naturalWidth > 0)"),
        "the group's thumbnails to load",
    );
    b.mouse_click(&format!(
        "figure.dup[data-id='{crop}'] button[data-dups='mark']"
    ));
    wait_role(&mut b, crop, "marked");
    b.screenshot(&shot("dups-desktop"));
    let view = s.get("/api/dups").json();
    let group = view["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["representative"] == orig)
        .expect("the original's group");
    assert_eq!(group["chosen"], true);
    drop(b);

    // A phone, with a finger: unmark it, then keep the small copy.
    let mut b = Browser::launch();
    b.phone(400, 860);
    b.goto(&format!("{}dups", s.url));
    b.wait_for(
        "document.body.dataset.ready === 'true'",
        "the Duplicates page",
    );
    assert_eq!(
        b.eval("document.documentElement.scrollWidth <= window.innerWidth"),
        true,
        "no sideways scrolling at 400 px"
    );
    b.tap(&format!(
        "figure.dup[data-id='{crop}'] button[data-dups='unmark']"
    ));
    wait_role(&mut b, crop, "found");
    b.tap(&format!(
        "figure.dup[data-id='{small}'] button[data-dups='keep']"
    ));
    wait_role(&mut b, small, "representative");
    assert_eq!(role(&mut b, crop), "marked");
    assert_eq!(role(&mut b, orig), "marked");
    b.eval(&format!(
        "document.querySelector(\"figure.dup[data-id='{small}']\").scrollIntoView(); true"
    ));
    b.screenshot(&shot("dups-phone"));
    let view = s.get("/api/dups").json();
    assert!(
        view["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["representative"] == small && g["chosen"] == true),
        "{view}"
    );
    // Bad requests are 4xx with a message.
    let r = s.get("/api/dups?threshold=2");
    assert_eq!(r.status, 400, "{}", r.text());
    let r = s.json(
        "POST",
        "/api/dups/mark",
        &serde_json::json!({"copy": crop, "of": crop}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.error().contains("copy of itself"), "{}", r.error());
}

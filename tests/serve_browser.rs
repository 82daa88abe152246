//! The web app in a real browser: `artlens serve` started on an ephemeral
//! port, headless Chromium driven through the DevTools protocol
//! (`common::cdp`). A person rates with the keyboard and finds the ratings
//! with `artlens rate list` after the server stopped; records a pairwise
//! preference; uploads an image and sees both backbones' references; opens
//! the comparison with its chart and retrains; and a hostile title stays
//! text.

use crate::common;

use common::cdp::Browser;
use common::server::Env;
use common::{image_path, run, stderr, stdout};

fn cli_json(env: &Env, args: &[&str]) -> serde_json::Value {
    let o = run(env.cmd(args));
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    serde_json::from_str(stdout(&o).trim()).unwrap()
}

/// Where screenshots go: kept after the run so a person can look.
fn shot(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-screens");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{name}.png"))
}

fn current_id(b: &mut Browser) -> String {
    b.eval("document.querySelector('#rater').dataset.id || ''")
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// Presses `key` and waits until the rate page shows work `next`.
fn press_then(b: &mut Browser, key: &str, next: u64) {
    b.press(key);
    b.wait_for(
        &format!("document.querySelector('#rater').dataset.id === '{next}'"),
        &format!("work {next} after pressing {key}"),
    );
}

#[test]
fn ratings_made_with_the_keyboard_are_in_the_store_after_the_server_stops() {
    let env = Env::new(false);
    let s = env.serve(&[]);
    let mut b = Browser::launch();
    // Every work in the order of indexing (the default walks the suggested
    // unrated ones).
    b.goto(&format!("{}rate?sort=id&rated=all", s.url));
    b.wait_for(
        "document.querySelector('#rater').dataset.id === '1'",
        "the first work",
    );
    assert_eq!(current_id(&mut b), "1");
    // The large image is the work's own, and it loaded.
    b.wait_for(
        "document.querySelector('#current img').complete && document.querySelector('#current img').naturalWidth > 0",
        "the image of work 1",
    );
    press_then(&mut b, "7", 2); // work 1 → 7, moves on
    press_then(&mut b, "3", 3); // work 2 → 3
    press_then(&mut b, "ArrowRight", 4); // skip work 3
    press_then(&mut b, "0", 5); // work 4 → 10
    press_then(&mut b, "9", 6); // work 5 → 9 ...
    press_then(&mut b, "u", 5); // ... undone: back to work 5, unrated again
    press_then(&mut b, "ArrowLeft", 4);
    b.screenshot(&shot("rate"));
    drop(b);
    assert!(s.interrupt().success());

    let list = cli_json(&env, &["rate", "list", "--json"]);
    let mut got: Vec<(u64, f64)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_u64().unwrap(), r["rating"].as_f64().unwrap()))
        .collect();
    got.sort_by_key(|r| r.0);
    assert_eq!(got, vec![(1, 7.0), (2, 3.0), (4, 10.0)], "{list}");
}

#[test]
fn a_pairwise_choice_is_recorded_as_a_preference() {
    let env = Env::new(false);
    let s = env.serve(&[]);
    let mut b = Browser::launch();
    b.goto(&format!("{}rate?mode=pair", s.url));
    b.wait_for(
        "document.querySelector('#left').dataset.id && document.querySelector('#right').dataset.id",
        "a pair of works",
    );
    let left: u64 = b
        .eval("Number(document.querySelector('#left').dataset.id)")
        .as_u64()
        .unwrap();
    let right: u64 = b
        .eval("Number(document.querySelector('#right').dataset.id)")
        .as_u64()
        .unwrap();
    assert_ne!(left, right);
    b.press("ArrowLeft");
    b.wait_for(
        "document.querySelector('#pair-status').textContent.startsWith('1 choice recorded')",
        "the preference to be recorded",
    );
    drop(b);
    assert!(s.interrupt().success());
    let st = cli_json(&env, &["status", "--json"]);
    assert_eq!(st["raters"][0]["preferences"], 1, "{st}");
    // The left one won: storing the same choice again is a repeat, the
    // opposite one a contradiction.
    let o = run(env.cmd(&["rate", "prefer", &left.to_string(), &right.to_string()]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("(again)"), "{}", stderr(&o));
}

#[test]
fn an_uploaded_image_shows_each_backbones_score_and_references() {
    let env = Env::new(true);
    let s = env.serve(&[]);
    let mut b = Browser::launch();
    b.goto(&format!("{}score", s.url));
    let img = image_path("landscape");
    b.set_files("#score-file", &[img.as_path()]);
    b.wait_for(
        "document.querySelectorAll('#score-result .model').length === 2",
        "both backbones' scores",
    );
    let models = b.eval(
        "Array.from(document.querySelectorAll('#score-result .model')).map(m => ({
            backbone: m.dataset.backbone,
            score: Number(m.querySelector('dd.score').textContent),
            refs: m.querySelectorAll('.refs li').length,
            thumbs: Array.from(m.querySelectorAll('.refs img')).every(i => i.getAttribute('src').startsWith('/api/works/'))
        }))",
    );
    let models = models.as_array().unwrap();
    let names: Vec<&str> = models
        .iter()
        .map(|m| m["backbone"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dino", "dinov2"]);
    for m in models {
        assert!(m["score"].as_f64().unwrap().is_finite(), "{m}");
        assert_eq!(m["refs"], 5, "{m}");
        assert_eq!(m["thumbs"], true, "{m}");
    }
    b.wait_for(
        "Array.from(document.querySelectorAll('#score-result img')).every(i => i.complete && i.naturalWidth > 0)",
        "the reference thumbnails to load",
    );
    b.screenshot(&shot("score"));
    // A file that is not an image says so, by its name.
    let bad = env.tmp.path().join("notes.png");
    std::fs::write(&bad, b"not an image").unwrap();
    b.set_files("#score-file", &[bad.as_path()]);
    b.wait_for(
        "document.querySelector('#score-status').textContent.includes('notes.png') && !document.querySelector('#score-status').textContent.startsWith('Scoring')",
        "the upload's error",
    );
}

#[test]
fn the_compare_page_shows_the_verdict_and_chart_and_retrains() {
    let env = Env::new(true);
    let s = env.serve(&[]);
    let mut b = Browser::launch();
    b.goto(&format!("{}compare", s.url));
    b.wait_for("document.body.dataset.ready === 'true'", "the answer page");
    // The answer first, in words; the statistics behind it one click away.
    let verdict = b.eval("document.querySelector('#verdict').textContent");
    assert!(!verdict.as_str().unwrap().is_empty(), "{verdict}");
    b.click("#detail summary");
    b.wait_for(
        "(() => { const d = document.querySelector('#report').contentDocument; return d && d.querySelectorAll('svg').length > 0; })()",
        "the report's chart",
    );
    let text = b.eval("document.querySelector('#report').contentDocument.body.innerText");
    assert!(text.as_str().unwrap().contains("95% sure"), "{text}");
    for raw in ["pairwise_accuracy", "(mae)"] {
        assert!(
            !text.as_str().unwrap().contains(raw),
            "the report says `{raw}`"
        );
    }
    b.screenshot(&shot("compare"));
    b.click("#retrain");
    b.wait_for(
        "document.querySelector('#train-status').textContent.startsWith('Trained')",
        "the retraining",
    );
    b.wait_for(
        "(() => { const d = document.querySelector('#report').contentDocument; return d && d.querySelectorAll('svg').length > 0; })()",
        "the report after retraining",
    );
}

#[test]
fn a_hostile_title_renders_as_text() {
    let hostile = "<script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\">";
    let env = Env::with_collection(false, |dir| {
        let mut csv = String::from("path,title\n");
        csv.push_str(&format!(
            "Color_Field/ada-quill_work-00.png,\"{}\"\n",
            hostile.replace('"', "\"\"")
        ));
        std::fs::write(dir.join("metadata.csv"), csv).unwrap();
    });
    let s = env.serve(&[]);
    let mut b = Browser::launch();
    b.goto(&s.url);
    b.wait_for("document.body.dataset.ready === 'true'", "the gallery");
    let found = b.eval(&format!(
        "Array.from(document.querySelectorAll('.card .title')).some(t => t.textContent.endsWith(' ' + {}))",
        serde_json::to_string(hostile).unwrap()
    ));
    assert_eq!(found, true, "the title is shown as text");
    assert_eq!(b.eval("document.querySelectorAll('script').length"), 1);
    assert_eq!(b.eval("typeof window.__pwned"), "undefined");
    // The gallery's keyboard: arrows move the focus through the cards.
    b.press("ArrowRight");
    b.press("ArrowRight");
    assert_eq!(b.eval("document.activeElement.dataset.id"), "2");
    b.press("Enter");
    b.wait_for("document.body.dataset.page === 'work'", "the work page");
    // The hostile work's own page.
    let id = b.eval(&format!(
        "fetch('/api/works').then(r => r.json()).then(ws => ws.find(w => w.metadata.title === {}).id)",
        serde_json::to_string(hostile).unwrap()
    ));
    b.goto(&format!("{}works/{}", s.url, id));
    b.wait_for("document.body.dataset.ready === 'true'", "the work page");
    assert_eq!(
        b.eval("document.querySelector('h1').textContent"),
        format!("#{id} {hostile}")
    );
    assert_eq!(b.eval("document.querySelectorAll('script').length"), 1);
    assert_eq!(b.eval("typeof window.__pwned"), "undefined");
    b.screenshot(&shot("hostile-work"));
}

#[test]
fn the_index_page_shows_live_progress_until_done() {
    let env = Env::new(false);
    let more = env.collection.join("More");
    std::fs::create_dir_all(&more).unwrap();
    for i in 0..4u8 {
        image::RgbImage::from_fn(48, 40, |x, y| {
            image::Rgb([x as u8 * 5, i * 60, y as u8 * 6])
        })
        .save(more.join(format!("fresh-{i}.png")))
        .unwrap();
    }
    std::fs::write(more.join("broken.png"), b"not a png").unwrap();
    let s = env.serve(&[]);
    let mut b = Browser::launch();
    b.goto(&format!("{}index", s.url));
    b.eval(&format!(
        "document.querySelector('#index-dir').value = {}; document.querySelector('#index-form').requestSubmit(); true",
        serde_json::to_string(&more.display().to_string()).unwrap()
    ));
    b.wait_for(
        "document.body.dataset.job === 'done'",
        "the index job to finish",
    );
    let counts = b.eval("document.querySelector('#job-counts').textContent");
    assert!(counts.as_str().unwrap().contains("1 failed"), "{counts}");
    let failures = b.eval("document.querySelector('#job-failures').textContent");
    assert!(
        failures.as_str().unwrap().contains("broken.png"),
        "{failures}"
    );
    b.screenshot(&shot("index"));
    b.goto(&s.url);
    b.wait_for("document.body.dataset.ready === 'true'", "the gallery");
    let count = b.eval("document.querySelector('#count').textContent");
    assert!(count.as_str().unwrap().contains("of 28 works."), "{count}");
}

#[test]
fn the_work_page_rates_with_keys_and_explains_the_score() {
    let env = Env::new(true);
    let s = env.serve(&[]);
    let mut b = Browser::launch();
    b.goto(&format!("{}works/3", s.url));
    b.wait_for("document.body.dataset.ready === 'true'", "the work page");
    // Neighbours side by side, one column per backbone.
    assert_eq!(
        b.eval("document.querySelectorAll('.neighbours .column').length"),
        2
    );
    // The score explained: references and the ridge head's contributions.
    assert_eq!(
        b.eval("document.querySelectorAll('#explain .model').length"),
        2
    );
    assert_eq!(
        b.eval("document.querySelectorAll('#explain .model .refs li').length"),
        10
    );
    // The score as a weighted vote of the ratings, in sentences.
    let rows = b.eval("document.querySelectorAll('#explain ol.vote li').length");
    assert!(rows.as_u64().unwrap() >= 4, "{rows}");
    let before = b.eval("document.querySelector('#rating-box').dataset.rating");
    b.press("8");
    b.wait_for(
        "document.querySelector('#rating-now').textContent === 'Your rating: 8'",
        "the rating 8",
    );
    assert_eq!(s.get("/api/works/3").json()["rating"], 8.0);
    b.press("u");
    b.wait_for(
        &format!(
            "document.querySelector('#rating-box').dataset.rating === {}",
            serde_json::to_string(before.as_str().unwrap()).unwrap()
        ),
        "the undo",
    );
    let restored = s.get("/api/works/3").json()["rating"].as_f64().unwrap();
    assert_eq!(restored.to_string(), before.as_str().unwrap());
    b.press("Delete");
    b.wait_for(
        "document.querySelector('#rating-now').textContent === 'Not rated yet'",
        "the removal",
    );
    assert!(s.get("/api/works/3").json()["rating"].is_null());
    // The patch maps of `explain --html`, framed under the report's policy.
    b.eval("document.querySelector('#maps').scrollIntoView(); true");
    b.wait_for(
        "(() => { const d = document.querySelector('#maps').contentDocument; return d && d.querySelectorAll('img').length >= 4 && d.body.innerText.includes('dinov2'); })()",
        "the patch maps of both backbones",
    );
    b.screenshot(&shot("work"));
}

/// How the simulated person touches the page.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Hand {
    /// A 400 px phone: taps and swipes, no mouse, no keys.
    Finger,
    /// A desktop window: the mouse only, no keys.
    Mouse,
}

fn touch(b: &mut Browser, hand: Hand, selector: &str) {
    match hand {
        Hand::Finger => b.tap(selector),
        Hand::Mouse => b.mouse_click(selector),
    }
}

/// Where the screenshots for the docs go (the README shows them).
fn doc_shot(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/doc-screens");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{name}.png"))
}

const PHONE_WIDTH: u32 = 400;

/// On a phone, nothing on the page is wider than the screen (a wider page
/// scrolls sideways and shrinks everything on it).
fn fits(b: &mut Browser, hand: Hand) {
    if hand == Hand::Finger {
        // A mobile browser widens the layout to fit what overflows, so the
        // page is measured against the phone's own width.
        let w = b.eval("document.documentElement.scrollWidth");
        assert!(
            w.as_u64().unwrap() <= PHONE_WIDTH as u64,
            "the page is {w} px wide on a {PHONE_WIDTH} px phone ({})",
            b.eval("location.pathname")
        );
    }
}

/// The ten minutes of a new user, played by a test: `artlens serve DIR` on
/// an empty store, the folder indexed from the first page, the suggested
/// works rated until the answer appears, the answer opened, a work and its
/// explanation opened, one rating and one preference undone, the gallery
/// narrowed by a facet. Every step is asserted; every number the answer
/// shows is checked against the API.
fn ten_minutes(hand: Hand) {
    let started = std::time::Instant::now();
    let env = Env::bare();
    let s = env.serve(&[env.collection.to_str().unwrap()]);
    let mut b = Browser::launch();
    if hand == Hand::Finger {
        b.phone(PHONE_WIDTH, 800);
    }
    let tag = match hand {
        Hand::Finger => "phone",
        Hand::Mouse => "desktop",
    };

    // 1. The first page offers the folder (and the CSV beside it).
    b.goto(&s.url);
    b.wait_for("document.body.dataset.ready === 'true'", "the first page");
    assert_eq!(b.eval("!!document.querySelector('.welcome')"), true);
    let offered = b.eval("document.querySelector('#index-dir').value");
    assert_eq!(
        offered.as_str().unwrap(),
        std::fs::canonicalize(&env.collection)
            .unwrap()
            .to_str()
            .unwrap()
    );
    let csv = b.eval("document.querySelector('#index-metadata').value");
    assert!(csv.as_str().unwrap().ends_with("metadata.csv"), "{csv}");
    b.screenshot(&shot(&format!("first-run-{tag}")));
    fits(&mut b, hand);
    touch(&mut b, hand, "#index-form button[type=submit]");
    b.wait_for("document.body.dataset.job === 'done'", "the index job");
    let index_job = s.get("/api/jobs").json();
    assert_eq!(index_job["failed"], 0, "{index_job}");
    // Leaving and coming back finds the job again.
    b.goto(&format!("{}index", s.url));
    b.wait_for(
        "document.body.dataset.job === 'done' || document.querySelector('#job').hidden",
        "the index page",
    );

    // 2. Rate the suggested works, as a person whose taste is the
    // collection's planted one, until the answer appears.
    b.goto(&format!("{}rate", s.url));
    b.wait_for("document.querySelector('#rater').dataset.id !== undefined && document.querySelector('#rater').dataset.id !== ''", "the first suggested work");
    let taste: std::collections::HashMap<String, f64> = env
        .ratings
        .iter()
        .map(|(p, r)| (p.rsplit('/').next().unwrap().to_string(), *r))
        .collect();
    let mut rated = 0;
    let mut skipped = false;
    let mut undone = false;
    while b.eval("!!document.querySelector('#verdict')") != true {
        assert!(rated < 24, "no answer after {rated} ratings");
        let id = current_id(&mut b);
        assert!(
            !id.is_empty(),
            "the rate page ran out of works after {rated}"
        );
        if !skipped && rated == 3 {
            // Skip one: a swipe on the phone, the button on the desktop.
            match hand {
                Hand::Finger => b.swipe("#current", -160.0),
                Hand::Mouse => b.mouse_click("#rate-skip"),
            }
            b.wait_for(
                &format!("document.querySelector('#rater').dataset.id !== '{id}'"),
                "the skip",
            );
            skipped = true;
            continue;
        }
        let work = s.get(&format!("/api/works/{id}")).json();
        let file = work["paths"][0]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        let want = taste[&file];
        // The button nearest the person's own rating.
        let button = want.round().clamp(1.0, 10.0) as u32;
        touch(&mut b, hand, &format!("button.rate[data-score='{button}']"));
        b.wait_for(&format!("document.querySelector('#rater').dataset.id !== '{id}' || document.querySelector('#rate-status').textContent.includes('Every work')"), "the next work");
        rated += 1;
        assert_eq!(
            s.get(&format!("/api/works/{id}")).json()["rating"],
            button as f64
        );
        if !undone && rated == 5 {
            // Undo the last rating: the work comes back, unrated.
            touch(&mut b, hand, "#rate-undo");
            b.wait_for(
                &format!("document.querySelector('#rater').dataset.id === '{id}'"),
                "the undone work",
            );
            assert!(s.get(&format!("/api/works/{id}")).json()["rating"].is_null());
            rated -= 1;
            undone = true;
            continue;
        }
        if rated < 20 {
            // The counter follows each rating.
            let want = if rated == 1 {
                "1 work rated".to_string()
            } else {
                format!("{rated} works rated")
            };
            b.wait_for(
                &format!(
                    "document.querySelector('#answer-progress').textContent.startsWith({})",
                    serde_json::to_string(&want).unwrap()
                ),
                "the counter",
            );
            let progress = b.eval("document.querySelector('#answer-progress').textContent");
            assert!(
                progress.as_str().unwrap().contains("first answer at 20"),
                "{progress}"
            );
        } else {
            // The answer arrives by itself, once the retrain has run.
            b.wait_for("!!document.querySelector('#verdict')", "the first answer");
        }
    }
    assert!(rated >= 20, "the answer came after {rated} ratings");
    fits(&mut b, hand);
    b.screenshot(&shot(&format!("rate-{tag}")));
    b.screenshot(&doc_shot(&format!("rate-{tag}")));

    // 3. The answer: the same figures on the page as in the API.
    match hand {
        Hand::Finger => b.goto(&format!("{}compare", s.url)),
        Hand::Mouse => {
            b.mouse_click("a[href='/compare']");
            b.wait_for("document.body.dataset.page === 'compare' && document.body.dataset.ready === 'true'", "the answer page");
        }
    }
    b.wait_for("!!document.querySelector('#verdict')", "the verdict");
    let api = s.get("/api/answer").json();
    let shown = b.eval("Array.from(document.querySelectorAll('#answer .headline')).map(h => [h.dataset.backbone, h.querySelector('.figure').textContent])");
    let shown = shown.as_array().unwrap();
    assert_eq!(shown.len(), api["backbones"].as_array().unwrap().len());
    for (row, b_api) in shown.iter().zip(api["backbones"].as_array().unwrap()) {
        assert_eq!(row[0], b_api["id"]);
        let pct = format!("{:.0}%", b_api["headline"].as_f64().unwrap() * 100.0);
        assert_eq!(row[1].as_str().unwrap(), pct, "{api}");
    }
    let verdict = b.eval("document.querySelector('#verdict').textContent");
    assert_eq!(verdict, api["verdict"]);
    for raw in [
        "pairwise_accuracy",
        " mae",
        "spearman",
        "artlens train",
        "artlens suggest",
        "artlens rate",
        " --",
    ] {
        let page = b.eval("document.querySelector('main').innerText");
        assert!(
            !page.as_str().unwrap().to_lowercase().contains(raw),
            "the answer page says `{raw}`: {page}"
        );
    }
    fits(&mut b, hand);
    b.screenshot(&shot(&format!("answer-{tag}")));
    b.screenshot(&doc_shot(&format!("answer-{tag}")));

    // 4. A work and its explanation.
    b.goto(&s.url);
    b.wait_for("document.body.dataset.ready === 'true'", "the gallery");
    touch(&mut b, hand, "#grid a.card");
    b.wait_for(
        "document.body.dataset.page === 'work' && document.body.dataset.ready === 'true'",
        "a work page",
    );
    assert_eq!(
        b.eval("document.querySelectorAll('#explain .model').length"),
        2
    );
    fits(&mut b, hand);
    b.screenshot(&shot(&format!("work-{tag}")));
    b.screenshot(&doc_shot(&format!("work-{tag}")));

    // 5. A preference, then undone.
    b.goto(&format!("{}rate?mode=pair", s.url));
    b.wait_for(
        "document.querySelector('#left').dataset.id && document.querySelector('#right').dataset.id",
        "a pair",
    );
    touch(&mut b, hand, "#left");
    b.wait_for(
        "document.querySelector('#pair-status').textContent.startsWith('1 choice')",
        "the choice",
    );
    assert_eq!(s.get("/api/status").json()["raters"][0]["preferences"], 1);
    touch(&mut b, hand, "#pair-undo");
    b.wait_for(
        "document.querySelector('#pair-status').textContent.startsWith('0 choices')",
        "the undo",
    );
    assert_eq!(s.get("/api/status").json()["raters"][0]["preferences"], 0);

    // 6. The gallery narrowed by a facet.
    b.goto(&s.url);
    b.wait_for("document.body.dataset.ready === 'true'", "the gallery");
    fits(&mut b, hand);
    b.screenshot(&shot(&format!("gallery-{tag}")));
    touch(
        &mut b,
        hand,
        ".facets a[data-facet='style'][data-value='Minimalism']",
    );
    b.wait_for(
        "document.body.dataset.ready === 'true' && location.search.includes('Minimalism')",
        "the filtered gallery",
    );
    let count = b.eval("document.querySelectorAll('#grid a.card').length");
    assert_eq!(count, 8, "8 Minimalism works");
    b.screenshot(&shot(&format!("facet-{tag}")));
    drop(b);
    assert!(s.interrupt().success());
    eprintln!(
        "ten minutes, {tag}: the whole path took {:.1} s (index job {:.1} s, {rated} ratings)",
        started.elapsed().as_secs_f64(),
        index_job["elapsed_seconds"].as_f64().unwrap_or(0.0)
    );
}

#[test]
fn a_new_user_on_a_phone_gets_an_answer_with_taps_and_swipes() {
    ten_minutes(Hand::Finger);
}

#[test]
fn a_new_user_with_a_mouse_gets_an_answer_without_a_key() {
    ten_minutes(Hand::Mouse);
}

/// "More like these" as a person does it: the page without examples says
/// how to start; two works picked in the gallery give one search whose
/// columns are the API's answer (the same works, the same similarities as
/// text); "not like this" moves the search away from a result; an uploaded
/// image gives its own search. On a phone with taps, and with a mouse.
fn more_like_these(hand: Hand) {
    let env = Env::new(true);
    let s = env.serve(&[]);
    let mut b = Browser::launch();
    if hand == Hand::Finger {
        b.phone(PHONE_WIDTH, 800);
    }
    let tag = match hand {
        Hand::Finger => "phone",
        Hand::Mouse => "desktop",
    };
    b.goto(&format!("{}similar", s.url));
    b.wait_for(
        "!!document.querySelector('#similar-empty')",
        "the empty state",
    );
    fits(&mut b, hand);

    b.goto(&s.url);
    b.wait_for(
        "document.querySelectorAll('label.pick input').length === 24",
        "the pick boxes",
    );
    touch(&mut b, hand, "label.pick input[value='3']");
    touch(&mut b, hand, "label.pick input[value='7']");
    touch(&mut b, hand, "#more-like-button");
    b.wait_for(
        "location.pathname === '/similar' && !!document.querySelector('#similar-results')",
        "the results of two picked works",
    );
    let examples = b.eval(
        "Array.from(document.querySelectorAll('#similar-query .example')).map(e => e.dataset.id)",
    );
    assert_eq!(examples, serde_json::json!(["3", "7"]));
    let columns = |b: &mut Browser| {
        b.eval(
            "Array.from(document.querySelectorAll('#similar-results section.column')).map(c => [c.dataset.backbone, Array.from(c.querySelectorAll('li.hit')).map(h => [Number(h.dataset.id), h.querySelector('.similarity').textContent])])",
        )
    };
    let api = s.get("/api/works/3/similar?also=7&k=12").json();
    let want: Vec<serde_json::Value> = ["dino", "dinov2"]
        .iter()
        .map(|bb| {
            let hits: Vec<serde_json::Value> = api["results"][*bb]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| {
                    serde_json::json!([
                        h["id"],
                        format!(
                            "similarity {}",
                            artlens::plain::similarity(h["similarity"].as_f64().unwrap() as f32)
                        )
                    ])
                })
                .collect();
            serde_json::json!([bb, hits])
        })
        .collect();
    assert_eq!(columns(&mut b), serde_json::Value::Array(want));
    fits(&mut b, hand);
    b.screenshot(&shot(&format!("similar-{tag}")));

    // "Not like this" on dino's first result: it leaves every column.
    let first = api["results"]["dino"][0]["id"].as_u64().unwrap();
    touch(
        &mut b,
        hand,
        "section.column[data-backbone='dino'] li.hit:first-child a.less",
    );
    b.wait_for(
        &format!("!!document.querySelector('#similar-query .not-example[data-id=\"{first}\"]')"),
        "the work moved away from",
    );
    let now = columns(&mut b).to_string();
    assert!(!now.contains(&format!("[{first},")), "{now}");

    // An uploaded image: its own search, named by its file name.
    b.set_files("#similar-file", &[image_path("landscape").as_path()]);
    touch(&mut b, hand, "#similar-upload button");
    b.wait_for(
        "!!document.querySelector('#similar-results') && document.querySelector('#similar-query').textContent.includes('landscape')",
        "the upload's results",
    );
    assert_eq!(
        b.eval("document.querySelectorAll('#similar-results li.hit').length"),
        24
    );
    fits(&mut b, hand);
}

#[test]
fn more_like_these_from_picks_with_taps() {
    more_like_these(Hand::Finger);
}

#[test]
fn more_like_these_from_picks_with_a_mouse() {
    more_like_these(Hand::Mouse);
}

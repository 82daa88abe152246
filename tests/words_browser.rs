//! Search by words and the "your taste in words" panel in a real browser
//! (headless Chromium over the DevTools protocol), on a phone with a finger
//! and on a desktop with a mouse: the gallery's search box leads to the
//! search page, and the answer page carries the panel. On a store whose
//! backbones read no text, both say so and name the backbones that would.

use crate::common;

use common::cdp::Browser;
use common::server::Env;

const PHONE_WIDTH: u32 = 400;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Hand {
    Finger,
    Mouse,
}

fn touch(b: &mut Browser, hand: Hand, selector: &str) {
    match hand {
        Hand::Finger => b.tap(selector),
        Hand::Mouse => b.mouse_click(selector),
    }
}

fn shot(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("words-screens");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{name}.png"))
}

/// On a phone nothing is wider than the screen.
fn fits(b: &mut Browser, hand: Hand) {
    if hand == Hand::Finger {
        let w = b.eval("document.documentElement.scrollWidth");
        assert!(
            w.as_u64().unwrap() <= PHONE_WIDTH as u64,
            "the page is {w} px wide on a {PHONE_WIDTH} px phone ({})",
            b.eval("location.pathname")
        );
    }
}

/// Types `text` into the field `selector` as a person would: focus it by
/// touch or click, then the text arrives as input.
fn type_into(b: &mut Browser, hand: Hand, selector: &str, text: &str) {
    touch(b, hand, selector);
    b.call("Input.insertText", serde_json::json!({ "text": text }));
}

fn without_a_text_tower(hand: Hand) {
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
    b.goto(&s.url);
    b.wait_for("!!document.querySelector('#word-query')", "the search box");
    fits(&mut b, hand);
    type_into(&mut b, hand, "#word-query", "a stormy sea at night");
    touch(&mut b, hand, "#word-search button");
    b.wait_for(
        "location.pathname === '/search' && !!document.querySelector('#search-error')",
        "the search page's answer",
    );
    let said = b.eval("document.querySelector('#search-error').textContent");
    let said = said.as_str().unwrap();
    assert!(
        said.contains("reads text") && said.contains("clip"),
        "{said}"
    );
    // The query stays in the box, to be changed.
    assert_eq!(
        b.eval("document.querySelector('#word-query').value"),
        "a stormy sea at night"
    );
    // The API says the same, with a 409.
    let api = s.get("/api/search?q=a+stormy+sea+at+night");
    assert_eq!(api.status, 409, "{}", api.text());
    fits(&mut b, hand);
    b.screenshot(&shot(&format!("search-no-tower-{tag}")));

    b.goto(&format!("{}compare", s.url));
    b.wait_for(
        "!!document.querySelector('#taste-words')",
        "the taste panel",
    );
    let note = b.eval("document.querySelector('#taste-words-note').textContent");
    let note = note.as_str().unwrap();
    assert!(note.contains("reads text"), "{note}");
    // A page shows the library's message as a sentence (the command line
    // puts it after `error: `, in lower case).
    for text in [said, note] {
        assert!(
            text.starts_with(char::is_uppercase) && text.ends_with('.'),
            "{text}"
        );
    }
    fits(&mut b, hand);
}

#[test]
fn without_a_text_tower_search_and_the_panel_say_why_on_a_phone() {
    without_a_text_tower(Hand::Finger);
}

#[test]
fn without_a_text_tower_search_and_the_panel_say_why_with_a_mouse() {
    without_a_text_tower(Hand::Mouse);
}

/// A rated store (24 works, DINO and DINOv2) to which the tiny random CLIP
/// is added: the search page and the panel with a text tower.
fn with_a_text_tower(hand: Hand) {
    let env = Env::new(true);
    let clip = common::fixtures().join("text").join("clip");
    let o = env
        .cmd(&[
            "index",
            "--quiet",
            "--backbones",
            "clip-b16-hf",
            "--weights",
        ])
        .arg(format!("clip-b16-hf={}", clip.display()))
        .arg(&env.collection)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", common::stderr(&o));
    let s = env.serve(&[]);
    let mut b = Browser::launch();
    if hand == Hand::Finger {
        b.phone(PHONE_WIDTH, 800);
    }
    let tag = match hand {
        Hand::Finger => "phone",
        Hand::Mouse => "desktop",
    };
    b.goto(&s.url);
    b.wait_for("!!document.querySelector('#word-query')", "the search box");
    type_into(&mut b, hand, "#word-query", "a stormy sea at night");
    touch(&mut b, hand, "#word-search button");
    b.wait_for(
        "location.pathname === '/search' && !!document.querySelector('#search-results')",
        "the search results",
    );
    // Each hit on the page is the API's, with the same similarity text.
    let api = s.get("/api/search?q=a+stormy+sea+at+night&k=24").json();
    let want: Vec<serde_json::Value> = api["results"]["clip-b16-hf"]
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
    assert_eq!(want.len(), 24);
    let got = b.eval(
        "Array.from(document.querySelectorAll('#search-results section.column[data-backbone=\"clip-b16-hf\"] li.hit')).map(h => [Number(h.dataset.id), h.querySelector('.similarity').textContent])",
    );
    assert_eq!(got, serde_json::Value::Array(want));
    // DINO and DINOv2 read no text: named, not searched.
    assert_eq!(
        b.eval("document.querySelectorAll('#search-results section.column').length"),
        1
    );
    let notes = b.eval(
        "Array.from(document.querySelectorAll('.search-note')).map(n => n.textContent).join(' ')",
    );
    assert!(
        notes.as_str().unwrap().contains("dinov2 skipped"),
        "{notes}"
    );
    b.wait_for(
        // The first ones: the rest load lazily, as they scroll into view.
        "Array.from(document.querySelectorAll('#search-results img')).slice(0, 2).every(i => i.complete && i.naturalWidth > 0)",
        "the first thumbnails",
    );
    fits(&mut b, hand);
    b.screenshot(&shot(&format!("search-{tag}")));

    // The answer page's panel: the API's phrases and strengths.
    b.goto(&format!("{}compare", s.url));
    b.wait_for(
        "!!document.querySelector('#taste-words .tw-column')",
        "the taste panel",
    );
    let words = s.get("/api/taste/words").json();
    let col = &words["columns"][0];
    let first = &col["words"]["up"][0];
    let row = b.eval("Array.from(document.querySelector('#taste-words .tw-column tr.tw-phrase').querySelectorAll('td')).map(t => t.textContent)");
    assert!(
        row[0]
            .as_str()
            .unwrap()
            .starts_with(first["phrase"].as_str().unwrap()),
        "{row} vs {first}"
    );
    assert_eq!(
        row[1],
        artlens::plain::score(first["spearman"].as_f64().unwrap())
    );
    assert_eq!(
        b.eval("document.querySelector('#taste-words .tw-sentence').textContent"),
        col["sentence"]
    );
    fits(&mut b, hand);
    b.eval("document.querySelector('#taste-words').scrollIntoView(); true");
    b.screenshot(&shot(&format!("taste-words-{tag}")));
}

#[test]
fn search_results_and_the_taste_panel_on_a_phone() {
    with_a_text_tower(Hand::Finger);
}

#[test]
fn search_results_and_the_taste_panel_with_a_mouse() {
    with_a_text_tower(Hand::Mouse);
}

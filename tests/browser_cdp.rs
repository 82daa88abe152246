//! The DevTools client the browser tests drive pages with
//! (`tests/common/cdp.rs`), checked on a static page: key presses arrive in
//! order with the right `key` and `code`, clicks run handlers, a file input
//! receives a real file, scripts' values and exceptions come back, waits
//! time out with the page's text, and screenshots are PNGs.

use crate::common;

use common::cdp::{base64_decode, Browser};

/// A page that records what happens to it in the DOM, where the test reads it.
const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>cdp test</title></head>
<body>
<h1>CDP test page</h1>
<ol id="keys"></ol>
<button id="btn" onclick="document.getElementById('out').textContent = 'clicked ' + (++window.clicks)">press me</button>
<p id="out">not clicked</p>
<input type="file" id="file" multiple>
<p id="files"></p>
<p id="changes">0</p>
<script>
  window.clicks = 0;
  document.addEventListener('keydown', (e) => {
    const li = document.createElement('li');
    li.textContent = e.key + ' ' + e.code;
    document.getElementById('keys').appendChild(li);
  });
  const input = document.getElementById('file');
  input.addEventListener('change', () => {
    const c = document.getElementById('changes');
    c.textContent = String(Number(c.textContent) + 1);
    document.getElementById('files').textContent =
      Array.from(input.files).map((f) => f.name + ':' + f.size).join(',');
  });
</script>
</body></html>
"#;

fn page_url(dir: &std::path::Path) -> String {
    let page = dir.join("page.html");
    std::fs::write(&page, PAGE).unwrap();
    format!("file://{}", page.display())
}

fn keys(b: &mut Browser) -> Vec<String> {
    let v = b.eval("Array.from(document.querySelectorAll('#keys li')).map((li) => li.textContent)");
    serde_json::from_value(v).unwrap()
}

#[test]
fn keys_clicks_files_and_screenshots_reach_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = Browser::launch();
    b.goto(&page_url(dir.path()));
    assert_eq!(b.eval("document.title"), "cdp test");

    // Keys, in order, with the DOM key and code a keyboard sends.
    for k in ["1", "ArrowRight", "u"] {
        b.press(k);
    }
    b.wait_for(
        "document.querySelectorAll('#keys li').length >= 3",
        "three key presses",
    );
    assert_eq!(
        keys(&mut b),
        ["1 Digit1", "ArrowRight ArrowRight", "u KeyU"]
    );
    for k in ["ArrowLeft", "ArrowUp", "ArrowDown", "Enter", "Escape", "0"] {
        b.press(k);
    }
    b.wait_for(
        "document.querySelectorAll('#keys li').length >= 9",
        "six more key presses",
    );
    assert_eq!(
        keys(&mut b)[3..],
        [
            "ArrowLeft ArrowLeft",
            "ArrowUp ArrowUp",
            "ArrowDown ArrowDown",
            "Enter Enter",
            "Escape Escape",
            "0 Digit0"
        ]
    );

    // A click runs the handler, once per click.
    b.click("#btn");
    b.wait_for(
        "document.getElementById('out').textContent === 'clicked 1'",
        "the first click",
    );
    b.click("#btn");
    assert_eq!(
        b.eval("document.getElementById('out').textContent"),
        "clicked 2"
    );

    // The file input gets the real file, and its change handler runs once.
    let file = dir.path().join("upload me.bin");
    let bytes: Vec<u8> = (0..12_345u32).map(|i| (i * 7) as u8).collect();
    std::fs::write(&file, &bytes).unwrap();
    b.set_files("#file", &[&file]);
    let shown = b.wait_for(
        "document.getElementById('files').textContent",
        "the file input's change handler",
    );
    assert_eq!(shown, "upload me.bin:12345");
    assert_eq!(
        b.eval("document.getElementById('changes').textContent"),
        "1",
        "one pick fires one change event"
    );
    // The page can read the file's bytes, not only its name and size.
    let sum = b.eval(
        "document.getElementById('file').files[0].arrayBuffer()
           .then((buf) => new Uint8Array(buf).reduce((a, x) => a + x, 0))",
    );
    let want: u64 = bytes.iter().map(|&x| x as u64).sum();
    assert_eq!(sum.as_u64(), Some(want));

    // A screenshot is a PNG of the viewport's width.
    let png = dir.path().join("shot.png");
    b.screenshot(&png);
    let data = std::fs::read(&png).unwrap();
    assert!(
        data.starts_with(b"\x89PNG\r\n\x1a\n"),
        "not a PNG signature: {:?}",
        &data[..data.len().min(8)]
    );
    let width = u32::from_be_bytes(data[16..20].try_into().unwrap());
    assert_eq!(width, common::cdp::VIEWPORT.0, "the PNG's IHDR width");
}

#[test]
fn scripts_return_values_and_exceptions() {
    let mut b = Browser::launch();
    b.goto("about:blank#start");
    assert_eq!(
        b.eval("({a: 1, b: [true, null, 'x']})"),
        serde_json::json!({"a": 1, "b": [true, null, "x"]})
    );
    assert_eq!(b.eval("undefined"), serde_json::Value::Null);
    // Promises are awaited.
    assert_eq!(
        b.eval("new Promise((r) => setTimeout(() => r(42), 100))"),
        42
    );
    // A value that turns truthy later is waited for.
    b.eval("setTimeout(() => { window.ready = 'yes'; }, 300)");
    assert_eq!(b.wait_for("window.ready", "window.ready"), "yes");

    let thrown = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        b.eval("throw new Error('boom from the page')");
    }))
    .expect_err("an exception in the page fails the call");
    let msg = panic_text(&thrown);
    assert!(msg.contains("boom from the page"), "{msg}");

    // After a failed call the connection still works.
    assert_eq!(b.eval("1 + 1"), 2);
}

#[test]
fn a_wait_that_never_succeeds_names_what_and_shows_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = Browser::launch();
    b.goto(&page_url(dir.path()));
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        b.wait_for("window.neverSet", "the unicorn to appear");
    }))
    .expect_err("the wait times out");
    let msg = panic_text(&err);
    assert!(msg.contains("the unicorn to appear"), "{msg}");
    assert!(
        msg.contains("CDP test page"),
        "the page text is shown: {msg}"
    );
}

#[test]
fn navigation_replaces_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.html");
    std::fs::write(&other, "<title>second</title><p>the second page</p>").unwrap();
    let mut b = Browser::launch();
    b.goto(&page_url(dir.path()));
    assert_eq!(b.eval("document.title"), "cdp test");
    b.goto(&format!("file://{}", other.display()));
    assert_eq!(b.eval("document.title"), "second");
    assert_eq!(b.eval("document.readyState"), "complete");
}

#[test]
fn base64_decodes() {
    assert_eq!(base64_decode("").unwrap(), b"");
    assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
    assert_eq!(base64_decode("aGVsbG8h").unwrap(), b"hello!");
    assert_eq!(base64_decode("aGk=").unwrap(), b"hi");
    assert_eq!(base64_decode("+/+/").unwrap(), [0xfb, 0xff, 0xbf]);
    assert!(base64_decode("a*b").is_err());
}

fn panic_text(e: &Box<dyn std::any::Any + Send>) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

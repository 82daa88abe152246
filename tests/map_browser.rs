//! The Map page in real Chromium, on a desktop with a mouse and on a phone
//! with a finger: the panels side by side (stacked on the phone), a work
//! hovered or tapped in one panel outlined in every panel, a box dragged
//! over a map selecting exactly the works inside it, and "Rate selected"
//! storing the rating of each through the rating API. Screenshots are kept
//! under the target folder's `map-screens/`.

use crate::common;

use common::cdp::Browser;
use common::server::{Env, Server};
use serde_json::json;

fn shot(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("map-screens");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{name}.png"))
}

/// A work in panel `panel` (1-based) whose point is on top where it is
/// drawn, so that a pointer there reaches it.
fn reachable_point(b: &mut Browser, panel: usize) -> u64 {
    let v = b.eval(&format!(
        "(() => {{ for (const c of document.querySelectorAll('.map-panel:nth-of-type({panel}) .pt')) {{
            c.scrollIntoView({{block: 'center'}});
            const r = c.getBoundingClientRect();
            if (document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2) === c) return Number(c.dataset.id);
        }} return null; }})()"
    ));
    v.as_u64().expect("some point is reachable")
}

/// A box on panel 1 around the middle of its points, in client pixels,
/// and the works whose points lie inside it (none within 3 px of an edge).
fn plan_box(b: &mut Browser) -> ([f64; 4], Vec<u64>) {
    let v = b.eval(
        "(() => { const svg = document.querySelector('.map-panel:nth-of-type(1) svg');
            svg.scrollIntoView({block: 'center'});
            const s = svg.getBoundingClientRect();
            const pts = [...svg.querySelectorAll('.pt')].map(c => { const r = c.getBoundingClientRect();
                return [Number(c.dataset.id), r.left + r.width / 2, r.top + r.height / 2]; });
            for (let f = 0.3; f < 0.9; f += 0.05) {
              for (const [ox, oy] of [[0, 0], [0.25, 0.25], [-0.25, -0.25], [0.25, -0.25], [-0.25, 0.25]]) {
                const cx = s.left + s.width * (0.5 + ox), cy = s.top + s.height * (0.5 + oy);
                const box = [cx - s.width * f / 2, cy - s.height * f / 2, cx + s.width * f / 2, cy + s.height * f / 2];
                const near = pts.some(([, x, y]) => (Math.abs(x - box[0]) < 3 || Math.abs(x - box[2]) < 3) && y > box[1] - 3 && y < box[3] + 3
                  || (Math.abs(y - box[1]) < 3 || Math.abs(y - box[3]) < 3) && x > box[0] - 3 && x < box[2] + 3);
                const inside = pts.filter(([, x, y]) => x > box[0] && x < box[2] && y > box[1] && y < box[3]).map(p => p[0]);
                if (!near && inside.length >= 2 && inside.length < pts.length) return [box, inside.sort((a, b) => a - b)];
              }
            }
            return null; })()",
    );
    let bx: Vec<f64> = v[0]
        .as_array()
        .expect("a box with some works inside")
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    let ids = v[1]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect();
    ([bx[0], bx[1], bx[2], bx[3]], ids)
}

fn drag_mouse(b: &mut Browser, r: [f64; 4]) {
    b.call(
        "Input.dispatchMouseEvent",
        json!({"type": "mouseMoved", "x": r[0], "y": r[1]}),
    );
    b.call(
        "Input.dispatchMouseEvent",
        json!({"type": "mousePressed", "x": r[0], "y": r[1], "button": "left", "buttons": 1, "clickCount": 1}),
    );
    for i in 1..=6 {
        let f = i as f64 / 6.0;
        b.call(
            "Input.dispatchMouseEvent",
            json!({"type": "mouseMoved", "x": r[0] + (r[2] - r[0]) * f, "y": r[1] + (r[3] - r[1]) * f, "button": "left", "buttons": 1}),
        );
    }
    b.call(
        "Input.dispatchMouseEvent",
        json!({"type": "mouseReleased", "x": r[2], "y": r[3], "button": "left", "buttons": 0, "clickCount": 1}),
    );
}

fn drag_finger(b: &mut Browser, r: [f64; 4]) {
    let at =
        |x: f64, y: f64| json!([{"x": x, "y": y, "id": 1, "radiusX": 2, "radiusY": 2, "force": 1}]);
    b.call(
        "Input.dispatchTouchEvent",
        json!({"type": "touchStart", "touchPoints": at(r[0], r[1])}),
    );
    for i in 1..=6 {
        let f = i as f64 / 6.0;
        b.call(
            "Input.dispatchTouchEvent",
            json!({"type": "touchMove", "touchPoints": at(r[0] + (r[2] - r[0]) * f, r[1] + (r[3] - r[1]) * f)}),
        );
        std::thread::sleep(std::time::Duration::from_millis(30));
    }
    // The finger rests before it lifts, as a hand does at the end of a box:
    // lifted at speed, the browser takes the drag for a fling, and the next
    // tap only stops the fling (no click), as on any phone.
    std::thread::sleep(std::time::Duration::from_millis(200));
    b.call(
        "Input.dispatchTouchEvent",
        json!({"type": "touchMove", "touchPoints": at(r[2], r[3])}),
    );
    b.call(
        "Input.dispatchTouchEvent",
        json!({"type": "touchEnd", "touchPoints": []}),
    );
}

/// The rating the server holds for each work, by id.
fn stored_ratings(s: &Server) -> std::collections::HashMap<u64, f64> {
    let r = s.get("/api/ratings");
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| Some((v["id"].as_u64()?, v["rating"].as_f64()?)))
        .collect()
}

/// Selects with a drag, rates the selection `score`, and checks the page
/// and the store.
fn select_and_rate(b: &mut Browser, s: &Server, finger: bool, score: &str) {
    let (r, expected) = plan_box(b);
    if finger {
        drag_finger(b, r);
    } else {
        drag_mouse(b, r);
    }
    b.wait_for(
        "!document.getElementById('map-selection').hidden",
        "the selection bar",
    );
    let listed = b.eval(
        "[...document.querySelectorAll('#map-selected-list a')].map(a => Number(a.getAttribute('href').split('/').pop()))",
    );
    let listed: Vec<u64> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(
        listed, expected,
        "the box selects exactly the works inside it"
    );
    // Selected in every panel, not only the one dragged on.
    let panels = b
        .eval("document.querySelectorAll('.map-panel').length")
        .as_u64()
        .unwrap();
    let outlined = b
        .eval("document.querySelectorAll('.pt.sel').length")
        .as_u64()
        .unwrap();
    assert_eq!(outlined, expected.len() as u64 * panels);
    b.eval(&format!(
        "document.getElementById('map-rate-value').value = '{score}'"
    ));
    if finger {
        b.tap("#map-rate-form button[type=submit]");
    } else {
        b.mouse_click("#map-rate-form button[type=submit]");
    }
    b.wait_for(
        &format!(
            "document.getElementById('maps').dataset.rated === '{}'",
            expected.len()
        ),
        "every selected work rated",
    );
    let stored = stored_ratings(s);
    let want: f64 = score.parse().unwrap();
    for id in &expected {
        assert_eq!(
            stored.get(id),
            Some(&want),
            "work {id} rated {score} in the store"
        );
    }
}

#[test]
fn on_a_desktop_hover_links_the_panels_and_a_box_selection_is_rated() {
    let env = Env::new(false);
    let s = env.serve(&[]);
    let mut b = Browser::launch();
    b.goto(&format!("{}map", s.url));
    b.wait_for(
        "document.getElementById('maps').dataset.ready === '1'",
        "the map script",
    );
    // Side by side: the second panel starts level with the first.
    let tops = b.eval("[...document.querySelectorAll('.map-panel')].map(p => Math.round(p.getBoundingClientRect().top))");
    assert_eq!(tops[0], tops[1], "panels side by side on a desktop: {tops}");
    let id = reachable_point(&mut b, 1);
    let (x, y) = {
        let c = b.eval(&format!(
            "(() => {{ const r = document.querySelector('.map-panel:nth-of-type(1) .pt[data-id=\"{id}\"]').getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; }})()"
        ));
        (c[0].as_f64().unwrap(), c[1].as_f64().unwrap())
    };
    b.call(
        "Input.dispatchMouseEvent",
        json!({"type": "mouseMoved", "x": x, "y": y}),
    );
    b.wait_for(
        &format!("document.querySelectorAll('.pt.hot[data-id=\"{id}\"]').length === 2"),
        "the hovered work outlined in both panels",
    );
    assert_eq!(
        b.eval("document.querySelectorAll('.pt.hot').length")
            .as_u64(),
        Some(2)
    );
    select_and_rate(&mut b, &s, false, "7");
    b.screenshot(&shot("map-desktop-selected"));
    // Zoomed in, thumbnails appear over the points.
    b.click("#map-zoom-in");
    b.click("#map-zoom-in");
    b.click("#map-zoom-in");
    b.wait_for(
        "document.querySelectorAll('image.map-thumb').length > 0",
        "thumbnails once zoomed in",
    );
    b.screenshot(&shot("map-desktop"));
}

#[test]
fn on_a_phone_a_tap_links_the_panels_and_a_finger_box_is_rated() {
    let env = Env::new(false);
    let s = env.serve(&[]);
    let mut b = Browser::launch();
    b.phone(400, 800);
    b.goto(&format!("{}map", s.url));
    b.wait_for(
        "document.getElementById('maps').dataset.ready === '1'",
        "the map script",
    );
    // Stacked: the second panel below the first, and nothing wider than the phone.
    let stacked = b.eval(
        "(() => { const p = [...document.querySelectorAll('.map-panel')].map(e => e.getBoundingClientRect());
            return p[1].top >= p[0].bottom - 1 && document.documentElement.scrollWidth <= 400; })()",
    );
    assert_eq!(
        stacked,
        serde_json::Value::Bool(true),
        "panels stacked within the phone's width"
    );
    select_and_rate(&mut b, &s, true, "3");
    let id = reachable_point(&mut b, 2);
    b.tap(&format!(".map-panel:nth-of-type(2) .pt[data-id=\"{id}\"]"));
    b.wait_for(
        &format!("document.querySelectorAll('.pt.hot[data-id=\"{id}\"]').length === 2"),
        "the tapped work outlined in both panels",
    );
    // The + button zooms with a tap, and thumbnails appear.
    b.tap("#map-zoom-in");
    b.tap("#map-zoom-in");
    b.tap("#map-zoom-in");
    b.wait_for(
        "document.querySelectorAll('image.map-thumb').length > 0",
        "thumbnails once zoomed in",
    );
    b.screenshot(&shot("map-phone"));
}

// artlens web app: the keyboard and the API calls of each page. Served from
// the binary; no build step, no library. Everything that shows text from the
// store goes through textContent, never innerHTML, so a title cannot become
// markup.
"use strict";

// --- helpers ---------------------------------------------------------------

function $(sel) { return document.querySelector(sel); }

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function toast(msg) {
  const t = $("#toast");
  if (!t) return;
  t.textContent = msg;
  t.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.remove("show"), 2500);
}

// Every call answers JSON; an error is {"error": "..."} and becomes a throw
// with that message.
async function api(method, url, body) {
  const opts = { method, headers: {} };
  if (body instanceof FormData) {
    opts.body = body;
  } else if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(url, opts);
  let data = null;
  try { data = await r.json(); } catch (_) { data = null; }
  if (!r.ok) throw new Error((data && data.error) || (r.status + " " + r.statusText));
  return data;
}

function typing(e) {
  const t = e.target;
  return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
}

// "1".."9" rate 1..9 and "0" rates 10.
function keyScore(key) {
  if (key.length === 1 && key >= "0" && key <= "9") return key === "0" ? 10 : Number(key);
  return null;
}

function fmt(x) { return Number.isInteger(x) ? String(x) : x.toFixed(2); }

function galleryQuery(root, offset, limit) {
  const p = new URLSearchParams();
  const where = root.dataset.where || "";
  if (where) for (const w of where.split("\u001f")) if (w) p.append("where", w);
  if (root.dataset.rated) p.set("rated", root.dataset.rated);
  if (root.dataset.sort) p.set("sort", root.dataset.sort);
  p.set("offset", String(offset));
  p.set("limit", String(limit));
  return "/api/gallery?" + p.toString();
}

// --- gallery ---------------------------------------------------------------

function initGallery() {
  const cards = () => Array.from(document.querySelectorAll("#grid a.card"));
  const columns = () => {
    const c = cards();
    if (c.length < 2) return 1;
    const top = c[0].getBoundingClientRect().top;
    let n = 0;
    for (const x of c) { if (Math.abs(x.getBoundingClientRect().top - top) < 2) n++; else break; }
    return Math.max(1, n);
  };
  document.addEventListener("keydown", (e) => {
    if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
    const c = cards();
    const i = c.indexOf(document.activeElement);
    const move = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns(), ArrowUp: -columns() }[e.key];
    if (move !== undefined && c.length) {
      e.preventDefault();
      const j = i < 0 ? 0 : Math.min(c.length - 1, Math.max(0, i + move));
      c[j].focus();
    } else if (e.key === "n" && $("#next")) {
      location.href = $("#next").href;
    } else if (e.key === "p" && $("#prev")) {
      location.href = $("#prev").href;
    } else if (e.key === "r") {
      const id = i >= 0 ? c[i].dataset.id : "";
      location.href = "/rate" + (id ? "?start=" + id : "");
    }
  });
}

// --- shared by the rating pages -------------------------------------------

// Every rating button of the page rates through `rate` (tap, click or a
// focused Enter alike).
function bindRatingButtons(rate) {
  for (const b of document.querySelectorAll("button.rate")) {
    b.addEventListener("click", (e) => { e.preventDefault(); rate(Number(b.dataset.score)); });
  }
}

// Horizontal swipes on `target`: `left()` when the finger moves left by
// more than 60 px (and more sideways than up or down), `right()` likewise.
function onSwipe(target, left, right) {
  let x0 = null, y0 = null;
  target.addEventListener("touchstart", (e) => {
    if (e.touches.length !== 1) { x0 = null; return; }
    x0 = e.touches[0].clientX; y0 = e.touches[0].clientY;
  }, { passive: true });
  target.addEventListener("touchend", (e) => {
    if (x0 === null || !e.changedTouches.length) return;
    const dx = e.changedTouches[0].clientX - x0, dy = e.changedTouches[0].clientY - y0;
    x0 = null;
    if (Math.abs(dx) < 60 || Math.abs(dx) < 1.5 * Math.abs(dy)) return;
    if (dx < 0) left(); else right();
  }, { passive: true });
}

// The answer box is rendered by the server (one renderer for every page);
// after a change it is fetched again until the retrain has caught up.
async function refreshAnswer(full) {
  const box = $("#answer-box");
  if (!box) return;
  const url = "/fragments/answer" + (full ? "?full=1" : "");
  for (let i = 0; i < 40; i++) {
    let html;
    try {
      const r = await fetch(url);
      if (!r.ok) return;
      html = await r.text();
    } catch (_) { return; }
    box.innerHTML = html; // server-rendered, every value escaped by maud
    // "Updating…" is on the box while a retrain has not caught up.
    if (!$("#answer-updating")) return;
    await new Promise((res) => setTimeout(res, 400));
  }
}

// --- work page -------------------------------------------------------------

function initWork() {
  const maps = $("#maps");
  if (maps) {
    // Size the frame to its report so the page scrolls as one.
    maps.addEventListener("load", () => {
      try { maps.style.height = maps.contentDocument.documentElement.scrollHeight + 40 + "px"; } catch (_) {}
    });
  }
  const lightbox = $("#lightbox");
  if (lightbox) {
    $("#open-lightbox").addEventListener("click", () => lightbox.showModal());
    $("#lightbox-close").addEventListener("click", () => lightbox.close());
    lightbox.addEventListener("click", (e) => { if (e.target === lightbox) lightbox.close(); });
    onSwipe(lightbox, () => { const n = $("#lightbox-next"); if (n) location.href = n.href; },
      () => { const p = $("#lightbox-prev"); if (p) location.href = p.href; });
    if (new URLSearchParams(location.search).get("view") === "large") lightbox.showModal();
  }
  const box = $("#rating-box");
  if (!box) return;
  const id = box.dataset.id;
  const undo = [];
  const undoButton = $("#rating-undo");
  const show = (r) => {
    $("#rating-now").textContent = r === null ? "Not rated yet" : "Your rating: " + fmt(r);
    $("#rating-input").value = r === null ? "" : fmt(r);
    box.dataset.rating = r === null ? "" : String(r);
    for (const b of document.querySelectorAll("button.rate")) b.setAttribute("aria-pressed", String(r !== null && Number(b.dataset.score) === r));
    undoButton.disabled = undo.length === 0;
  };
  const set = async (score) => {
    try {
      const r = await api("PUT", "/api/works/" + id + "/rating", { score });
      undo.push(r.previous);
      show(score);
      toast("Your rating: " + fmt(score));
    } catch (err) { toast(err.message); }
  };
  const remove = async () => {
    try {
      const r = await api("DELETE", "/api/works/" + id + "/rating");
      if (r.removed) undo.push(r.previous);
      show(null);
      toast("Rating removed");
    } catch (err) { toast(err.message); }
  };
  const undoLast = async () => {
    if (!undo.length) { toast("Nothing to undo"); return; }
    const prev = undo.pop();
    try {
      if (prev === null) { await api("DELETE", "/api/works/" + id + "/rating"); show(null); }
      else { await api("PUT", "/api/works/" + id + "/rating", { score: prev }); show(prev); }
      toast("Undone");
    } catch (err) { toast(err.message); }
  };
  show(box.dataset.rating === "" ? null : Number(box.dataset.rating));
  bindRatingButtons(set);
  $("#rating-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const v = Number($("#rating-input").value);
    if ($("#rating-input").value.trim() === "" || !Number.isFinite(v)) { toast("Type a number first"); return; }
    set(v);
  });
  $("#rating-remove").addEventListener("click", remove);
  undoButton.addEventListener("click", undoLast);
  document.addEventListener("keydown", async (e) => {
    if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
    const s = keyScore(e.key);
    if (s !== null) { e.preventDefault(); set(s); }
    else if (e.key === "Delete" || e.key === "Backspace") { e.preventDefault(); remove(); }
    else if (e.key === "u") { undoLast(); }
  });
}

// --- rate: one at a time ---------------------------------------------------

function initRate() {
  const root = $("#rater");
  const img = $("#current img");
  const cap = $("#current figcaption");
  const status = $("#rate-status");
  const undoButton = $("#rate-undo");
  let pos = 0, total = 0, work = null, busy = false;
  const undo = [];
  const onlyUnrated = root.dataset.rated === "false";

  const imageOf = (w) => "/api/works/" + w.id + "/view?size=1024";
  const showWork = (w) => {
    work = w;
    img.src = imageOf(w);
    img.alt = w.title;
    cap.textContent = "#" + w.id + " " + w.title + (w.rating === null || w.rating === undefined ? "" : " — your rating " + fmt(w.rating));
    root.dataset.id = String(w.id);
    status.textContent = onlyUnrated
      ? (total === 1 ? "The last unrated work." : total + " works left to rate.")
      : "Work " + (pos + 1) + " of " + total + ".";
    for (const b of document.querySelectorAll("button.rate")) b.setAttribute("aria-pressed", String(w.rating !== null && w.rating !== undefined && Number(b.dataset.score) === w.rating));
  };
  // The next work's picture is fetched while the person looks at this one.
  const preload = async () => {
    try {
      const next = await api("GET", galleryQuery(root, onlyUnrated ? pos + 1 : pos + 1, 1));
      if (next.works.length) { const p = new Image(); p.src = imageOf(next.works[0]); }
    } catch (_) {}
  };
  const load = async () => {
    const page = await api("GET", galleryQuery(root, pos, 1));
    total = page.total;
    if (!page.works.length && pos > 0 && total > 0) { pos = total - 1; return load(); }
    if (!page.works.length) {
      work = null; root.dataset.id = "";
      img.removeAttribute("src"); cap.textContent = "";
      status.textContent = total ? "No more works." : (onlyUnrated ? "Every work is rated." : "No works match.");
      return;
    }
    showWork(page.works[0]);
    preload();
  };
  const start = async () => {
    // ?start=ID opens the list at that work: its position is found by
    // paging, a page of 500 at a time.
    const want = Number(root.dataset.start || "");
    if (want) {
      for (let off = 0; ; off += 500) {
        const page = await api("GET", galleryQuery(root, off, 500));
        total = page.total;
        const i = page.works.findIndex((w) => w.id === want);
        if (i >= 0) { pos = off + i; break; }
        if (off + 500 >= page.total) break;
      }
    }
    await load();
  };
  // One change at a time: a second tap while the first is on its way is
  // ignored rather than rating the wrong work.
  const step = (f) => async () => {
    if (busy) return;
    busy = true;
    try { await f(); } catch (err) { toast(err.message); } finally { busy = false; }
  };
  const rate = (s) => step(async () => {
    if (!work) return;
    const r = await api("PUT", "/api/works/" + work.id + "/rating", { score: s });
    undo.push({ id: work.id, previous: r.previous, pos });
    undoButton.disabled = false;
    toast("Your rating for #" + work.id + ": " + fmt(s));
    // A rated work leaves an "unrated" list by itself; elsewhere move on.
    if (!onlyUnrated) pos = Math.min(pos + 1, Math.max(0, total - 1));
    await load();
    refreshAnswer(false);
  })();
  const next = step(async () => { if (pos + 1 < total) { pos++; await load(); } else toast("That was the last one."); });
  const prev = step(async () => { if (pos > 0) { pos--; await load(); } });
  const undoLast = step(async () => {
    const last = undo.pop();
    undoButton.disabled = undo.length === 0;
    if (!last) { toast("Nothing to undo"); return; }
    if (last.previous === null || last.previous === undefined) await api("DELETE", "/api/works/" + last.id + "/rating");
    else await api("PUT", "/api/works/" + last.id + "/rating", { score: last.previous });
    pos = last.pos;
    await load();
    toast("Undone");
    refreshAnswer(false);
  });
  bindRatingButtons(rate);
  $("#rate-skip").addEventListener("click", next);
  $("#rate-prev").addEventListener("click", prev);
  undoButton.addEventListener("click", undoLast);
  onSwipe($("#current"), next, prev);
  document.addEventListener("keydown", (e) => {
    if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
    const s = keyScore(e.key);
    if (s !== null && work) { e.preventDefault(); rate(s); }
    else if (e.key === "ArrowRight") { e.preventDefault(); next(); }
    else if (e.key === "ArrowLeft") { e.preventDefault(); prev(); }
    else if (e.key === "u") { undoLast(); }
  });
  start().catch((err) => { status.textContent = err.message; });
}

// --- rate: pairwise --------------------------------------------------------

function initPair() {
  const root = $("#pair");
  const status = $("#pair-status");
  const undoButton = $("#pair-undo");
  let left = null, right = null, recorded = 0, busy = false;
  const undo = [];
  const fill = (fig, w) => {
    fig.querySelector("img").src = "/api/works/" + w.id + "/view?size=1024";
    fig.querySelector("img").alt = w.title;
    fig.querySelector(".caption").textContent = "#" + w.id + " " + w.title;
    fig.dataset.id = String(w.id);
  };
  const say = () => {
    status.textContent = recorded === 1 ? "1 choice recorded in this session." : recorded + " choices recorded in this session.";
  };
  const next = async () => {
    const first = await api("GET", galleryQuery(root, 0, 1));
    const n = first.total;
    if (n < 2) { status.textContent = "Choosing needs at least two works."; return; }
    const a = Math.floor(Math.random() * n);
    let b = Math.floor(Math.random() * (n - 1));
    if (b >= a) b++;
    const [wa, wb] = await Promise.all([a, b].map(async (o) => (await api("GET", galleryQuery(root, o, 1))).works[0]));
    left = wa; right = wb;
    fill($("#left"), wa); fill($("#right"), wb);
    say();
  };
  const guarded = (f) => async () => {
    if (busy || !left) return;
    busy = true;
    try { await f(); } catch (err) { toast(err.message); } finally { busy = false; }
  };
  const choose = (side) => guarded(async () => {
    const [winner, loser] = side === "left" ? [left, right] : [right, left];
    await api("POST", "/api/preferences", { winner: winner.id, loser: loser.id });
    undo.push({ winner: winner.id, loser: loser.id });
    undoButton.disabled = false;
    recorded++;
    toast("You preferred #" + winner.id + " " + winner.title);
    await next();
  });
  const undoLast = guarded(async () => {
    const last = undo.pop();
    if (!last) { toast("Nothing to undo"); return; }
    await api("DELETE", "/api/preferences", last);
    undoButton.disabled = undo.length === 0;
    recorded--;
    say();
    toast("Undone");
  });
  $("#left").addEventListener("click", choose("left"));
  $("#right").addEventListener("click", choose("right"));
  $("#pair-skip").addEventListener("click", guarded(next));
  undoButton.addEventListener("click", undoLast);
  document.addEventListener("keydown", (e) => {
    if (typing(e) || e.ctrlKey || e.metaKey || e.altKey || !left) return;
    if (e.key === "ArrowLeft") { e.preventDefault(); choose("left")(); }
    else if (e.key === "ArrowRight") { e.preventDefault(); choose("right")(); }
    else if (e.key === "s") { guarded(next)(); }
    else if (e.key === "u") { undoLast(); }
  });
  next().catch((err) => { status.textContent = err.message; });
}

// --- score an upload -------------------------------------------------------

function initScore() {
  const input = $("#score-file");
  if (!input) return;
  const drop = $("#drop");
  const status = $("#score-status");
  const send = async (file) => {
    if (!file) return;
    status.textContent = "Scoring " + file.name + "…";
    const form = new FormData();
    form.append("image", file, file.name);
    try {
      // The server renders the result (one renderer for the work page, this
      // page and the HTML report); an error answers JSON like the API.
      const r = await fetch("/fragments/score", { method: "POST", body: form });
      if (!r.ok) {
        let msg = r.status + " " + r.statusText;
        try { msg = (await r.json()).error || msg; } catch (_) {}
        throw new Error(msg);
      }
      $("#score-result").innerHTML = await r.text(); // escaped by maud
      status.textContent = "Scored " + file.name + ".";
    } catch (err) {
      status.textContent = err.message;
      $("#score-result").replaceChildren();
    }
  };
  input.addEventListener("change", () => send(input.files[0]));
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    send(e.dataTransfer.files[0]);
  });
}

// --- compare ---------------------------------------------------------------

function initCompare() {
  const button = $("#retrain");
  const status = $("#train-status");
  const frame = $("#report");
  const detail = $("#detail");
  if (frame && detail) {
    // The statistics load when a person opens them.
    detail.addEventListener("toggle", () => {
      if (detail.open && !frame.getAttribute("src")) frame.src = frame.dataset.src;
    });
    frame.addEventListener("load", () => {
      // Size the frame to its report so the page scrolls as one.
      try { frame.style.height = frame.contentDocument.documentElement.scrollHeight + 40 + "px"; } catch (_) {}
    });
  }
  if (button) button.addEventListener("click", async () => {
    button.disabled = true;
    status.textContent = "Training…";
    try {
      await api("POST", "/api/train", {});
      status.textContent = "Trained.";
      await refreshAnswer(true);
      if (frame && frame.getAttribute("src")) frame.src = "/compare/report?t=" + Date.now();
      if (!frame && $("#verdict")) location.reload();
    } catch (err) {
      status.textContent = err.message;
    } finally {
      button.disabled = false;
    }
  });
  if ($("#answer-updating")) refreshAnswer(true);
}

// --- index -----------------------------------------------------------------

function initIndex() {
  const form = $("#index-form");
  if (!form) return;
  const follow = (events) => {
    $("#job").hidden = false;
    const source = new EventSource(events);
    const draw = (snap) => {
      const bar = $("#job-bar");
      bar.max = Math.max(1, snap.total);
      bar.value = snap.done;
      const eta = snap.eta_seconds === null || snap.eta_seconds === undefined ? "" : ", about " + Math.ceil(snap.eta_seconds) + " s left";
      const rate = snap.images_per_second > 0 ? ", " + snap.images_per_second.toFixed(1) + " images/s" : "";
      $("#job-counts").textContent = snap.done + " of " + snap.total + " images, " + snap.failed + " failed" + rate + eta;
      $("#job-phase").textContent = snap.error ? "Failed: " + snap.error : snap.phase;
      const list = $("#job-failures");
      list.replaceChildren(...snap.failures.map((f) => el("li", {}, el("code", {}, f.path), ": " + f.reason)));
      $("#job-failures-box").hidden = snap.failures.length === 0;
      $("#job-next").hidden = snap.status !== "done";
      document.body.dataset.job = snap.status;
    };
    source.addEventListener("progress", (ev) => draw(JSON.parse(ev.data)));
    for (const end of ["done", "failed"]) {
      source.addEventListener(end, (ev) => { draw(JSON.parse(ev.data)); source.close(); });
    }
  };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { dir: $("#index-dir").value, metadata: $("#index-metadata").value };
    try {
      const job = await api("POST", "/api/index", body);
      follow(job.events);
    } catch (err) { toast(err.message); }
  });
  // A job started earlier (this page left and opened again) is shown.
  api("GET", "/api/jobs").then((snap) => {
    if (snap && snap.status === "running") follow("/api/jobs/" + snap.id + "/events");
  }).catch(() => {});
}

// --- the dark viewing mode -------------------------------------------------

function initTheme() {
  const button = $("#theme");
  const apply = (t) => {
    if (t) document.documentElement.dataset.theme = t; else delete document.documentElement.dataset.theme;
    if (button) button.setAttribute("aria-pressed", String(t === "dark"));
  };
  let saved = null;
  try { saved = localStorage.getItem("artlens-theme"); } catch (_) {}
  apply(saved);
  if (button) button.addEventListener("click", () => {
    const dark = document.documentElement.dataset.theme !== "dark";
    apply(dark ? "dark" : "light");
    try { localStorage.setItem("artlens-theme", dark ? "dark" : "light"); } catch (_) {}
  });
}

// --- duplicates ------------------------------------------------------------

// Each button posts its action (mark, unmark, keep) and the page is drawn
// again from the server, which holds the groups. A click is also what a tap
// sends, so touch needs nothing more.
function initDups() {
  const query = ($("#dups-summary") && $("#dups-summary").dataset.query) || "";
  document.addEventListener("click", async (e) => {
    const b = e.target.closest("button[data-dups]");
    if (!b) return;
    const action = b.dataset.dups;
    const body = { copy: Number(b.dataset.copy) };
    if (action === "mark") body.of = Number(b.dataset.of);
    const url = "/api/dups/" + action + (action === "keep" && query ? "?" + query : "");
    b.disabled = true;
    try {
      const r = await api("POST", url, body);
      toast(r.message);
      setTimeout(() => location.reload(), 400);
    } catch (err) {
      b.disabled = false;
      toast(err.message);
    }
  });
}

// --- start -----------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  const init = {
    work: initWork, rate: initRate, pair: initPair,
    score: initScore, compare: initCompare, index: initIndex, dups: initDups,
    // The first page of an empty store holds the index form.
    gallery: () => { initGallery(); initIndex(); },
  }[document.body.dataset.page];
  initTheme();
  if (init) init();
  document.body.dataset.ready = "true";
});

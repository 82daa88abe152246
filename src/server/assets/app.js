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

// --- work page -------------------------------------------------------------

function initWork() {
  const maps = $("#maps");
  if (maps) {
    // Size the frame to its report so the page scrolls as one.
    maps.addEventListener("load", () => {
      try { maps.style.height = maps.contentDocument.documentElement.scrollHeight + 40 + "px"; } catch (_) {}
    });
  }
  const box = $("#rating-box");
  if (!box) return;
  const id = box.dataset.id;
  const undo = [];
  const show = (r) => {
    $("#rating-now").textContent = r === null ? "Not rated yet" : "Rated " + fmt(r);
    $("#rating-input").value = r === null ? "" : fmt(r);
    box.dataset.rating = r === null ? "" : String(r);
  };
  const set = async (score) => {
    try {
      const r = await api("PUT", "/api/works/" + id + "/rating", { score });
      undo.push(r.previous);
      show(score);
      toast("Rated " + fmt(score));
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
  $("#rating-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const v = Number($("#rating-input").value);
    if ($("#rating-input").value.trim() === "" || !Number.isFinite(v)) { toast("Type a number first"); return; }
    set(v);
  });
  $("#rating-remove").addEventListener("click", remove);
  document.addEventListener("keydown", async (e) => {
    if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
    const s = keyScore(e.key);
    if (s !== null) { e.preventDefault(); set(s); }
    else if (e.key === "Delete" || e.key === "Backspace") { e.preventDefault(); remove(); }
    else if (e.key === "u" && undo.length) {
      const prev = undo.pop();
      try {
        if (prev === null) { await api("DELETE", "/api/works/" + id + "/rating"); show(null); }
        else { await api("PUT", "/api/works/" + id + "/rating", { score: prev }); show(prev); }
        toast("Undone");
      } catch (err) { toast(err.message); }
    }
  });
}

// --- rate: one at a time ---------------------------------------------------

function initRate() {
  const root = $("#rater");
  const img = $("#current img");
  const cap = $("#current figcaption");
  const status = $("#rate-status");
  let pos = 0, total = 0, work = null;
  const undo = [];

  const showWork = (w) => {
    work = w;
    img.src = "/api/works/" + w.id + "/image";
    img.alt = w.title;
    cap.textContent = w.title + (w.rating === null || w.rating === undefined ? " — not rated" : " — rated " + fmt(w.rating));
    root.dataset.id = String(w.id);
    status.textContent = "Work " + (pos + 1) + " of " + total + ".";
  };
  const load = async () => {
    const page = await api("GET", galleryQuery(root, pos, 1));
    total = page.total;
    if (!page.works.length) {
      work = null; root.dataset.id = "";
      img.removeAttribute("src"); cap.textContent = "";
      status.textContent = total ? "No more works." : "No works match.";
      return;
    }
    showWork(page.works[0]);
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
  const onlyUnrated = root.dataset.rated === "false";
  document.addEventListener("keydown", async (e) => {
    if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
    const s = keyScore(e.key);
    try {
      if (s !== null && work) {
        e.preventDefault();
        const r = await api("PUT", "/api/works/" + work.id + "/rating", { score: s });
        undo.push({ id: work.id, previous: r.previous, pos });
        toast("Rated " + work.title + " " + fmt(s));
        // A rated work leaves an "unrated" list by itself; elsewhere move on.
        if (!onlyUnrated) pos = Math.min(pos + 1, Math.max(0, total - 1));
        await load();
      } else if (e.key === "ArrowRight") {
        e.preventDefault();
        if (pos + 1 < total) { pos++; await load(); }
      } else if (e.key === "ArrowLeft") {
        e.preventDefault();
        if (pos > 0) { pos--; await load(); }
      } else if (e.key === "u") {
        const last = undo.pop();
        if (!last) { toast("Nothing to undo"); return; }
        if (last.previous === null || last.previous === undefined) await api("DELETE", "/api/works/" + last.id + "/rating");
        else await api("PUT", "/api/works/" + last.id + "/rating", { score: last.previous });
        pos = last.pos;
        await load();
        toast("Undone");
      }
    } catch (err) { toast(err.message); }
  });
  start().catch((err) => { status.textContent = err.message; });
}

// --- rate: pairwise --------------------------------------------------------

function initPair() {
  const root = $("#pair");
  const status = $("#pair-status");
  let left = null, right = null, recorded = 0;
  const fill = (fig, w) => {
    fig.querySelector("img").src = "/api/works/" + w.id + "/image";
    fig.querySelector("img").alt = w.title;
    fig.querySelector("figcaption").textContent = w.title;
    fig.dataset.id = String(w.id);
  };
  const next = async () => {
    const first = await api("GET", galleryQuery(root, 0, 1));
    const n = first.total;
    if (n < 2) { status.textContent = "Pairs need at least two works."; return; }
    const a = Math.floor(Math.random() * n);
    let b = Math.floor(Math.random() * (n - 1));
    if (b >= a) b++;
    const [wa, wb] = await Promise.all([a, b].map(async (o) => (await api("GET", galleryQuery(root, o, 1))).works[0]));
    left = wa; right = wb;
    fill($("#left"), wa); fill($("#right"), wb);
    status.textContent = recorded + " preferences recorded in this session.";
  };
  const choose = async (winner, loser) => {
    await api("POST", "/api/preferences", { winner: winner.id, loser: loser.id });
    recorded++;
    toast("Preferred " + winner.title);
    await next();
  };
  document.addEventListener("keydown", async (e) => {
    if (typing(e) || e.ctrlKey || e.metaKey || e.altKey || !left) return;
    try {
      if (e.key === "ArrowLeft") { e.preventDefault(); await choose(left, right); }
      else if (e.key === "ArrowRight") { e.preventDefault(); await choose(right, left); }
      else if (e.key === "s") { await next(); }
      else if (e.key === "u") { toast("A recorded preference cannot be undone here; `artlens rate clear` removes them all."); }
    } catch (err) { toast(err.message); }
  });
  next().catch((err) => { status.textContent = err.message; });
}

// --- score an upload -------------------------------------------------------

// The ridge head's score taken apart: intercept + each listed rated work's
// contribution + the rest = the score.
function contributions(m) {
  if (m.intercept === null || m.intercept === undefined || m.contribution_rest === null || m.contribution_rest === undefined) {
    return m.contributions_note ? el("p", { class: "note" }, m.contributions_note) : null;
  }
  const sign = (x) => (x >= 0 ? "+" : "") + x.toFixed(3);
  const rows = [el("tr", {}, el("td", {}, "mean rating (intercept)"), el("td", { class: "num" }, sign(m.intercept)))];
  for (const c of m.contributions) {
    rows.push(el("tr", { class: c.contribution >= 0 ? "up" : "down" },
      el("td", {}, el("a", { href: "/works/" + c.id }, "#" + c.id), " rated " + fmt(c.rating) + ", similarity " + c.similarity.toFixed(3)),
      el("td", { class: "num" }, sign(c.contribution))));
  }
  rows.push(el("tr", {}, el("td", {}, "the other " + (m.contribution_rest_count || 0) + " rated works together"), el("td", { class: "num" }, sign(m.contribution_rest))));
  return el("div", {}, el("h4", {}, "What made the score"), el("table", { class: "contrib" }, ...rows));
}

function renderScore(res) {
  const out = $("#score-result");
  out.replaceChildren();
  out.append(el("h2", {}, res.path));
  const cols = el("div", { class: "columns" });
  for (const [backbone, m] of Object.entries(res.models)) {
    const refs = el("ol", { class: "refs" });
    for (const r of m.references) {
      const name = (r.metadata && r.metadata.title) || r.path || r.hash;
      refs.append(el("li", {}, el("a", { href: "/works/" + r.id },
        el("img", { src: "/api/works/" + r.id + "/thumb?size=128", alt: name, width: "96", height: "96" }),
        el("span", {}, "rated " + fmt(r.rating) + " · similarity " + r.similarity.toFixed(3)))));
    }
    cols.append(el("section", { class: "column model", "data-backbone": backbone },
      el("h3", {}, backbone),
      el("p", { class: "score" }, "Score ", el("strong", {}, m.score.toFixed(2)),
        m.knn_estimate === null || m.knn_estimate === undefined ? "" : " · kNN estimate " + m.knn_estimate.toFixed(2)),
      m.out_of_distribution ? el("p", { class: "ood" }, "Out of distribution: far from every rated work; the score is a guess.") : null,
      contributions(m),
      el("h4", {}, "Historical references"),
      refs));
  }
  out.append(cols);
  if (res.reference_overlap !== null && res.reference_overlap !== undefined) {
    out.append(el("p", { class: "note" }, "The backbones share " + res.reference_overlap + " of their references."));
  }
}

function initScore() {
  const input = $("#score-file");
  const drop = $("#drop");
  const status = $("#score-status");
  const send = async (file) => {
    if (!file) return;
    status.textContent = "Scoring " + file.name + "…";
    const form = new FormData();
    form.append("image", file, file.name);
    try {
      const res = await api("POST", "/api/score", form);
      status.textContent = "Scored " + file.name + ".";
      renderScore(res);
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
  button.addEventListener("click", async () => {
    button.disabled = true;
    status.textContent = "Training…";
    try {
      const r = await api("POST", "/api/train", {});
      status.textContent = r.verdict ? "Trained. " + r.verdict : "Trained.";
      $("#report").src = "/compare/report?t=" + Date.now();
    } catch (err) {
      status.textContent = err.message;
    } finally {
      button.disabled = false;
    }
  });
  const frame = $("#report");
  frame.addEventListener("load", () => {
    // Size the frame to its report so the page scrolls as one.
    try { frame.style.height = frame.contentDocument.documentElement.scrollHeight + 40 + "px"; } catch (_) {}
  });
}

// --- index -----------------------------------------------------------------

function initIndex() {
  const form = $("#index-form");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const dir = $("#index-dir").value;
    try {
      const job = await api("POST", "/api/index", { dir });
      $("#job").hidden = false;
      const events = new EventSource(job.events);
      const draw = (snap) => {
        const bar = $("#job-bar");
        bar.max = Math.max(1, snap.total);
        bar.value = snap.done;
        const eta = snap.eta_seconds === null || snap.eta_seconds === undefined ? "" : ", about " + Math.ceil(snap.eta_seconds) + " s left";
        $("#job-counts").textContent = snap.done + " of " + snap.total + " images, " + snap.failed + " failed, " +
          snap.images_per_second.toFixed(1) + " images/s" + eta;
        $("#job-phase").textContent = snap.error ? "Failed: " + snap.error : snap.phase;
        const list = $("#job-failures");
        list.replaceChildren(...snap.failures.map((f) => el("li", {}, el("code", {}, f.path), ": " + f.reason)));
        document.body.dataset.job = snap.status;
      };
      events.addEventListener("progress", (ev) => draw(JSON.parse(ev.data)));
      for (const end of ["done", "failed"]) {
        events.addEventListener(end, (ev) => { draw(JSON.parse(ev.data)); events.close(); });
      }
    } catch (err) { toast(err.message); }
  });
}

// --- start -----------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  const init = {
    gallery: initGallery, work: initWork, rate: initRate, pair: initPair,
    score: initScore, compare: initCompare, index: initIndex,
  }[document.body.dataset.page];
  if (init) init();
  document.body.dataset.ready = "true";
});

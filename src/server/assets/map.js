// artlens Map page: the panels drawn by the server (one SVG per backbone,
// a circle per work) made interactive. The same work is linked across the
// panels (hover or tap one, it is outlined in every panel); colour by your
// rating, the predicted score or a metadata key; zoom with the wheel, a
// pinch or the +/- buttons, with thumbnails once zoomed in; drag a box on a
// map (mouse or finger) to select works, then rate them all, list them or
// export them. No library; text from the store goes through textContent.
// Shift-drag (or a two-finger drag) pans.
"use strict";

(function () {
  const root = document.getElementById("maps");
  if (!root) return;
  const works = new Map();
  for (const w of JSON.parse(document.getElementById("map-data").textContent)) works.set(w.id, w);
  const panels = [...root.querySelectorAll(".map-panel")];
  const svgs = panels.map((p) => p.querySelector("svg"));
  const HOME = [-1.08, -1.08, 2.16, 2.16];
  const THUMB_AT = 0.9; // a view narrower than this shows thumbnails
  const MAX_THUMBS = 80; // per panel, nearest the centre first
  const selected = new Set();
  let hot = null;

  function say(msg) { if (typeof toast === "function") toast(msg); }
  function circles(id) { return root.querySelectorAll('.pt[data-id="' + id + '"]'); }
  function num(v) { return v === undefined || v === null || v === "" ? null : Number(v); }

  // --- linking -------------------------------------------------------------
  function setHot(id) {
    if (hot !== null) for (const c of circles(hot)) c.classList.remove("hot");
    hot = id;
    const status = document.getElementById("map-mode");
    if (id === null) return;
    // The outline is enough to find it: moving the node to the top would
    // pull it from under a finger mid-tap, and the browser then drops the
    // tap's click and the next one's.
    for (const c of circles(id)) c.classList.add("hot");
    const w = works.get(id);
    if (status && w) status.textContent = "#" + id + " " + w.title;
  }
  root.addEventListener("pointerover", (e) => {
    if (e.pointerType === "mouse" && e.target.classList.contains("pt")) setHot(Number(e.target.dataset.id));
  });

  // --- colour --------------------------------------------------------------
  const STOPS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  function ramp(t) {
    t = Math.min(1, Math.max(0, t)) * (STOPS.length - 1);
    const i = Math.min(STOPS.length - 2, Math.floor(t)), f = t - i;
    const c = STOPS[i].map((a, k) => Math.round(a + (STOPS[i + 1][k] - a) * f));
    return "rgb(" + c.join(",") + ")";
  }
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#ad494a"];
  const GREY = "#b8bec4";
  function fmt2(x) { return x.toFixed(2); }
  function recolour() {
    const how = document.getElementById("map-colour").value;
    const legend = document.getElementById("map-legend");
    legend.textContent = "";
    const all = root.querySelectorAll(".pt");
    if (how.startsWith("meta:")) {
      const key = how.slice(5);
      const values = [...new Set([...works.values()].map((w) => w.metadata[key]).filter((v) => v !== undefined))].sort();
      const colour = new Map(values.map((v, i) => [v, PALETTE[i % PALETTE.length]]));
      for (const c of all) {
        const v = (works.get(Number(c.dataset.id)) || { metadata: {} }).metadata[key];
        c.setAttribute("fill", colour.get(v) || GREY);
      }
      for (const v of values) {
        const s = document.createElement("span");
        const dot = document.createElement("span");
        dot.className = "swatch"; dot.style.background = colour.get(v);
        s.append(dot, v);
        legend.append(s);
      }
      return;
    }
    const attr = how === "predicted" ? "predicted" : "rating";
    const vals = [...all].map((c) => num(c.dataset[attr])).filter((v) => v !== null);
    if (!vals.length) {
      const s = document.createElement("span");
      s.textContent = how === "predicted" ? "No predicted scores yet: rate works and the heads train by themselves." : "Nothing is rated yet: every work is grey.";
      legend.append(s);
    }
    let lo = Math.min(...vals), hi = Math.max(...vals);
    if (lo === hi) { lo -= 1; hi += 1; }
    for (const c of all) {
      const v = num(c.dataset[attr]);
      c.setAttribute("fill", v === null ? GREY : ramp((v - lo) / (hi - lo)));
    }
    if (vals.length) {
      const a = document.createElement("span"), r = document.createElement("span"), b = document.createElement("span"), u = document.createElement("span");
      a.textContent = (how === "predicted" ? "predicted score " : "your rating ") + fmt2(lo);
      r.className = "map-ramp"; b.textContent = fmt2(hi);
      u.className = "map-unrated"; u.textContent = how === "predicted" ? "no prediction" : "not rated";
      legend.append(a, r, b, u);
    }
  }
  document.getElementById("map-colour").addEventListener("change", recolour);

  // --- zoom and thumbnails ---------------------------------------------------
  function box(svg) { return svg.getAttribute("viewBox").split(/\s+/).map(Number); }
  function setBox(svg, b) {
    const w = Math.min(HOME[2], Math.max(0.05, b[2]));
    const x = Math.min(HOME[0] + HOME[2] - w, Math.max(HOME[0], b[0]));
    const y = Math.min(HOME[1] + HOME[3] - w, Math.max(HOME[1], b[1]));
    svg.setAttribute("viewBox", [x, y, w, w].map((v) => v.toFixed(5)).join(" "));
    for (const c of svg.querySelectorAll(".pt")) {
      if (!c.dataset.r0) c.dataset.r0 = c.getAttribute("r");
      // The same size on screen at every zoom, so that zooming pulls a
      // crowd apart.
      c.setAttribute("r", (Number(c.dataset.r0) * w / HOME[2]).toFixed(5));
    }
    thumbs(svg, [x, y, w, w]);
  }
  function zoom(svg, factor, cx, cy) {
    const b = box(svg);
    if (cx === undefined) { cx = b[0] + b[2] / 2; cy = b[1] + b[3] / 2; }
    const w = Math.min(HOME[2], Math.max(0.05, b[2] / factor));
    setBox(svg, [cx - (cx - b[0]) * w / b[2], cy - (cy - b[1]) * w / b[3], w, w]);
  }
  function thumbs(svg, b) {
    const layer = svg.querySelector("g.thumbs") || svg.appendChild(document.createElementNS("http://www.w3.org/2000/svg", "g"));
    layer.setAttribute("class", "thumbs");
    layer.textContent = "";
    if (b[2] > THUMB_AT) return;
    const size = b[2] / 9;
    const cx = b[0] + b[2] / 2, cy = b[1] + b[3] / 2;
    const inside = [...svg.querySelectorAll(".pt")]
      .map((c) => [c, Number(c.getAttribute("cx")), Number(c.getAttribute("cy"))])
      .filter(([, x, y]) => x >= b[0] && x <= b[0] + b[2] && y >= b[1] && y <= b[1] + b[3])
      .sort((p, q) => Math.hypot(p[1] - cx, p[2] - cy) - Math.hypot(q[1] - cx, q[2] - cy))
      .slice(0, MAX_THUMBS);
    for (const [c, x, y] of inside) {
      const img = document.createElementNS("http://www.w3.org/2000/svg", "image");
      img.setAttribute("href", "/api/works/" + c.dataset.id + "/thumb?size=256");
      img.setAttribute("class", "map-thumb");
      img.setAttribute("data-id", c.dataset.id);
      img.setAttribute("x", (x - size / 2).toFixed(5));
      img.setAttribute("y", (y - size / 2).toFixed(5));
      img.setAttribute("width", size.toFixed(5));
      img.setAttribute("height", size.toFixed(5));
      layer.append(img);
    }
  }
  // The buttons zoom about the work found last (hovered or tapped), in
  // each panel where it is, else about each panel's centre.
  function zoomAll(factor) {
    for (const s of svgs) {
      const c = hot === null ? null : s.querySelector('.pt[data-id="' + hot + '"]');
      if (c) zoom(s, factor, Number(c.getAttribute("cx")), Number(c.getAttribute("cy")));
      else zoom(s, factor);
    }
  }
  document.getElementById("map-zoom-in").addEventListener("click", () => zoomAll(1.6));
  document.getElementById("map-zoom-out").addEventListener("click", () => zoomAll(1 / 1.6));
  document.getElementById("map-reset").addEventListener("click", () => svgs.forEach((s) => setBox(s, HOME)));

  function toSvg(svg, clientX, clientY) {
    const m = svg.getScreenCTM().inverse();
    const p = new DOMPoint(clientX, clientY).matrixTransform(m);
    return [p.x, p.y];
  }

  // --- selection -------------------------------------------------------------
  function showSelection() {
    for (const c of root.querySelectorAll(".pt.sel")) c.classList.remove("sel");
    for (const id of selected) for (const c of circles(id)) c.classList.add("sel");
    const bar = document.getElementById("map-selection");
    bar.hidden = selected.size === 0;
    document.getElementById("map-selected-count").textContent = selected.size === 1 ? "1 work selected" : selected.size + " works selected";
    const list = document.getElementById("map-selected-list");
    list.textContent = "";
    for (const id of [...selected].sort((a, b) => a - b)) {
      const w = works.get(id);
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = "/works/" + id;
      a.textContent = "#" + id + " " + (w ? w.title : "");
      li.append(a);
      list.append(li);
    }
  }
  document.getElementById("map-clear").addEventListener("click", () => { selected.clear(); showSelection(); });

  function rows() {
    return [...selected].sort((a, b) => a - b).map((id) => {
      const w = works.get(id) || { title: "" };
      const c = circles(id)[0];
      return { id, title: w.title, rating: c ? num(c.dataset.rating) : null };
    });
  }
  function download(name, type, text) {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([text], { type }));
    a.download = name;
    document.body.append(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }
  function csvCell(s) { s = String(s === null ? "" : s); return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s; }
  document.getElementById("map-export-csv").addEventListener("click", () => {
    const lines = ["id,title,rating"].concat(rows().map((r) => [r.id, r.title, r.rating].map(csvCell).join(",")));
    download("selection.csv", "text/csv", lines.join("\n") + "\n");
  });
  document.getElementById("map-export-json").addEventListener("click", () => {
    download("selection.json", "application/json", JSON.stringify(rows(), null, 1));
  });
  document.getElementById("map-rate-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const score = Number(document.getElementById("map-rate-value").value);
    if (!Number.isFinite(score)) { say("Type a number first"); return; }
    let done = 0;
    try {
      for (const id of [...selected].sort((a, b) => a - b)) {
        await api("PUT", "/api/works/" + id + "/rating", { score });
        for (const c of circles(id)) c.dataset.rating = String(score);
        done++;
      }
      say("Rated " + (done === 1 ? "1 work " : done + " works ") + fmt2(score));
      root.dataset.rated = String(done);
    } catch (err) {
      say("Rated " + done + ", then: " + err.message);
    }
    recolour();
  });

  // --- pointers: tap links, drag selects a box, two fingers zoom and pan ---
  for (const svg of svgs) {
    const down = new Map();
    let start = null, rect = null, pan = null, pinch = null;
    svg.addEventListener("pointerdown", (e) => {
      // A touch is captured by its target already; a mouse is captured so
      // that a drag leaving the map still ends the box.
      if (e.pointerType === "mouse") svg.setPointerCapture(e.pointerId);
      down.set(e.pointerId, [e.clientX, e.clientY]);
      if (down.size === 2) {
        // A second finger: the gesture is a pinch, not a selection.
        if (rect) { rect.remove(); rect = null; }
        start = null;
        const [a, b] = [...down.values()];
        pinch = { dist: Math.hypot(a[0] - b[0], a[1] - b[1]), mid: toSvg(svg, (a[0] + b[0]) / 2, (a[1] + b[1]) / 2) };
        return;
      }
      const p = toSvg(svg, e.clientX, e.clientY);
      if (e.shiftKey || e.button === 1) { pan = { p, b: box(svg) }; return; }
      start = { p, target: e.target };
    });
    svg.addEventListener("pointermove", (e) => {
      if (!down.has(e.pointerId)) return;
      down.set(e.pointerId, [e.clientX, e.clientY]);
      if (pinch && down.size === 2) {
        const [a, b] = [...down.values()];
        const d = Math.hypot(a[0] - b[0], a[1] - b[1]);
        if (d > 0 && pinch.dist > 0) zoom(svg, d / pinch.dist, pinch.mid[0], pinch.mid[1]);
        pinch.dist = d;
        return;
      }
      if (pan) {
        const p = toSvg(svg, e.clientX, e.clientY);
        const b = box(svg);
        setBox(svg, [b[0] - (p[0] - pan.p[0]), b[1] - (p[1] - pan.p[1]), b[2], b[3]]);
        return;
      }
      if (!start) return;
      const p = toSvg(svg, e.clientX, e.clientY);
      const b = box(svg);
      if (!rect && Math.hypot(p[0] - start.p[0], p[1] - start.p[1]) < b[2] * 0.02) return;
      if (!rect) {
        rect = document.createElementNS("http://www.w3.org/2000/svg", "rect");
        rect.setAttribute("class", "map-box");
        svg.append(rect);
      }
      rect.setAttribute("x", Math.min(p[0], start.p[0]));
      rect.setAttribute("y", Math.min(p[1], start.p[1]));
      rect.setAttribute("width", Math.abs(p[0] - start.p[0]));
      rect.setAttribute("height", Math.abs(p[1] - start.p[1]));
    });
    const end = (e) => {
      down.delete(e.pointerId);
      if (pinch) { if (down.size < 2) pinch = null; return; }
      if (pan) { pan = null; return; }
      if (!start) return;
      if (rect) {
        const x0 = Number(rect.getAttribute("x")), y0 = Number(rect.getAttribute("y"));
        const x1 = x0 + Number(rect.getAttribute("width")), y1 = y0 + Number(rect.getAttribute("height"));
        rect.remove(); rect = null;
        if (!e.ctrlKey && !e.metaKey) selected.clear();
        for (const c of svg.querySelectorAll(".pt")) {
          const x = Number(c.getAttribute("cx")), y = Number(c.getAttribute("cy"));
          if (x >= x0 && x <= x1 && y >= y0 && y <= y1) selected.add(Number(c.dataset.id));
        }
        showSelection();
      } else if (e.type === "pointerup") {
        // A tap: on a point it finds the work in every panel.
        const t = start.target;
        setHot(t.classList && t.classList.contains("pt") ? Number(t.dataset.id) : null);
      }
      start = null;
    };
    svg.addEventListener("pointerup", end);
    svg.addEventListener("pointercancel", end);
    svg.addEventListener("wheel", (e) => {
      e.preventDefault();
      const p = toSvg(svg, e.clientX, e.clientY);
      zoom(svg, e.deltaY < 0 ? 1.25 : 0.8, p[0], p[1]);
    }, { passive: false });
  }
  recolour();
  root.dataset.ready = "1";
})();

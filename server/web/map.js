// The board's map view: the map pack's drawing of Japan (/api/map.svg), the
// areas of the towns where the colleagues the viewer may locate are on duty
// (/api/map/towns), and a dot per colleague. It opens fitted to those towns,
// zooms and pans by wheel, drag, pinch, the keyboard and its buttons, and
// shows the town areas, each labelled, once close enough. No online tiles.
// board.js calls BoardMap.show(people) and BoardMap.dots(people, title).
"use strict";

const BoardMap = (() => {
  const NS = "http://www.w3.org/2000/svg";
  // Map units: 20 a degree of latitude. Town areas show below this width
  // (about 60 km); a fit is never narrower than MIN_WIDTH (about 2 km).
  const TOWNS_BELOW = 10;
  const MIN_WIDTH = 0.35;
  const MARGIN = 0.35;
  const view = { svg: null, full: null, box: null, towns: [], people: [], placesKey: null, fitted: false };

  async function load(container) {
    const response = await fetch("/api/map.svg", { credentials: "same-origin" });
    const doc = new DOMParser().parseFromString(await response.text(), "image/svg+xml");
    const svg = document.importNode(doc.documentElement, true);
    container.replaceChildren(svg);
    view.svg = svg;
    view.full = svg.getAttribute("viewBox").split(/\s+/).map(Number);
    view.box = view.full.slice();
    listen(container, svg);
  }

  // The places that get a dot, as one key: the towns are fetched again
  // only when it changes.
  function placesOf(people) {
    return people.filter((p) => p.point && p.place).map((p) => p.place).sort().join("\n");
  }

  async function loadTowns(people) {
    const key = placesOf(people);
    if (key === view.placesKey) return;
    view.placesKey = key;
    const response = await fetch("/api/map/towns", { credentials: "same-origin", cache: "no-store" });
    view.towns = response.ok ? (await response.json()).towns : [];
    drawTowns();
  }

  function drawTowns() {
    const layer = view.svg.querySelector(".towns");
    layer.replaceChildren();
    for (const town of view.towns) {
      const g = document.createElementNS(NS, "g");
      g.setAttribute("class", "town");
      g.dataset.place = town.place;
      const path = document.createElementNS(NS, "path");
      path.setAttribute("d", town.path);
      path.setAttribute("fill-rule", "evenodd");
      path.setAttribute("vector-effect", "non-scaling-stroke");
      // The name to the east of the area, clear of the dots inside it.
      const text = document.createElementNS(NS, "text");
      const [, n, e, s] = town.bounds;
      text.setAttribute("x", e);
      text.setAttribute("y", (n + s) / 2);
      text.setAttribute("class", "town-label");
      text.textContent = town.label;
      g.append(path, text);
      layer.append(g);
    }
    apply();
  }

  // Fit the view to the towns (or the dots, or all of Japan), with a margin,
  // in the shape of the drawing area.
  function fit(people) {
    const boxes = view.towns.map((t) => t.bounds);
    for (const p of people) if (p.point) boxes.push([p.point[0], p.point[1], p.point[0], p.point[1]]);
    if (!boxes.length) {
      view.box = view.full.slice();
    } else {
      let [w, n, e, s] = boxes[0];
      for (const b of boxes) { w = Math.min(w, b[0]); n = Math.min(n, b[1]); e = Math.max(e, b[2]); s = Math.max(s, b[3]); }
      const width = Math.max((e - w) * (1 + 2 * MARGIN), MIN_WIDTH);
      const height = Math.max((s - n) * (1 + 2 * MARGIN), MIN_WIDTH * 0.75);
      view.box = shaped([(w + e) / 2 - width / 2, (n + s) / 2 - height / 2, width, height]);
    }
    apply();
  }

  // A box widened to the drawing area's proportions, around its middle.
  function shaped([x, y, w, h]) {
    const r = view.svg.clientWidth / Math.max(view.svg.clientHeight, 1) || 4 / 3;
    if (w / h < r) { const nw = h * r; return [x - (nw - w) / 2, y, nw, h]; }
    const nh = w / r;
    return [x, y - (nh - h) / 2, w, nh];
  }

  function apply() {
    const [x, y, w, h] = view.box;
    view.svg.setAttribute("viewBox", [x, y, w, h].map((v) => v.toFixed(4)).join(" "));
    const close = w < TOWNS_BELOW;
    const layer = view.svg.querySelector(".towns");
    layer.classList.toggle("hidden", !close);
    for (const text of layer.querySelectorAll("text")) {
      text.setAttribute("font-size", (w / 55).toFixed(4));
      text.setAttribute("stroke-width", (w / 300).toFixed(4));
      text.setAttribute("dx", (w / 150).toFixed(4));
    }
    for (const dot of view.svg.querySelectorAll(".dots circle")) {
      dot.setAttribute("r", (w / 90).toFixed(4));
    }
  }

  // Zoom by `factor` (> 1 closer) about the map point `at` [x, y].
  function zoom(factor, at) {
    const [x, y, w, h] = view.box;
    const [cx, cy] = at || [x + w / 2, y + h / 2];
    const nw = Math.min(Math.max(w / factor, 0.05), view.full[2] * 1.5);
    const k = nw / w;
    view.box = [cx - (cx - x) * k, cy - (cy - y) * k, w * k, h * k];
    apply();
  }

  function pan(dx, dy) {
    view.box[0] += dx;
    view.box[1] += dy;
    apply();
  }

  // A point on the screen in map units.
  function toMap(clientX, clientY) {
    const m = view.svg.getScreenCTM();
    if (!m) return null;
    const p = new DOMPoint(clientX, clientY).matrixTransform(m.inverse());
    return [p.x, p.y];
  }

  function listen(container, svg) {
    svg.addEventListener("wheel", (e) => {
      e.preventDefault();
      zoom(e.deltaY < 0 ? 1.25 : 0.8, toMap(e.clientX, e.clientY));
    }, { passive: false });
    // Drag with one pointer (mouse, pen or finger), pinch with two.
    const pointers = new Map();
    let pinch = null;
    svg.addEventListener("pointerdown", (e) => {
      try { svg.setPointerCapture(e.pointerId); } catch (_) { /* a pointer already gone */ }
      pointers.set(e.pointerId, [e.clientX, e.clientY]);
      pinch = null;
    });
    svg.addEventListener("pointermove", (e) => {
      const before = pointers.get(e.pointerId);
      if (!before) return;
      pointers.set(e.pointerId, [e.clientX, e.clientY]);
      if (pointers.size === 1) {
        const a = toMap(before[0], before[1]), b = toMap(e.clientX, e.clientY);
        if (a && b) pan(a[0] - b[0], a[1] - b[1]);
      } else if (pointers.size === 2) {
        const [p, q] = [...pointers.values()];
        const dist = Math.hypot(p[0] - q[0], p[1] - q[1]);
        const mid = toMap((p[0] + q[0]) / 2, (p[1] + q[1]) / 2);
        if (pinch && mid) zoom(dist / pinch, mid);
        pinch = dist;
      }
    });
    const up = (e) => { pointers.delete(e.pointerId); pinch = null; };
    svg.addEventListener("pointerup", up);
    svg.addEventListener("pointercancel", up);
    svg.addEventListener("dblclick", (e) => zoom(2, toMap(e.clientX, e.clientY)));
    container.addEventListener("keydown", (e) => {
      if (e.altKey || e.ctrlKey || e.metaKey) return;
      const [, , w, h] = view.box;
      const step = { ArrowLeft: [-w / 8, 0], ArrowRight: [w / 8, 0], ArrowUp: [0, -h / 8], ArrowDown: [0, h / 8] }[e.key];
      if (step) pan(step[0], step[1]);
      else if (e.key === "+" || e.key === "=") zoom(1.5);
      else if (e.key === "-" || e.key === "_") zoom(1 / 1.5);
      else if (e.key === "0" || e.key === "Home") fit(view.people);
      else return;
      e.preventDefault();
    });
  }

  // Opens the map (loading it once) and fits it to the people's towns the
  // first time, or when asked to.
  async function show(container, people, refit) {
    if (!view.svg) await load(container);
    view.people = people;
    await loadTowns(people);
    if (!view.fitted || refit) { fit(people); view.fitted = true; }
  }

  // One dot per person with a point, `title(p)` as its tooltip.
  function dots(people, title) {
    if (!view.svg) return;
    view.people = people;
    const layer = view.svg.querySelector(".dots");
    layer.replaceChildren();
    for (const p of people) {
      if (!p.point) continue;
      const c = document.createElementNS(NS, "circle");
      c.setAttribute("cx", p.point[0]);
      c.setAttribute("cy", p.point[1]);
      c.setAttribute("class", "dot st-" + p.state);
      c.dataset.account = p.account;
      const t = document.createElementNS(NS, "title");
      t.textContent = title(p);
      c.append(t);
      layer.append(c);
    }
    apply();
    loadTowns(people);
  }

  return { show, dots, zoom: (f) => view.svg && zoom(f), fit: () => view.svg && fit(view.people) };
})();

// A small time-series line chart drawn with plain SVG (no library).
//
//   const ch = new Chart(container, {windowMs: 300000, unit: "/s"});
//   ch.push(Date.now(), {message: 12.5, direct: 1});   // one reading per series
//
// Series appear when first pushed; a series missing from a later reading
// counts as 0 at that time. The container gets data-points, data-last and
// data-max attributes (the latest reading's sum and the largest value in
// the window), which tests and curious operators can read.

const SVG = "http://www.w3.org/2000/svg";
const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"];
const W = 640, H = 200, L = 44, R = 8, T = 10, B = 22;

function el(name, attrs = {}, parent) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (parent) parent.appendChild(e);
  return e;
}

// niceMax rounds v up to 1, 2 or 5 times a power of ten.
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmt(v) {
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2).replace(/\.?0+$/, "") || "0";
}

export class Chart {
  constructor(container, {windowMs = 300_000, unit = "/s", empty = "waiting for two readings…"} = {}) {
    this.box = container;
    this.windowMs = windowMs;
    this.unit = unit;
    this.points = []; // {t, v: {series: value}}
    this.series = []; // names in order of appearance
    this.svg = el("svg", {viewBox: `0 0 ${W} ${H}`, role: "img"});
    this.title = el("title", {}, this.svg);
    this.legend = document.createElement("ul");
    this.legend.className = "legend";
    this.emptyText = empty;
    container.replaceChildren(this.svg, this.legend);
    this.draw();
  }

  push(t, values) {
    for (const k of Object.keys(values)) if (!this.series.includes(k)) this.series.push(k);
    this.points.push({t, v: values});
    const cut = t - this.windowMs;
    while (this.points.length > 2 && this.points[0].t < cut) this.points.shift();
    this.draw();
  }

  draw() {
    const svg = this.svg;
    while (svg.lastChild !== this.title) svg.removeChild(svg.lastChild);
    const pts = this.points;
    const now = pts.length ? pts[pts.length - 1].t : Date.now();
    // The x axis spans the data, at least 30 s and at most the window,
    // so the first readings are not squeezed against the right edge.
    const span = Math.min(this.windowMs, Math.max(30_000, pts.length ? now - pts[0].t : 0));
    const t0 = now - span;
    let max = 0;
    for (const p of pts) for (const s of this.series) max = Math.max(max, p.v[s] || 0);
    const top = niceMax(max);
    const x = t => L + ((t - t0) / span) * (W - L - R);
    const y = v => T + (1 - v / top) * (H - T - B);

    // grid and labels
    for (const f of [0, 0.5, 1]) {
      const yy = y(top * f);
      el("line", {x1: L, x2: W - R, y1: yy, y2: yy, class: "grid"}, svg);
      el("text", {x: L - 4, y: yy + 4, "text-anchor": "end", class: "axis"}, svg).textContent = fmt(top * f);
    }
    const secs = Math.round(span / 1000);
    el("text", {x: L, y: H - 6, class: "axis"}, svg).textContent =
      secs < 120 ? `${secs} s ago` : `${Math.round(secs / 60)} min ago`;
    el("text", {x: W - R, y: H - 6, "text-anchor": "end", class: "axis"}, svg).textContent = "now";

    if (pts.length === 0) {
      el("text", {x: W / 2, y: H / 2, "text-anchor": "middle", class: "axis"}, svg).textContent = this.emptyText;
    }
    this.series.forEach((s, i) => {
      if (!pts.length) return;
      const d = pts.map((p, j) => `${j ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v[s] || 0).toFixed(1)}`).join(" ");
      const color = COLORS[i % COLORS.length];
      el("path", {d, fill: "none", stroke: color, "stroke-width": 2, "stroke-linejoin": "round", "data-series": s,
        "vector-effect": "non-scaling-stroke"}, svg);
      const lp = pts[pts.length - 1];
      el("circle", {cx: x(lp.t), cy: y(lp.v[s] || 0), r: 3, fill: color}, svg);
    });

    const last = pts.length ? pts[pts.length - 1].v : {};
    const sum = this.series.reduce((a, s) => a + (last[s] || 0), 0);
    this.title.textContent = `${this.series.length} series, latest total ${fmt(sum)}${this.unit}`;
    this.box.dataset.points = String(pts.length);
    this.box.dataset.last = String(sum);
    this.box.dataset.max = String(max);
    this.legend.replaceChildren(...this.series.map((s, i) => {
      const li = document.createElement("li");
      const sw = document.createElement("span");
      sw.className = "swatch";
      sw.style.background = COLORS[i % COLORS.length];
      li.append(sw, `${s}: ${fmt(last[s] || 0)}${this.unit}`);
      return li;
    }));
    if (!this.series.length && pts.length) {
      const li = document.createElement("li");
      li.textContent = "nothing counted yet";
      this.legend.append(li);
    }
  }
}

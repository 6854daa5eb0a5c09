// Stacked bar charts as inline SVG (issue #18 part 5): no chart library, nothing from a CDN.
// `stackedBars(rows, series, {title})` returns an <svg>: one bar per row, one coloured part per
// series (rows[i].values[series.key]), a y axis with round ticks, a legend, and a <title> per
// part so screen readers and hover tooltips give the exact count.

const SVG = "http://www.w3.org/2000/svg";
const W = 520;
const H = 240;
const M = { top: 30, right: 8, bottom: 60, left: 36 };

function node(tag, attrs = {}, text = null) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== null) el.textContent = text;
  return el;
}

export function niceStep(max, ticks = 4) {
  // a 1/2/5 × 10^n step giving about `ticks` ticks up to `max`
  const raw = Math.max(max, 1) / ticks;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  return Math.max(1, step);
}

export function stackedBars(rows, series, { title = "", emptyText = "" } = {}) {
  const svg = node("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title });
  svg.append(node("title", {}, title));
  svg.append(node("text", { x: M.left, y: 14, "font-weight": 700 }, title));
  if (!rows.length) {
    svg.append(node("text", { x: W / 2, y: H / 2, "text-anchor": "middle", fill: "#5c6578" }, emptyText));
    return svg;
  }
  const totals = rows.map((r) => series.reduce((sum, s) => sum + (r.values[s.key] ?? 0), 0));
  const step = niceStep(Math.max(...totals));
  const top = Math.ceil(Math.max(...totals, 1) / step) * step;
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const y = (v) => M.top + plotH - (v / top) * plotH;
  for (let v = 0; v <= top; v += step) {
    svg.append(node("line", { x1: M.left, x2: W - M.right, y1: y(v), y2: y(v), stroke: "#e4e7ee" }));
    svg.append(node("text", { x: M.left - 4, y: y(v) + 4, "text-anchor": "end", fill: "#5c6578" }, v));
  }
  const slot = plotW / rows.length;
  const barW = Math.max(2, Math.min(40, slot * 0.7));
  rows.forEach((row, i) => {
    const x = M.left + i * slot + (slot - barW) / 2;
    let base = 0;
    const group = node("g", { "data-bar": row.label });
    for (const s of series) {
      const value = row.values[s.key] ?? 0;
      if (!value) continue;
      const rect = node("rect", {
        x, y: y(base + value), width: barW, height: Math.max(0.5, y(base) - y(base + value)), fill: s.colour,
      });
      rect.append(node("title", {}, `${row.label} · ${s.label}: ${value}`));
      group.append(rect);
      base += value;
    }
    svg.append(group);
    svg.append(node("text", { x: x + barW / 2, y: y(totals[i]) - 3, "text-anchor": "middle" }, totals[i]));
    const label = row.label.length > 14 ? `${row.label.slice(0, 13)}…` : row.label;
    svg.append(node("text", {
      x: x + barW / 2, y: H - M.bottom + 12, "text-anchor": "end",
      transform: `rotate(-35 ${x + barW / 2} ${H - M.bottom + 12})`,
    }, label));
  });
  // the legend on the title's line, right-aligned; CJK characters are about twice as wide
  const textPx = (text) => [...text].reduce((sum, c) => sum + (c.charCodeAt(0) > 0x2e80 ? 12 : 7), 0);
  let lx = W - M.right - series.reduce((sum, s) => sum + 22 + textPx(s.label), 0);
  for (const s of series) {
    svg.append(node("rect", { x: lx, y: 5, width: 10, height: 10, fill: s.colour }));
    svg.append(node("text", { x: lx + 14, y: 14 }, s.label));
    lx += 22 + textPx(s.label);
  }
  return svg;
}

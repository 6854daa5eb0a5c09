// Events page (issue #18 part 5): the violation queue with evidence (snapshots, clip) and
// confirm / dismiss / resolve with a note; statistics per zone and per day as inline SVG
// charts with CSV downloads; watchlists and their hits. Everything through /api/v1.
import { api, t, flash, PAGE, fmtTime, requireCase } from "./shell.js";
import { stackedBars } from "./svg_chart.js";
import { el, errorText, isoInput, downloadAs } from "./page_tools.js";

const PAGE_SIZE = 25;
const may = PAGE.may ?? {};
const STATES = [
  { key: "open", colour: "#e0a800" }, { key: "confirmed", colour: "#b3261e" },
  { key: "dismissed", colour: "#9aa1ad" }, { key: "resolved", colour: "#1e7a3c" },
];
let offset = 0;
let total = 0;
let selectedId = null;
const zoneNames = {}; // zone id → "camera · name"

// ---- tabs ----------------------------------------------------------------------------------

for (const tab of document.querySelectorAll('[role="tab"]')) {
  tab.addEventListener("click", () => {
    for (const other of document.querySelectorAll('[role="tab"]')) {
      const on = other === tab;
      other.setAttribute("aria-selected", String(on));
      document.getElementById(other.getAttribute("aria-controls")).hidden = !on;
    }
    if (tab.id === "tab-stats") loadStats().catch((e) => flash(errorText(e)));
    if (tab.id === "tab-watch") loadWatchlists().catch((e) => flash(errorText(e)));
  });
}

// ---- the queue -----------------------------------------------------------------------------

function zoneLabel(zoneId) {
  return zoneId === null ? "—" : zoneNames[zoneId] ?? `#${zoneId}`;
}

async function loadQueue() {
  const query = {
    state: document.getElementById("f-state").value, type: document.getElementById("f-type").value,
    camera_id: document.getElementById("f-camera").value, start: isoInput("f-start"), end: isoInput("f-end"),
    limit: PAGE_SIZE, offset,
  };
  const page = await api("events", { query });
  total = page.total;
  document.getElementById("event-total").textContent = t("events.total", { count: total });
  document.getElementById("ev-page").textContent = total
    ? t("events.range", { from: offset + 1, to: offset + page.items.length }) : "";
  document.getElementById("ev-prev").disabled = offset === 0;
  document.getElementById("ev-next").disabled = offset + PAGE_SIZE >= total;
  document.getElementById("event-rows").replaceChildren(...page.items.map(row));
}

function row(event) {
  const tr = el("tr", { "data-event": event.id, tabIndex: 0 },
    el("td", { text: event.id }), el("td", { text: t(`events.type.${event.type}`) }),
    el("td", { text: event.camera_id }), el("td", { text: zoneLabel(event.zone_id) }),
    el("td", { text: fmtTime(event.started_at) }), el("td", { text: t(`events.severity.${event.severity}`) }),
    el("td", {}, el("span", { className: `pill ${event.state}`, text: t(`events.state.${event.state}`) })));
  if (event.id === selectedId) tr.className = "selected";
  const open = () => showEvent(event.id).catch((e) => flash(errorText(e)));
  tr.addEventListener("click", open);
  tr.addEventListener("keydown", (e) => e.key === "Enter" && open());
  return tr;
}

async function showEvent(id) {
  selectedId = id;
  for (const tr of document.querySelectorAll("#event-rows tr")) tr.classList.toggle("selected", tr.dataset.event === String(id));
  const event = await api(`events/${id}`);
  const box = document.getElementById("event-detail");
  const snaps = el("div", { className: "snaps" }, ...event.snapshots.map((s, i) =>
    el("img", { src: s.url, alt: t("events.snapshot", { n: i + 1, time: fmtTime(s.at) }), loading: "lazy" })));
  const video = event.clip_available && event.clip_url
    ? el("video", { src: event.clip_url, controls: true, preload: "metadata", "aria-label": t("events.clip") })
    : el("p", { className: "hint", "data-testid": "event-no-clip", text: t("events.no_clip") });
  const facts = el("dl", { className: "facts" },
    el("dt", { text: t("events.type") }), el("dd", { text: t(`events.type.${event.type}`) }),
    el("dt", { text: t("events.camera") }), el("dd", { text: event.camera_id }),
    el("dt", { text: t("events.zone") }), el("dd", { text: zoneLabel(event.zone_id) }),
    el("dt", { text: t("events.started") }), el("dd", { text: fmtTime(event.started_at) }),
    el("dt", { text: t("events.ended") }), el("dd", { text: event.ended_at ? fmtTime(event.ended_at) : t("events.ongoing") }),
    el("dt", { text: t("events.state") }), el("dd", { "data-testid": "event-state", text: t(`events.state.${event.state}`) }),
    el("dt", { text: t("events.reviewer") }), el("dd", { text: event.reviewer ? `${event.reviewer}: ${event.review_note ?? ""}` : "—" }));
  box.replaceChildren(el("h2", { text: t("events.event", { id: event.id }) }), snaps, video, facts);
  if (may.event_review) box.append(reviewForm(event));
}

function reviewForm(event) {
  const note = el("textarea", { id: "review-note", rows: 2, maxLength: 2000 });
  const error = el("p", { className: "error", role: "alert", hidden: true });
  const buttons = ["confirmed", "dismissed", "resolved"].map((state) => {
    const button = el("button", { type: "button", text: t(`events.do.${state}`), "data-review": state });
    if (state !== "confirmed") button.className = "secondary";
    button.addEventListener("click", async () => {
      error.hidden = true;
      try {
        const saved = await api(`events/${event.id}/review`, { method: "POST", body: { state, note: note.value.trim() || null } });
        flash(t("events.reviewed", { id: saved.id, state: t(`events.state.${saved.state}`) }), "info");
        await Promise.all([loadQueue(), showEvent(saved.id)]);
      } catch (e) {
        error.textContent = errorText(e); // the note stays in the box
        error.hidden = false;
      }
    });
    return button;
  });
  return el("form", { className: "review" },
    el("label", {}, t("events.note"), note), error, el("menu", {}, ...buttons));
}

document.getElementById("event-filters").addEventListener("submit", (e) => {
  e.preventDefault();
  offset = 0;
  loadQueue().catch((err) => flash(errorText(err)));
});
document.getElementById("ev-prev").addEventListener("click", () => {
  offset = Math.max(0, offset - PAGE_SIZE);
  loadQueue().catch((e) => flash(errorText(e)));
});
document.getElementById("ev-next").addEventListener("click", () => {
  offset += PAGE_SIZE;
  loadQueue().catch((e) => flash(errorText(e)));
});

// ---- statistics ----------------------------------------------------------------------------

function statsQuery(group) {
  return { group, camera_id: document.getElementById("s-camera").value, start: isoInput("s-start"), end: isoInput("s-end") };
}

async function loadStats() {
  const series = STATES.map((s) => ({ ...s, label: t(`events.state.${s.key}`) }));
  const [byZone, byDay] = await Promise.all([
    api("events/stats", { query: statsQuery("zone") }), api("events/stats", { query: statsQuery("day") }),
  ]);
  const rows = (stats, label) => stats.map((s) => ({ label: label(s), values: s }));
  document.getElementById("chart-zone").replaceChildren(stackedBars(
    rows(byZone, (s) => (s.zone_id === null ? t("events.zone_removed") : zoneLabel(s.zone_id))), series,
    { title: t("events.per_zone"), emptyText: t("events.no_events") }));
  const days = [...byDay].sort((a, b) => (a.day < b.day ? -1 : 1));
  document.getElementById("chart-day").replaceChildren(stackedBars(
    rows(days, (s) => s.day), series, { title: t("events.per_day"), emptyText: t("events.no_events") }));
}

document.getElementById("stats-filters").addEventListener("submit", (e) => {
  e.preventDefault();
  loadStats().catch((err) => flash(errorText(err)));
});
for (const group of ["zone", "day"]) {
  document.getElementById(`csv-${group}`).addEventListener("click",
    () => downloadAs("events/stats", { ...statsQuery(group), format: "csv" }, `event-stats-${group}.csv`));
}

// ---- watchlists ----------------------------------------------------------------------------

async function loadWatchlists() {
  const lists = await api("watchlists");
  document.getElementById("watch-rows").replaceChildren(...lists.map((w) => {
    const tr = el("tr", { "data-watchlist": w.id },
      el("td", { text: w.name }), el("td", { text: w.case_id }), el("td", { className: "num", text: w.entries.length }),
      el("td", { text: fmtTime(w.expires_at) }), el("td", { text: w.active ? "✓" : t("watch.ended") }));
    tr.addEventListener("click", () => loadHits(w).catch((e) => flash(errorText(e))));
    return tr;
  }));
}

async function loadHits(watchlist) {
  document.getElementById("watch-selected").textContent = `· ${watchlist.name}`;
  const hits = await api(`watchlists/${watchlist.id}/hits`);
  document.getElementById("hit-rows").replaceChildren(...hits.map((h) => el("tr", {},
    el("td", { text: fmtTime(h.at) }), el("td", { text: h.camera_id }), el("td", { text: h.plate_text ?? "—" }),
    el("td", { className: "num", text: h.score.toFixed(2) }),
    el("td", {}, el("a", { href: `/ui/tracks/${h.track_id}`, text: `#${h.track_id}` })))));
  if (!hits.length) document.getElementById("hit-rows").append(el("tr", {}, el("td", { colSpan: 5, className: "hint", text: t("watch.no_hits") })));
}

document.getElementById("watch-form")?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("watch-error");
  error.hidden = true;
  const name = document.getElementById("w-name").value.trim();
  const plates = document.getElementById("w-plates").value.split(/\n/).map((s) => s.trim()).filter(Boolean);
  const expires = isoInput("w-expires");
  if (!name || !expires) {
    error.textContent = t("watch.needs");
    error.hidden = false;
    return;
  }
  try {
    const chosen = await requireCase(t("watch.case_hint"));
    const match = document.getElementById("w-match").value;
    await api("watchlists", { method: "POST", body: {
      name, case_id: chosen.id, purpose: chosen.purpose, expires_at: expires,
      entries: plates.map((pattern) => ({ kind: "plate", pattern, match })),
    } });
    flash(t("watch.created", { name }), "info");
    event.target.reset();
    await loadWatchlists();
  } catch (e) {
    error.textContent = errorText(e);
    error.hidden = false;
  }
});

// ---- start ---------------------------------------------------------------------------------

async function start() {
  const cameras = await api("cameras");
  for (const id of ["f-camera", "s-camera"]) {
    document.getElementById(id).append(...cameras.map((c) => new Option(c.name, c.id)));
  }
  const zoneLists = await Promise.all(cameras.map((c) => api(`cameras/${encodeURIComponent(c.id)}/zones`).catch(() => [])));
  cameras.forEach((c, i) => zoneLists[i].forEach((z) => (zoneNames[z.id] = `${c.name} · ${z.name}`)));
  await loadQueue();
}

start()
  .catch((e) => flash(errorText(e)))
  .finally(() => (document.documentElement.dataset.ready = "events"));

// Cases pages (issue #18 part 7): the list of cases (open a new one), and one case — its
// activity (everything done under it), its evidence exports with build progress, download and
// the server's verification of the stored bundle, and the form that builds an export.
import { api, t, flash, PAGE, fmtTime, currentCase, caseTracks } from "./shell.js";
import { el, errorText, downloadAs } from "./page_tools.js";

const POLL_MS = 1500;
const may = PAGE.may ?? {};
const caseId = PAGE.case_id ?? null;

// ---- the list ------------------------------------------------------------------------------

async function loadCases() {
  const cases = await api("cases", { query: { open_only: document.getElementById("open-only").checked } });
  document.getElementById("case-rows").replaceChildren(...cases.map((c) => el("tr", { "data-case": c.id },
    el("td", {}, el("a", { href: `/ui/cases/${encodeURIComponent(c.id)}`, text: c.id })),
    el("td", { text: c.title }), el("td", { text: c.created_by }), el("td", { text: fmtTime(c.created_at) }),
    el("td", {}, el("span", { className: `pill ${c.is_open ? "open" : "resolved"}`, text: c.is_open ? t("cases.is_open") : t("cases.closed") })))));
}

function listPage() {
  document.getElementById("open-only").addEventListener("change", () => loadCases().catch((e) => flash(errorText(e))));
  document.getElementById("case-new-form")?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = document.getElementById("new-error");
    const title = document.getElementById("new-title").value.trim();
    error.hidden = true;
    if (!title) {
      error.textContent = t("case.title_needed");
      error.hidden = false;
      return;
    }
    try {
      const made = await api("cases", { method: "POST", body: { title } });
      location.assign(`/ui/cases/${encodeURIComponent(made.id)}`);
    } catch (e) {
      error.textContent = errorText(e);
      error.hidden = false;
    }
  });
  return loadCases();
}

// ---- one case ------------------------------------------------------------------------------

const exports = new Map(); // export id → latest ExportOut (or {id, pending})
const watched = new Set(); // exports built while this page watched: verified once built
const verifications = new Map();
let nextSeq = 0;
let knownTracks = new Set();

function exportsUrl(id = "") {
  return `cases/${encodeURIComponent(caseId)}/exports${id ? `/${encodeURIComponent(id)}` : ""}`;
}

async function loadActivity(more = false) {
  const page = await api(`cases/${encodeURIComponent(caseId)}/activity`, { query: { after_seq: more ? nextSeq : 0 } });
  document.getElementById("case-heading").textContent = `${page.title} (${page.case_id})`;
  document.getElementById("case-facts").textContent = t("cases.facts", {
    by: page.created_by, state: page.is_open ? t("cases.is_open") : t("cases.closed"),
  });
  document.getElementById("case-close").hidden = !(page.is_open && may.cases && (page.created_by === PAGE.user.name || PAGE.user.role === "admin"));
  const rows = page.activity.map((a) => el("tr", {},
    el("td", { text: fmtTime(a.at) }), el("td", { text: `${a.principal} (${a.role})` }),
    el("td", { text: a.action }), el("td", { text: a.target ?? "—" }), el("td", { text: a.purpose ?? "" })));
  const body = document.getElementById("activity-rows");
  if (more) body.append(...rows);
  else body.replaceChildren(...rows);
  nextSeq = page.next_after_seq ?? nextSeq;
  document.getElementById("activity-more").hidden = page.next_after_seq === null;
  for (const a of page.activity) {
    if (a.action === "export_requested" && a.target?.startsWith("export:")) {
      const id = a.target.slice("export:".length);
      if (!exports.has(id)) exports.set(id, { id, pending: true });
    }
    if (a.target?.startsWith("track:")) knownTracks.add(a.target.slice("track:".length));
  }
  const tracks = document.getElementById("x-tracks");
  // the tracks filed under this case on track pages, else those viewed under it
  const added = (await caseTracks(caseId).catch(() => [])).map(String);
  const offered = added.length ? added : [...knownTracks];
  if (tracks && !tracks.value && offered.length) tracks.value = offered.join(", ");
  return page;
}

async function refreshExports() {
  await Promise.all([...exports.keys()].map(async (id) => {
    const old = exports.get(id);
    if (old.state === "succeeded" || old.state === "failed" || old.state === "cancelled") return;
    try {
      const now = await api(exportsUrl(id));
      exports.set(id, now);
      if (now.state === "succeeded" && watched.has(id)) await verify(id);
      if (now.state !== old.state && !old.pending) await loadActivity(); // built, verified
    } catch (e) {
      exports.set(id, { id, state: "unavailable", error: e.detail, track_ids: [], progress: 0 });
    }
  }));
  renderExports();
}

function renderExports() {
  const rows = [...exports.values()].reverse().map((x) => {
    const actions = el("div", { className: "actions" });
    if (x.state === "succeeded") {
      const download = el("button", { type: "button", className: "secondary", text: t("cases.download"), "data-action": "download" });
      download.addEventListener("click", () => downloadBundle(x));
      const check = el("button", { type: "button", className: "secondary", text: t("cases.verify"), "data-action": "verify" });
      check.addEventListener("click", () => verify(x.id).then(renderExports));
      actions.append(download, check);
    }
    const v = verifications.get(x.id);
    const verdict = !v ? el("span", { className: "hint", text: x.state === "succeeded" ? t("cases.not_checked") : "—" })
      : v.ok ? el("span", { className: "verified", text: t("cases.verified", { files: v.files_checked }) })
        : el("span", { className: "not-verified", text: t("cases.not_verified", { problems: v.problems.join("; ") }) });
    return el("tr", { "data-export": x.id },
      el("td", { className: "mono", text: x.id.slice(0, 12) }), el("td", { text: (x.track_ids ?? []).join(", ") }),
      el("td", {}, el("span", { className: `pill ${x.state ?? "requested"}`, text: t(`cases.export_state.${x.state ?? "requested"}`) }),
        x.error ? el("div", { className: "error", text: x.error }) : ""),
      el("td", {}, el("progress", { max: 1, value: x.progress ?? 0, "aria-label": t("jobs.progress") })),
      el("td", { "data-testid": "export-verification" }, verdict,
        x.sha256 ? el("div", { className: "mono", text: `SHA-256 ${x.sha256}` }) : ""),
      el("td", {}, actions));
  });
  document.getElementById("export-rows").replaceChildren(...rows);
  if (!rows.length) document.getElementById("export-rows").append(el("tr", {}, el("td", { colSpan: 6, className: "hint", text: t("cases.no_exports") })));
}

async function verify(id) {
  try {
    verifications.set(id, await api(`${exportsUrl(id)}/verification`));
  } catch (e) {
    flash(errorText(e));
  }
}

function downloadBundle(x) {
  return downloadAs(x.download_path, undefined, `case-${caseId}-${x.id}.zip`);
}

async function build(event) {
  event.preventDefault();
  const error = document.getElementById("export-error");
  error.hidden = true;
  const raw = document.getElementById("x-tracks").value;
  const ids = raw.split(/[,，\s]+/).filter(Boolean);
  const bad = ids.filter((s) => !/^\d+$/.test(s));
  const purpose = document.getElementById("x-purpose").value.trim();
  const problem = !ids.length ? t("cases.tracks_needed") : bad.length ? t("cases.tracks_bad", { bad: bad.join(", ") })
    : !purpose ? t("cases.purpose_needed") : null;
  if (problem) {
    error.textContent = problem;
    error.hidden = false;
    return;
  }
  try {
    const made = await api(exportsUrl(), { method: "POST", body: {
      track_ids: ids.map(Number), purpose, pad_s: Number(document.getElementById("x-pad").value || 0),
      include_originals: document.getElementById("x-originals")?.checked ?? false,
    } });
    exports.set(made.id, made);
    watched.add(made.id);
    flash(t("cases.export_queued", { id: made.id.slice(0, 12) }), "info");
    renderExports();
    await loadActivity();
  } catch (e) {
    error.textContent = errorText(e); // the form keeps what was typed
    error.hidden = false;
  }
}

async function casePage() {
  const chosen = currentCase();
  const purpose = document.getElementById("x-purpose");
  if (purpose && chosen?.id === caseId) purpose.value = chosen.purpose;
  document.getElementById("export-form")?.addEventListener("submit", build);
  document.getElementById("activity-more").addEventListener("click", () => loadActivity(true).catch((e) => flash(errorText(e))));
  document.getElementById("case-close").addEventListener("click", async () => {
    if (!confirm(t("cases.close_confirm"))) return;
    try {
      await api(`cases/${encodeURIComponent(caseId)}/close`, { method: "POST" });
      await loadActivity();
    } catch (e) {
      flash(errorText(e));
    }
  });
  await loadActivity();
  if (may.exports) {
    await refreshExports();
    setInterval(() => refreshExports().catch((e) => flash(errorText(e))), POLL_MS);
  } else {
    renderExports();
  }
}

(caseId ? casePage() : listPage())
  .catch((e) => flash(errorText(e)))
  .finally(() => (document.documentElement.dataset.ready = "cases"));

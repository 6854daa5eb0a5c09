// Jobs and footage page (issue #18 part 6): upload a video file with a progress bar (resumable,
// see footage_upload.js), the caller's uploads, a form that starts a re-index job (cameras,
// time range, detector, embedder, priority), and re-index jobs with progress and
// pause / resume / cancel. A refused file or job leaves the form as it was, with the reason
// next to the field it is about.
import { api, t, flash, PAGE, fmtTime } from "./shell.js";
import { uploadFootage, UploadRefused } from "./footage_upload.js";
import { el } from "./page_tools.js";

const REFRESH_MS = 2000;
const may = PAGE.may ?? {};
const ACTIVE = new Set(["queued", "running", "paused"]);

const pill = (state, prefix) => el("span", { className: `pill ${state}`, text: t(`${prefix}.${state}`) });
const errorText = (e) => t("common.error", { detail: e.detail ?? e.message ?? String(e) });

// ---- upload --------------------------------------------------------------------------------

function mb(bytes) {
  return (bytes / 1024 / 1024).toFixed(1);
}

async function send(event) {
  event.preventDefault();
  const error = document.getElementById("u-error");
  const status = document.getElementById("u-status");
  const bar = document.getElementById("u-progress");
  const button = document.getElementById("u-send");
  error.hidden = true;
  const file = document.getElementById("u-file").files[0];
  const label = document.getElementById("u-label").value.trim();
  if (!label) {
    error.textContent = t("jobs.label_needed");
    error.hidden = false;
    return;
  }
  const fields = { camera_label: label };
  const start = document.getElementById("u-start").value;
  if (start) fields.start_time = new Date(start).toISOString();
  for (const [field, id] of [["lat", "u-lat"], ["lon", "u-lon"]]) {
    const value = document.getElementById(id).value;
    if (value !== "") fields[field] = Number(value);
  }
  button.disabled = true;
  bar.hidden = false;
  bar.value = 0;
  try {
    const upload = await uploadFootage(file, fields, ({ phase, sent, total }) => {
      bar.value = total ? sent / total : 0;
      status.textContent = t(`jobs.phase.${phase}`, { sent: mb(sent), total: mb(total) });
    });
    if (upload.state === "stored") {
      const report = upload.report ?? {};
      status.textContent = t("jobs.stored_as", {
        segments: report.segments ?? 0, seconds: Math.round(report.footage_s ?? 0), camera: upload.camera_id,
      });
      document.getElementById("upload-form").reset();
    } else {
      error.textContent = t("jobs.refused", { detail: upload.error ?? upload.state }); // the form keeps the file
      error.hidden = false;
    }
  } catch (e) {
    error.textContent = e instanceof UploadRefused ? e.message : errorText(e);
    error.hidden = false;
    status.textContent = "";
    bar.hidden = true;
  } finally {
    button.disabled = false;
    refresh();
  }
}

async function loadUploads() {
  const uploads = await api("footage/uploads", { query: { limit: 20 } });
  document.getElementById("upload-rows").replaceChildren(...uploads.map((u) => el("tr", { "data-upload": u.id },
    el("td", { text: u.filename }), el("td", { text: u.camera_label }),
    el("td", {}, pill(u.state, "jobs.upload_state"), u.error ? el("div", { className: "error", text: u.error }) : ""),
    el("td", { text: u.report ? t("jobs.report", { segments: u.report.segments ?? 0, seconds: Math.round(u.report.footage_s ?? 0) }) : "—" }),
    el("td", { text: fmtTime(u.created_at) }))));
}

// ---- re-index jobs -------------------------------------------------------------------------

function jobRow(job) {
  const progress = el("progress", { max: 1, value: job.progress, "aria-label": t("jobs.progress") });
  const actions = el("div", { className: "actions" });
  const act = (verb) => {
    const button = el("button", { type: "button", className: "secondary", text: t(`jobs.do.${verb}`), "data-action": verb });
    button.addEventListener("click", async () => {
      try {
        await api(`reindex/${encodeURIComponent(job.id)}/${verb}`, { method: "POST" });
        await loadJobs();
      } catch (e) {
        flash(errorText(e));
      }
    });
    actions.append(button);
  };
  if (job.state === "queued" || job.state === "running") act("pause");
  if (job.state === "paused") act("resume");
  if (ACTIVE.has(job.state)) act("cancel");
  const speed = job.footage_per_wall_s ? `${job.footage_per_wall_s.toFixed(1)}×` : "—";
  const eta = job.eta_s ? ` · ${t("jobs.eta", { s: Math.round(job.eta_s) })}` : "";
  return el("tr", { "data-job": job.id, "data-state": job.state },
    el("td", { className: "mono", text: job.id.slice(0, 12) }),
    el("td", { text: (job.request.camera_ids ?? []).join(", ") }),
    el("td", {}, pill(job.state, "jobs.state"), job.error ? el("div", { className: "error", text: job.error }) : ""),
    el("td", {}, progress, ` ${Math.round(job.progress * 100)}%`),
    el("td", { className: "num", text: `${job.segments_done}/${job.segments_total}${job.segments_skipped ? ` (−${job.segments_skipped})` : ""}` }),
    el("td", { text: speed + eta }), el("td", {}, actions));
}

async function loadJobs() {
  const jobs = await api("reindex", { query: { limit: 30 } });
  document.getElementById("reindex-rows").replaceChildren(...jobs.map(jobRow));
  if (!jobs.length) document.getElementById("reindex-rows").append(el("tr", {}, el("td", { colSpan: 7, className: "hint", text: t("jobs.no_jobs") })));
  document.getElementById("reindex-updated").textContent = t("cameras.updated", { time: new Date().toLocaleTimeString() });
}

async function refresh() {
  try {
    await Promise.all([may.footage_upload ? loadUploads() : null, may.reindex ? loadJobs() : null]);
  } catch (e) {
    flash(errorText(e));
  }
}

// ---- start a re-index job ------------------------------------------------------------------

const DAY_MS = 24 * 3600 * 1000;
const REINDEX_FIELDS = { camera_ids: "cameras", start: "start", end: "end", detector: "detector", embedder: "embedder", priority: "priority" };
// a refusal that is not a per-field validation list: the field its words name
const REINDEX_WORDS = [["camera", "cameras"], ["detector", "detector"], ["embedder", "embedder"], ["priority", "priority"], ["range", "end"]];

function localValue(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

function offer(listId, inputId, choices) {
  document.getElementById(listId).replaceChildren(...choices.map((c) => {
    const value = c.argument ? `${c.name}:` : c.name;
    const label = [c.live ? t("jobs.r_live") : "", c.argument ? `${c.name}:${c.argument}` : "", c.summary].filter(Boolean).join(" · ");
    return new Option(label, value);
  }));
  const preferred = choices.find((c) => c.live) ?? choices.find((c) => !c.argument);
  if (preferred) document.getElementById(inputId).value = preferred.name;
}

async function setUpReindexForm() {
  const [cameras, choices] = await Promise.all([api("cameras"), api("reindex/models")]);
  const boxes = document.getElementById("r-camera-boxes");
  boxes.replaceChildren(...cameras.map((c) => el("label", { className: "check" },
    el("input", { type: "checkbox", value: c.id, name: "camera_ids" }), ` ${c.name} (${c.id})`)));
  if (!cameras.length) boxes.append(el("p", { className: "hint", text: t("cameras.none") }));
  offer("r-detectors", "r-detector", choices.detectors);
  offer("r-embedders", "r-embedder", choices.embedders);
  document.getElementById("r-priority").max = choices.max_priority;
  const now = new Date();
  document.getElementById("r-start").value = localValue(new Date(now.getTime() - DAY_MS));
  document.getElementById("r-end").value = localValue(now);
}

function reindexError(field, message) {
  const box = document.getElementById(`r-${field}-error`);
  box.textContent = message;
  box.hidden = !message;
}

function showReindexRefusal(detail) {
  let parts = String(detail).split("; ");
  if (!parts.every((part) => /^body\.\w+/.test(part))) parts = [String(detail)];
  const rest = [];
  for (const part of parts) {
    const named = /^body\.(\w+)/.exec(part)?.[1];
    const field = REINDEX_FIELDS[named] ?? REINDEX_WORDS.find(([word]) => part.includes(word))?.[1];
    if (field) reindexError(field, t("jobs.r_refused", { detail: part }));
    else rest.push(part);
  }
  const box = document.getElementById("r-error");
  box.textContent = rest.length ? errorText({ detail: rest.join("; ") }) : "";
  box.hidden = !rest.length;
}

async function startReindex(event) {
  event.preventDefault();
  for (const field of Object.values(REINDEX_FIELDS)) reindexError(field, "");
  document.getElementById("r-error").hidden = true;
  const status = document.getElementById("r-status");
  const value = (id) => document.getElementById(id).value.trim();
  const when = (id) => (value(id) ? new Date(value(id)).toISOString() : null);
  const body = {
    camera_ids: [...document.querySelectorAll("#r-camera-boxes input:checked")].map((box) => box.value),
    start: when("r-start"), end: when("r-end"),
    detector: value("r-detector"), embedder: value("r-embedder"),
    priority: value("r-priority") === "" ? 0 : Number(value("r-priority")),
    switch: document.getElementById("r-switch").checked,
  };
  if (!body.camera_ids.length) return reindexError("cameras", t("jobs.r_pick_camera"));
  const button = document.getElementById("r-submit");
  button.disabled = true;
  try {
    const job = await api("reindex", { method: "POST", body });
    status.textContent = t("jobs.r_queued", { id: job.id.slice(0, 12) });
    status.dataset.job = job.id;
    await loadJobs();
  } catch (e) {
    showReindexRefusal(e.detail ?? String(e)); // the form keeps what was chosen
  } finally {
    button.disabled = false;
  }
}

document.getElementById("upload-form")?.addEventListener("submit", send);
document.getElementById("reindex-form")?.addEventListener("submit", startReindex);
const formReady = document.getElementById("reindex-form") ? setUpReindexForm().catch((e) => flash(errorText(e))) : null;
Promise.all([refresh(), formReady]).finally(() => (document.documentElement.dataset.ready = "jobs"));
setInterval(refresh, REFRESH_MS);

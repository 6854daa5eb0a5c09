// Jobs and footage page (issue #18 part 6): upload a video file with a progress bar (resumable,
// see footage_upload.js), the caller's uploads, and re-index jobs with progress and
// pause / resume / cancel. A refused file leaves the form as it was, with the reason.
import { api, t, flash, PAGE, fmtTime } from "./shell.js";
import { uploadFootage, UploadRefused } from "./footage_upload.js";

const REFRESH_MS = 2000;
const may = PAGE.may ?? {};
const ACTIVE = new Set(["queued", "running", "paused"]);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else if (k.startsWith("data-") || k.startsWith("aria-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  node.append(...children);
  return node;
}

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
  return el("tr", { "data-job": job.id },
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

document.getElementById("upload-form")?.addEventListener("submit", send);
refresh().finally(() => (document.documentElement.dataset.ready = "jobs"));
setInterval(refresh, REFRESH_MS);

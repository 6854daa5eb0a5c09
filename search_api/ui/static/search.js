// Search (issue #18 part 2): a picture (dropped, pasted, chosen, or a frame of a camera) with an
// optional box drawn on it, attribute filters, free text or a plate; results as a grid of best
// shots, paged, with why each matched; wide searches as jobs with progress and cancel.
import { api, ApiError, currentCase, flash, fmtTime, PAGE, requireCase, t } from "./shell.js";

const PAGE_SIZE = 50;
const VEHICLES = new Set(["car", "truck", "bus", "bicycle", "motorcycle"]);
const $ = (id) => document.getElementById(id);
const canvas = $("query-canvas");
const picture = { bitmap: null, blob: null, box: null, source: "" };
let results = { hits: [], page: 0, total: null, fetchPage: null };
let job = null;

// ---- the query picture ---------------------------------------------------------------------

function pictureError(message) {
  const box = $("picture-error");
  box.textContent = message;
  box.hidden = !message;
}

async function setPicture(blob, source) {
  pictureError("");
  if (!blob.type.startsWith("image/")) {
    pictureError(t("search.not_an_image", { type: blob.type || "?" }));
    return;
  }
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob);
  } catch {
    pictureError(t("search.unreadable_image"));
    return;
  }
  Object.assign(picture, { bitmap, blob, box: null, source });
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  $("pick").hidden = false;
  drawPicture();
  showMode();
}

function clearPicture() {
  Object.assign(picture, { bitmap: null, blob: null, box: null, source: "" });
  $("pick").hidden = true;
  $("query-file").value = "";
  pictureError("");
  showMode();
}

function drawPicture() {
  const g = canvas.getContext("2d");
  g.drawImage(picture.bitmap, 0, 0);
  if (picture.box) {
    const [x1, y1, x2, y2] = picture.box;
    g.lineWidth = Math.max(2, canvas.width / 300);
    g.strokeStyle = "#ffd400";
    g.strokeRect(x1, y1, x2 - x1, y2 - y1);
  }
}

function canvasPoint(event) {
  const r = canvas.getBoundingClientRect();
  return [
    Math.round(((event.clientX - r.left) / r.width) * canvas.width),
    Math.round(((event.clientY - r.top) / r.height) * canvas.height),
  ];
}

let dragFrom = null;
canvas.addEventListener("pointerdown", (e) => {
  dragFrom = canvasPoint(e);
  canvas.setPointerCapture(e.pointerId);
});
canvas.addEventListener("pointermove", (e) => {
  if (!dragFrom) return;
  const [x, y] = canvasPoint(e);
  const [x0, y0] = dragFrom;
  picture.box = [Math.min(x0, x), Math.min(y0, y), Math.max(x0, x), Math.max(y0, y)];
  drawPicture();
});
canvas.addEventListener("pointerup", () => {
  dragFrom = null;
  const b = picture.box;
  if (b && (b[2] - b[0] < 8 || b[3] - b[1] < 8)) picture.box = null; // a click, not a box
  drawPicture();
  showMode();
});

// The picture to send: the drawn box cut out (taken whole), else the whole picture.
async function queryImage() {
  if (!picture.box) return { blob: picture.blob, whole: false };
  const [x1, y1, x2, y2] = picture.box;
  const crop = new OffscreenCanvas(x2 - x1, y2 - y1);
  crop.getContext("2d").drawImage(picture.bitmap, x1, y1, x2 - x1, y2 - y1, 0, 0, x2 - x1, y2 - y1);
  return { blob: await crop.convertToBlob({ type: "image/jpeg", quality: 0.92 }), whole: true };
}

$("query-file").addEventListener("change", (e) => {
  const file = e.target.files[0];
  if (file) setPicture(file, "file");
});
const drop = $("drop");
drop.addEventListener("dragover", (e) => {
  e.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  const file = e.dataTransfer.files[0];
  if (file) setPicture(file, "file");
});
document.addEventListener("paste", (e) => {
  const item = [...(e.clipboardData?.items ?? [])].find((i) => i.kind === "file");
  if (item) setPicture(item.getAsFile(), "file");
});
$("query-clear").addEventListener("click", clearPicture);

function isoFromLocal(value) {
  return value ? new Date(value).toISOString() : undefined;
}

$("frame-load").addEventListener("click", async () => {
  const camera = $("frame-camera").value;
  if (!camera) return;
  pictureError("");
  try {
    const reply = await api(`cameras/${encodeURIComponent(camera)}/frame`, {
      query: { at: isoFromLocal($("frame-at").value) },
      raw: true,
    });
    await setPicture(await reply.blob(), "frame");
  } catch (e) {
    pictureError(e instanceof ApiError ? e.detail : String(e));
  }
});

// ---- cameras and zones ---------------------------------------------------------------------

async function loadCameras() {
  try {
    const cameras = await api("cameras");
    const options = () => cameras.map((c) => new Option(`${c.name} (${c.id})`, c.id));
    $("frame-camera").replaceChildren(...options());
    $("f-cameras").replaceChildren(...options());
  } catch (e) {
    flash(t("common.error", { detail: e.detail ?? e }));
  }
}

$("f-cameras").addEventListener("change", async () => {
  const chosen = [...$("f-cameras").selectedOptions].map((o) => o.value);
  const zones = [];
  for (const camera of chosen) {
    for (const zone of await api(`cameras/${encodeURIComponent(camera)}/zones`)) {
      zones.push(new Option(`${zone.name} (${camera})`, zone.id));
    }
  }
  $("f-zones").replaceChildren(...zones);
});

// ---- the request ---------------------------------------------------------------------------

function filters() {
  const selected = (id) => [...$(id).selectedOptions].map((o) => o.value);
  const klass = $("f-class").value;
  return {
    classes: klass ? [klass] : undefined,
    camera_ids: selected("f-cameras").length ? selected("f-cameras") : undefined,
    zone_ids: selected("f-zones").length ? selected("f-zones").map(Number) : undefined,
    start: isoFromLocal($("f-start").value),
    end: isoFromLocal($("f-end").value),
    upper_colour: $("f-upper").value || undefined,
    lower_colour: $("f-lower").value || undefined,
    colour: $("f-colour").value || undefined,
    vehicle_type: $("f-vehicle").value || undefined,
    direction: $("f-direction").value || undefined,
  };
}

function mode() {
  if ($("f-plate").value.trim()) return "plate";
  if (picture.blob) return "image";
  if ($("f-text").value.trim()) return "text";
  return "attributes";
}

function showMode() {
  $("search-mode").textContent = t(`search.mode_${mode()}`);
}
for (const id of ["f-plate", "f-text"]) $(id).addEventListener("input", showMode);

// Person (and plate) searches are filed under the case bar's case; others carry it when set.
async function caseFields(needed) {
  const chosen = needed ? await requireCase(t("case.person_needed")) : currentCase();
  return chosen ? { case_id: chosen.id, purpose: chosen.purpose } : {};
}

function mayFindPersons(f) {
  return !f.classes || f.classes.includes("person");
}

async function runSearch() {
  const f = filters();
  const kind = mode();
  const needsCase = kind === "plate" || (kind !== "text" && mayFindPersons(f));
  const access = PAGE.user.capabilities.includes("cases") ? await caseFields(needsCase) : {};
  if (kind === "image") {
    const form = new FormData();
    const { blob, whole } = await queryImage();
    form.set("image", blob, "query.jpg");
    form.set("whole_image", whole ? "true" : "false");
    form.set("top_k", "200");
    for (const [k, v] of Object.entries({ ...f, ...access })) {
      if (v !== undefined) form.set(k, Array.isArray(v) ? v.join(",") : String(v));
    }
    const reply = await api("search/image", { method: "POST", body: form }).catch((e) => {
      // the API's advice (whole_image=true) is a box around the whole picture here
      if (e instanceof ApiError && e.status === 422 && !whole && /whole_image/.test(e.detail)) {
        throw new ApiError(422, t("search.nothing_in_picture"));
      }
      throw e;
    });
    return showHits(reply.hits, null, null, reply.no_good_match);
  }
  if (kind === "plate") {
    const body = { ...f, ...access, pattern: $("f-plate").value.trim(), mode: $("f-plate-mode").value };
    const page = (offset) => api("search/plate", { method: "POST", body: { ...body, offset, top_k: PAGE_SIZE } });
    const first = await page(0);
    return showHits(first.hits, first.total, page);
  }
  if ($("f-job").checked) return startJob(kind, f, access);
  if (kind === "text") {
    const reply = await api("search/text", {
      method: "POST",
      body: { ...access, text: $("f-text").value.trim(), top_k: 200, timezone: Intl.DateTimeFormat().resolvedOptions().timeZone },
    });
    return showHits(reply.hits);
  }
  const body = { ...f, ...access };
  const page = (offset) => api("search/attributes", { method: "POST", body: { ...body, offset, top_k: PAGE_SIZE } });
  const first = await page(0);
  return showHits(first.hits, first.total, page);
}

$("search-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = $("search-submit");
  button.disabled = true;
  $("search-status").textContent = t("common.loading");
  try {
    await runSearch();
  } catch (e) {
    const detail = e instanceof ApiError ? e.detail : String(e);
    $("search-status").textContent = "";
    flash(t("search.failed", { detail })); // the form keeps everything entered
  } finally {
    button.disabled = false;
  }
});

// ---- wide searches as jobs -----------------------------------------------------------------

async function startJob(kind, f, access) {
  const body = { kind, ...f, ...access, top_k: 1000 };
  if (kind === "text") Object.assign(body, { text: $("f-text").value.trim(), timezone: Intl.DateTimeFormat().resolvedOptions().timeZone });
  job = await api("jobs/search", { method: "POST", body });
  $("job-box").hidden = false;
  $("search-status").textContent = t("search.job_running");
  while (job && ["queued", "running"].includes(job.state)) {
    $("job-progress").value = job.progress;
    await new Promise((r) => setTimeout(r, 500));
    if (!job) return;
    job = await api(`jobs/${job.id}`, { query: { offset: 0, limit: PAGE_SIZE } });
  }
  $("job-box").hidden = true;
  if (!job) return;
  if (job.state !== "succeeded") {
    $("search-status").textContent = t("search.job_ended", { state: job.state, error: job.error ?? "" });
    return;
  }
  const id = job.id;
  const page = async (offset) => api(`jobs/${id}`, { query: { offset, limit: PAGE_SIZE } });
  showHits(job.hits, job.total_hits, page);
}

$("job-cancel").addEventListener("click", async () => {
  if (!job) return;
  const id = job.id;
  job = null;
  await api(`jobs/${id}/cancel`, { method: "POST" }).catch(() => {});
  $("job-box").hidden = true;
  $("search-status").textContent = t("search.job_cancelled");
});

// ---- results -------------------------------------------------------------------------------

function why(hit) {
  const parts = [];
  const w = hit.why ?? {};
  if (w.similarity != null) parts.push(t("why.similarity", { value: w.similarity.toFixed(2) }));
  for (const [name, value] of Object.entries(w.matched_attributes ?? {})) {
    parts.push(`${name} ${Number(value).toFixed(2)}`);
  }
  if (w.plausibility != null) parts.push(t("why.plausibility", { value: w.plausibility.toFixed(2) }));
  for (const zone of w.zones ?? []) parts.push(t("why.zone", { name: zone.name }));
  if (hit.plate) parts.push(`${hit.plate.text} · ${hit.plate.why}`);
  return parts.join(" · ") || t("why.filters");
}

function card(hit) {
  const item = document.createElement("article");
  item.className = "hit";
  item.dataset.trackId = hit.track_id;
  const link = document.createElement("a");
  link.href = `/ui/tracks/${hit.track_id}`;
  const img = document.createElement("img");
  img.alt = t("search.best_shot", { id: hit.track_id });
  img.loading = "lazy";
  img.decoding = "async";
  if (hit.thumbnail_url) img.src = hit.thumbnail_url;
  const meta = document.createElement("div");
  meta.textContent = `${t("class." + hit.class_name)} · ${hit.camera_id} · ${fmtTime(hit.start_at)} · ${hit.score.toFixed(2)}`;
  const reason = document.createElement("div");
  reason.className = "why";
  reason.textContent = why(hit);
  link.append(img, meta, reason);
  item.append(link);
  return item;
}

// Draws one page of hits and resolves once the browser has painted it; the time it took is
// kept as a performance measure ("results-render") for the page-load budget.
export function renderHits(hits) {
  performance.mark("results-render-start");
  $("results").replaceChildren(...hits.map(card));
  void $("results").offsetHeight; // layout now, inside the measure
  return new Promise((resolve) =>
    requestAnimationFrame(() =>
      requestAnimationFrame(() => {
        performance.measure("results-render", "results-render-start");
        resolve();
      }),
    ),
  );
}

async function showPage() {
  const { hits, page, total, fetchPage } = results;
  let shown;
  if (fetchPage && page > 0) {
    const reply = await fetchPage(page * PAGE_SIZE);
    shown = reply.hits;
  } else {
    shown = fetchPage ? hits : hits.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE);
  }
  const count = total ?? hits.length;
  const pages = Math.max(1, Math.ceil(count / PAGE_SIZE));
  $("pager").hidden = pages <= 1;
  $("page-info").textContent = t("search.page", { page: page + 1, pages });
  $("page-prev").disabled = page === 0;
  $("page-next").disabled = page + 1 >= pages;
  await renderHits(shown);
}

async function showHits(hits, total = null, fetchPage = null, noGoodMatch = false) {
  results = { hits, page: 0, total, fetchPage };
  const count = total ?? hits.length;
  $("search-status").textContent = count
    ? t("search.found", { count }) + (noGoodMatch ? " " + t("search.no_good_match") : "")
    : t("search.nothing");
  await showPage();
}

$("page-prev").addEventListener("click", () => {
  results.page -= 1;
  showPage().catch((e) => flash(t("common.error", { detail: e.detail ?? e })));
});
$("page-next").addEventListener("click", () => {
  results.page += 1;
  showPage().catch((e) => flash(t("common.error", { detail: e.detail ?? e })));
});

window.skynetSearch = { renderHits }; // the page-load benchmark renders a 50-hit grid with it
loadCameras().then(() => {
  showMode();
  performance.mark("search-ready"); // the page-load budget: interactive from here
  document.documentElement.dataset.ready = "search";
});

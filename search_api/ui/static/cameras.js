// Cameras page (issue #18 part 4): the live status wall (refreshed every few seconds), the
// camera map (plain projection or a site plan kept by the server), add / edit / pause /
// resume for camera admins, who also upload, edit and delete site plans. Everything through
// /api/v1.
import { api, t, flash, PAGE } from "./shell.js";
import { CameraMap, STATE_COLOURS, stateWithoutStatus } from "./camera_map.js";
import { el } from "./page_tools.js";

const REFRESH_MS = 5000;
const PLAN_CHOICE_KEY = "skynet.siteplan.shown"; // which plan this browser shows (a preference)
const PLAN_FIELDS = ["name", "image", "north", "south", "west", "east"];
const mayAdmin = PAGE.may?.camera_admin;
const wall = document.getElementById("wall");
let cameras = [];
let statuses = {};
let editing = null; // the camera being edited (as loaded), null: adding
let plans = []; // the server's site plans, newest first
let planUrl = null; // the shown plan image's blob URL

const map = new CameraMap(document.getElementById("camera-map"), {
  onMove: mayAdmin ? moveCamera : null,
  onPick: (id) => document.querySelector(`[data-camera="${CSS.escape(id)}"]`)?.scrollIntoView(),
  onDraw: listMarkers,
});

function fmt(value, digits = 1) {
  return Number(value ?? 0).toFixed(digits);
}

function card(camera) {
  const s = statuses[camera.id] ?? { state: stateWithoutStatus(camera) };
  const badge = el("span", { className: "state", text: t(`cameras.state.${s.state}`) });
  badge.style.background = STATE_COLOURS[s.state] ?? "#444";
  const facts = el("dl", { className: "facts" },
    el("dt", { text: t("cameras.fps") }),
    el("dd", { text: `${fmt(s.analysed_fps)} / ${fmt(s.input_fps)}` }),
    el("dt", { text: t("cameras.lag") }), el("dd", { text: `${fmt(s.lag_s, 2)} s` }),
    el("dt", { text: t("cameras.stride") }), el("dd", { text: `×${fmt(s.sample_stride ?? 1, 2)}` }),
    el("dt", { text: t("cameras.dropped") }), el("dd", { text: String(s.frames_dropped ?? 0) }),
  );
  const error = el("p", { className: "last-error", text: s.last_error ? t("cameras.last_error", { error: s.last_error }) : "" });
  const actions = el("div", { className: "actions" },
    el("a", { href: `/ui/cameras/${encodeURIComponent(camera.id)}/zones`, text: t("cameras.zones") }));
  if (mayAdmin) {
    const edit = el("button", { type: "button", className: "secondary", text: t("cameras.edit") });
    edit.addEventListener("click", () => startEdit(camera));
    actions.append(edit);
    if (camera.kind !== "offline") {
      const toggle = el("button", {
        type: "button", className: "secondary",
        text: camera.enabled ? t("cameras.pause") : t("cameras.resume"),
      });
      toggle.addEventListener("click", () => setEnabled(camera, !camera.enabled));
      actions.append(toggle);
    }
  }
  return el("article", { className: "cam", "data-camera": camera.id, "data-state": s.state },
    el("h3", { text: camera.name }), el("p", { className: "hint", text: camera.id }),
    badge, facts, error, actions);
}

function renderWall() {
  wall.replaceChildren(...cameras.map(card));
  if (!cameras.length) wall.append(el("p", { className: "hint", text: t("cameras.none") }));
  map.setCameras(cameras, statuses);
  const select = document.getElementById("place-camera");
  if (select && !select.matches(":focus")) {
    const chosen = select.value;
    select.replaceChildren(...cameras.map((c) => new Option(`${c.name} (${c.id})`, c.id, false, c.id === chosen)));
  }
}

async function refreshStatus() {
  try {
    const list = await api("cameras/status");
    statuses = Object.fromEntries(list.map((s) => [s.camera_id, s]));
    document.getElementById("wall-updated").textContent = t("cameras.updated", { time: new Date().toLocaleTimeString() });
    renderWall();
  } catch (e) {
    flash(t("common.error", { detail: e.detail ?? String(e) }));
  }
}

async function load() {
  cameras = await api("cameras");
  await refreshStatus();
}

async function setEnabled(camera, enabled) {
  try {
    const changed = await api(`cameras/${encodeURIComponent(camera.id)}/${enabled ? "resume" : "pause"}`, { method: "POST" });
    Object.assign(camera, changed);
    renderWall();
  } catch (e) {
    flash(t("common.error", { detail: e.detail }));
  }
}

async function moveCamera(id, lat, lon) {
  const camera = cameras.find((c) => c.id === id);
  try {
    Object.assign(camera, await api(`cameras/${encodeURIComponent(id)}`, { method: "PATCH", body: { lat, lon } }));
    flash(t("cameras.moved", { name: camera.name, lat, lon }), "info");
  } catch (e) {
    flash(t("common.error", { detail: e.detail }));
    cameras = await api("cameras");
  }
  renderWall();
}

// ---- site plans: kept by the server, drawn under the markers ---------------------------------

function listMarkers(markers) {
  const list = document.getElementById("map-markers");
  list.replaceChildren(...markers.map(({ camera, x, y, inside }) => el("li", {
    "data-camera": camera.id, "data-x": x, "data-y": y, "data-inside": inside,
    text: t(inside ? "cameras.marker_at" : "cameras.marker_outside", { name: camera.name, lat: camera.lat, lon: camera.lon }),
  })));
}

function fieldError(field, message) {
  const box = document.getElementById(`plan-${field}-error`);
  box.textContent = message;
  box.hidden = !message;
}

function clearPlanErrors() {
  if (!document.getElementById("plan-form")) return; // only camera admins have the form
  for (const field of PLAN_FIELDS) fieldError(field, "");
  document.getElementById("plan-error").hidden = true;
}

// An API refusal names its field ("image: …", "north: …", or validation's "body.east: …; …"):
// show each part next to its field, anything else under the form.
function showPlanRefusal(detail) {
  const rest = [];
  let parts = String(detail).split("; ");
  if (!parts.every((part) => /^body\.\w+:/.test(part))) parts = [String(detail)];
  for (const part of parts) {
    const field = PLAN_FIELDS.find((f) => part.startsWith(`${f}:`) || part.startsWith(`body.${f}:`));
    if (field) fieldError(field, part.slice(part.indexOf(":") + 1).trim());
    else rest.push(part);
  }
  if (rest.length) showError(document.getElementById("plan-error"), t("common.error", { detail: rest.join("; ") }));
}

async function showPlan(id) {
  const plan = plans.find((p) => String(p.id) === String(id)) ?? null;
  const canvas = document.getElementById("camera-map");
  if (!plan) {
    map.setPlan(null);
    delete canvas.dataset.plan;
    fillPlanForm(null);
    return;
  }
  try {
    const blob = await (await api(`site-plans/${plan.id}/image`, { raw: true })).blob();
    const url = URL.createObjectURL(blob);
    const image = new Image();
    image.src = url;
    await image.decode();
    if (planUrl) URL.revokeObjectURL(planUrl);
    planUrl = url;
    map.setPlan({ ...plan, image });
    canvas.dataset.plan = String(plan.id);
  } catch (e) {
    flash(t("cameras.plan_unreadable", { name: plan.name, detail: e.detail ?? String(e) }));
  }
  fillPlanForm(plan);
}

function fillPlanForm(plan) {
  if (!document.getElementById("plan-form")) return;
  document.getElementById("plan-name").value = plan?.name ?? "";
  for (const side of ["north", "south", "west", "east"]) document.getElementById(`plan-${side}`).value = plan?.[side] ?? "";
  document.getElementById("plan-save").disabled = !plan;
  document.getElementById("plan-delete").disabled = !plan;
}

async function loadPlans(choose) {
  plans = await api("site-plans");
  const select = document.getElementById("plan-select");
  const remembered = localStorage.getItem(PLAN_CHOICE_KEY); // null: never chose; "": plain
  let wanted = choose ?? remembered ?? (plans[0]?.id ?? "");
  if (!plans.some((p) => String(p.id) === String(wanted))) wanted = "";
  select.replaceChildren(new Option(t("cameras.plan_clear"), ""), ...plans.map((p) => new Option(p.name, p.id)));
  select.value = String(wanted);
  await showPlan(wanted);
}

function planFields() {
  const fields = { name: document.getElementById("plan-name").value.trim() };
  for (const side of ["north", "south", "west", "east"]) {
    const raw = document.getElementById(`plan-${side}`).value;
    fields[side] = raw === "" ? null : Number(raw);
  }
  return fields;
}

// What the browser can tell before sending; the server checks all of it again.
function planProblems(fields, file) {
  const problems = {};
  if (!fields.name) problems.name = t("cameras.plan_needs_name");
  for (const side of ["north", "south", "west", "east"]) if (fields[side] === null) problems[side] = t("cameras.plan_needs_edge");
  if (file !== undefined) {
    if (!file) problems.image = t("cameras.plan_needs_image");
    else if (!["image/png", "image/jpeg"].includes(file.type)) problems.image = t("cameras.plan_not_image", { name: file.name });
  }
  return problems;
}

async function uploadPlan(event) {
  event.preventDefault();
  clearPlanErrors();
  const fields = planFields();
  const file = document.getElementById("plan-file").files[0] ?? null;
  const problems = planProblems(fields, file);
  for (const [field, message] of Object.entries(problems)) fieldError(field, message);
  if (Object.keys(problems).length) return;
  const body = new FormData();
  body.append("image", file);
  for (const [field, value] of Object.entries(fields)) body.append(field, String(value));
  const button = document.getElementById("plan-upload");
  button.disabled = true;
  try {
    const plan = await api("site-plans", { method: "POST", body });
    localStorage.setItem(PLAN_CHOICE_KEY, String(plan.id));
    document.getElementById("plan-file").value = "";
    await loadPlans(plan.id);
    flash(t("cameras.plan_saved", { name: plan.name }), "info");
  } catch (e) {
    showPlanRefusal(e.detail ?? String(e)); // the form keeps what was typed and chosen
  } finally {
    button.disabled = false;
  }
}

async function savePlan() {
  clearPlanErrors();
  const id = document.getElementById("plan-select").value;
  const fields = planFields();
  const problems = planProblems(fields);
  for (const [field, message] of Object.entries(problems)) fieldError(field, message);
  if (!id || Object.keys(problems).length) return;
  try {
    const plan = await api(`site-plans/${id}`, { method: "PUT", body: fields });
    await loadPlans(plan.id);
    flash(t("cameras.plan_saved", { name: plan.name }), "info");
  } catch (e) {
    showPlanRefusal(e.detail ?? String(e));
  }
}

async function deletePlan() {
  clearPlanErrors();
  const id = document.getElementById("plan-select").value;
  const plan = plans.find((p) => String(p.id) === id);
  if (!plan) return;
  try {
    await api(`site-plans/${id}`, { method: "DELETE" });
    localStorage.removeItem(PLAN_CHOICE_KEY);
    await loadPlans();
    flash(t("cameras.plan_deleted", { name: plan.name }), "info");
  } catch (e) {
    showPlanRefusal(e.detail ?? String(e)); // storage down: the plan is still whole, try again
  }
}

function showError(box, message) {
  box.textContent = message;
  box.hidden = false;
}

document.getElementById("plan-select").addEventListener("change", (event) => {
  localStorage.setItem(PLAN_CHOICE_KEY, event.target.value);
  clearPlanErrors();
  showPlan(event.target.value);
});
document.getElementById("plan-form")?.addEventListener("submit", uploadPlan);
document.getElementById("plan-save")?.addEventListener("click", savePlan);
document.getElementById("plan-delete")?.addEventListener("click", deletePlan);

// ---- add / edit ------------------------------------------------------------------------------

const form = document.getElementById("camera-form");
const FIELDS = {
  id: "cam-id", name: "cam-name", main_url: "cam-main", sub_url: "cam-sub", detect_fps: "cam-fps",
  tiles: "cam-tiles", lat: "cam-lat", lon: "cam-lon", heading_deg: "cam-heading", timezone: "cam-tz",
};
const NUMBERS = new Set(["detect_fps", "lat", "lon", "heading_deg"]);

function formValues() {
  const values = {};
  for (const [field, id] of Object.entries(FIELDS)) {
    const raw = document.getElementById(id).value.trim();
    values[field] = raw === "" ? null : NUMBERS.has(field) ? Number(raw) : raw;
  }
  values.enabled = document.getElementById("cam-enabled").checked;
  return values;
}

function startEdit(camera) {
  editing = camera;
  for (const [field, id] of Object.entries(FIELDS)) document.getElementById(id).value = camera[field] ?? "";
  document.getElementById("cam-enabled").checked = camera.enabled;
  document.getElementById("cam-id").disabled = true;
  document.getElementById("form-title").textContent = t("cameras.edit_title", { name: camera.name });
  form.scrollIntoView();
}

function startAdd() {
  editing = null;
  form.reset();
  document.getElementById("cam-id").disabled = false;
  document.getElementById("form-title").textContent = t("cameras.add");
}

async function save(event) {
  event.preventDefault();
  const error = document.getElementById("camera-error");
  error.hidden = true;
  const values = formValues();
  const missing = editing ? [] : ["id", "name", "main_url"].filter((f) => !values[f]);
  if (missing.length) return showError(error, t("cameras.missing", { fields: missing.join(", ") }));
  try {
    if (editing) {
      // only what changed: the shown URLs have their credentials removed
      const body = {};
      for (const [field, value] of Object.entries(values)) {
        if (field !== "id" && value !== (editing[field] ?? null)) body[field] = value;
      }
      if (!Object.keys(body).length) return flash(t("cameras.unchanged"), "info");
      await api(`cameras/${encodeURIComponent(editing.id)}`, { method: "PATCH", body });
    } else {
      const body = Object.fromEntries(Object.entries(values).filter(([, v]) => v !== null));
      await api("cameras", { method: "POST", body });
    }
    flash(t("cameras.saved", { name: values.name ?? editing?.name }), "info");
    startAdd();
    cameras = await api("cameras");
    renderWall();
  } catch (e) {
    showError(error, t("common.error", { detail: e.detail ?? String(e) })); // the form keeps what was typed
  }
}

if (form) {
  form.addEventListener("submit", save);
  document.getElementById("camera-new").addEventListener("click", startAdd);
  document.getElementById("place-start").addEventListener("click", () => {
    const id = document.getElementById("place-camera").value;
    if (!id) return;
    if (!map.bounds()) return flash(t("cameras.place_needs_window"));
    map.placeNext(id);
    flash(t("cameras.place_click"), "info");
  });
}

load()
  .then(() => loadPlans())
  .catch((e) => flash(t("common.error", { detail: e.detail ?? String(e) })))
  .finally(() => (document.documentElement.dataset.ready = "cameras"));
setInterval(refreshStatus, REFRESH_MS);

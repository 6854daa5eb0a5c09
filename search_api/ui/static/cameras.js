// Cameras page (issue #18 part 4): the live status wall (refreshed every few seconds), the
// camera map (plain projection or a site plan kept in this browser), add / edit / pause /
// resume for camera admins. Everything through /api/v1.
import { api, t, flash, PAGE } from "./shell.js";
import { CameraMap, STATE_COLOURS } from "./camera_map.js";

const REFRESH_MS = 5000;
const PLAN_KEY = "skynet.siteplan";
const mayAdmin = PAGE.may?.camera_admin;
const wall = document.getElementById("wall");
let cameras = [];
let statuses = {};
let editing = null; // the camera being edited (as loaded), null: adding

const map = new CameraMap(document.getElementById("camera-map"), {
  onMove: mayAdmin ? moveCamera : null,
  onPick: (id) => document.querySelector(`[data-camera="${CSS.escape(id)}"]`)?.scrollIntoView(),
});

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

function fmt(value, digits = 1) {
  return Number(value ?? 0).toFixed(digits);
}

function card(camera) {
  const s = statuses[camera.id] ?? { state: camera.enabled ? "connecting" : "paused" };
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
  document.documentElement.dataset.ready = "cameras";
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

// ---- the site plan: an image in this browser, its corners pinned to coordinates ------------

function loadPlan() {
  let saved = null;
  try {
    saved = JSON.parse(localStorage.getItem(PLAN_KEY) ?? "null");
  } catch {
    saved = null;
  }
  if (!saved) return;
  for (const side of ["north", "south", "west", "east"]) document.getElementById(`plan-${side}`).value = saved[side];
  const image = new Image();
  image.onload = () => map.setPlan({ ...saved, image });
  image.src = saved.dataUrl;
}

function planCorners() {
  const corners = {};
  for (const side of ["north", "south", "west", "east"]) {
    const value = document.getElementById(`plan-${side}`).value;
    if (value === "") return null;
    corners[side] = Number(value);
  }
  return corners.north > corners.south && corners.east > corners.west ? corners : null;
}

function applyPlan() {
  const error = document.getElementById("plan-error");
  error.hidden = true;
  const file = document.getElementById("plan-file").files[0];
  const corners = planCorners();
  if (!file && !map.plan) return showError(error, t("cameras.plan_needs_image"));
  if (!corners) return showError(error, t("cameras.plan_needs_corners"));
  const use = (dataUrl) => {
    const image = new Image();
    image.onerror = () => showError(error, t("cameras.plan_not_image"));
    image.onload = () => {
      const plan = { ...corners, dataUrl };
      try {
        localStorage.setItem(PLAN_KEY, JSON.stringify(plan));
      } catch {
        showError(error, t("cameras.plan_too_big"));
      }
      map.setPlan({ ...plan, image });
    };
    image.src = dataUrl;
  };
  if (!file) return use(map.plan.dataUrl);
  if (!file.type.startsWith("image/")) return showError(error, t("cameras.plan_not_image"));
  const reader = new FileReader();
  reader.onload = () => use(reader.result);
  reader.readAsDataURL(file);
}

function showError(box, message) {
  box.textContent = message;
  box.hidden = false;
}

document.getElementById("plan-apply").addEventListener("click", applyPlan);
document.getElementById("plan-clear").addEventListener("click", () => {
  localStorage.removeItem(PLAN_KEY);
  map.setPlan(null);
});

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

loadPlan();
load().catch((e) => flash(t("common.error", { detail: e.detail ?? String(e) })));
setInterval(refreshStatus, REFRESH_MS);

// Zones page (issue #18 part 4): draw and edit a camera's zones as polygons on a recorded
// frame, and set each zone's rule and schedule. A polygon the API would refuse is caught here
// first with a message saying what to do; the drawn points and typed fields stay either way.
import { api, t, flash, PAGE } from "./shell.js";
import { PolygonEditor, polygonProblem } from "./polygon_editor.js";

const cameraId = PAGE.camera_id;
const base = `cameras/${encodeURIComponent(cameraId)}/zones`;
const may = PAGE.may ?? {};
const canvas = document.getElementById("zone-canvas");
const nameInput = document.getElementById("zone-name");
const zoneError = document.getElementById("zone-error");
let zones = [];
let current = null; // the zone being edited, null: a new one

const editor = new PolygonEditor(canvas, {
  onChange: (points) => {
    document.getElementById("zone-points").textContent = t("zones.points", { count: points.length });
    if (points.length >= 3) zoneError.hidden = true;
  },
});

function showError(box, message) {
  box.textContent = message;
  box.hidden = false;
}

async function loadFrame(at = null) {
  const url = new URL(`/api/v1/cameras/${encodeURIComponent(cameraId)}/frame`, location.origin);
  if (at) url.searchParams.set("at", at);
  try {
    const response = await api(url.pathname + url.search, { raw: true });
    const blob = await response.blob();
    const image = new Image();
    image.onload = () => {
      editor.setImage(image);
      document.getElementById("frame-time").textContent = t("zones.frame_time", {
        time: new Date(response.headers.get("X-Frame-Time")).toLocaleString(),
      });
    };
    image.src = URL.createObjectURL(blob);
  } catch (e) {
    editor.setImage(null);
    document.getElementById("frame-time").textContent = t("zones.no_frame", { detail: e.detail ?? String(e) });
  }
}

function renderList() {
  const list = document.getElementById("zone-list");
  list.replaceChildren(...zones.map((zone) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "link-dark";
    button.textContent = zone.name;
    button.dataset.zone = zone.id;
    button.addEventListener("click", () => select(zone));
    const item = document.createElement("li");
    const facts = document.createElement("span");
    facts.className = "hint";
    facts.textContent = ` · ${t(`zones.kind.${zone.rule.kind}`)} · ${t("zones.tracks", { count: zone.track_count })}`;
    item.append(button, facts);
    if (current?.id === zone.id) item.className = "selected";
    return item;
  }));
  if (!zones.length) list.append(Object.assign(document.createElement("li"), { className: "hint", textContent: t("zones.none") }));
  editor.setOthers(zones.filter((z) => z.id !== current?.id));
}

function select(zone) {
  current = zone;
  nameInput.value = zone?.name ?? "";
  editor.setPoints(zone?.polygon ?? []);
  zoneError.hidden = true;
  document.getElementById("zone-form-title").textContent = zone ? t("zones.editing", { name: zone.name }) : t("zones.new");
  document.getElementById("zone-delete").hidden = !(zone && may.camera_admin);
  document.getElementById("rule-form").hidden = !zone;
  if (zone) fillRule(zone.rule);
  renderList();
}

async function reload(selectId = null) {
  zones = await api(base);
  const again = zones.find((z) => z.id === (selectId ?? current?.id));
  if (again) select(again);
  else renderList();
}

async function saveZone(event) {
  event.preventDefault();
  zoneError.hidden = true;
  const name = nameInput.value.trim();
  const problem = polygonProblem(editor.points);
  if (problem) return showError(zoneError, t(problem, { count: editor.points.length }));
  if (!name) return showError(zoneError, t("zones.name_needed"));
  const body = { name, polygon: editor.points.map(([x, y]) => [+x.toFixed(4), +y.toFixed(4)]) };
  try {
    const saved = current
      ? await api(`${base}/${current.id}`, { method: "PUT", body })
      : await api(base, { method: "POST", body });
    flash(t("zones.saved", { name: saved.name, count: saved.track_count }), "info");
    await reload(saved.id);
  } catch (e) {
    showError(zoneError, t("zones.refused", { detail: e.detail ?? String(e) })); // points kept
  }
}

async function deleteZone() {
  if (!current || !confirm(t("zones.delete_confirm", { name: current.name }))) return;
  try {
    await api(`${base}/${current.id}`, { method: "DELETE" });
    current = null;
    select(null);
    await reload();
  } catch (e) {
    showError(zoneError, t("common.error", { detail: e.detail }));
  }
}

// ---- the rule ------------------------------------------------------------------------------

const dayBoxes = () => [...document.querySelectorAll("#rule-days input")];

function fillRule(rule) {
  document.getElementById("rule-kind").value = rule.kind;
  document.getElementById("rule-always").checked = rule.schedule === null;
  const days = new Set(rule.schedule?.days ?? [0, 1, 2, 3, 4, 5, 6]);
  for (const box of dayBoxes()) box.checked = days.has(Number(box.value));
  document.getElementById("rule-windows").value = (rule.schedule?.windows ?? []).join(", ");
  document.getElementById("rule-dwell").value = rule.min_dwell_s;
  document.getElementById("rule-sensitivity").value = rule.sensitivity;
  document.getElementById("rule-classes").value = rule.classes.join(", ");
  document.getElementById("rule-summary").textContent = t("zones.rule_now", {
    schedule: rule.schedule?.text ?? t("zones.always"), classes: rule.counted_classes.join(", ") || "—",
  });
  syncSchedule();
}

function syncSchedule() {
  const always = document.getElementById("rule-always").checked;
  for (const box of dayBoxes()) box.disabled = always;
  document.getElementById("rule-windows").disabled = always;
}

function splitList(text) {
  return text.split(/[,，\s]+/).map((s) => s.trim()).filter(Boolean);
}

async function saveRule(event) {
  event.preventDefault();
  const error = document.getElementById("rule-error");
  error.hidden = true;
  const always = document.getElementById("rule-always").checked;
  const days = dayBoxes().filter((b) => b.checked).map((b) => Number(b.value));
  if (!always && !days.length) return showError(error, t("zones.days_needed"));
  const body = {
    kind: document.getElementById("rule-kind").value,
    schedule: always ? null : { days, windows: splitList(document.getElementById("rule-windows").value) },
    min_dwell_s: Number(document.getElementById("rule-dwell").value || 0),
    sensitivity: Number(document.getElementById("rule-sensitivity").value || 0),
    classes: splitList(document.getElementById("rule-classes").value),
  };
  try {
    const rule = await api(`${base}/${current.id}/rule`, { method: "PUT", body });
    flash(t("zones.rule_saved", { name: current.name }), "info");
    current.rule = rule;
    fillRule(rule);
    renderList();
  } catch (e) {
    showError(error, t("zones.refused", { detail: e.detail ?? String(e) }));
  }
}

// ---- wiring ------------------------------------------------------------------------------

document.getElementById("zone-form").addEventListener("submit", saveZone);
document.getElementById("zone-clear").addEventListener("click", () => editor.clear());
document.getElementById("zone-new").addEventListener("click", () => select(null));
document.getElementById("zone-delete").addEventListener("click", deleteZone);
document.getElementById("rule-form").addEventListener("submit", saveRule);
document.getElementById("rule-always").addEventListener("change", syncSchedule);
document.getElementById("frame-load").addEventListener("click", () => {
  const local = document.getElementById("frame-at").value;
  loadFrame(local ? new Date(local).toISOString() : null);
});
if (!may.camera_admin) {
  for (const id of ["zone-save", "zone-clear", "zone-new"]) document.getElementById(id).disabled = true;
}
if (!may.zone_rules) document.getElementById("rule-save").disabled = true;

Promise.all([
  loadFrame(),
  api(`cameras/${encodeURIComponent(cameraId)}`).then((c) => (document.getElementById("camera-name").textContent = c.name)),
  reload(),
])
  .catch((e) => flash(t("common.error", { detail: e.detail ?? String(e) })))
  .finally(() => (document.documentElement.dataset.ready = "zones"));

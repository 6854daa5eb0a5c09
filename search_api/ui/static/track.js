// Track view (issue #18 part 3): best shot, the trajectory on the camera's context picture, the
// clip over every segment the track covers (seeking to its first sighting, scrubbing, frame
// steps), more like this, add to case, and the cross-camera hop trail with confirm / reject.
import { addToCase, api, ApiError, currentCase, flash, fmtTime, PAGE, requireCase, t } from "./shell.js";

const $ = (id) => document.getElementById(id);
const trackId = PAGE.track_id;
const video = $("clip");
let track = null;
let access = {};
let clip = { seek: 0, fps: 25, start: null };

// A person's track is a look-up of a person: it is opened under the case bar's case.
async function withCase(call) {
  const chosen = currentCase();
  access = chosen ? { case_id: chosen.id, purpose: chosen.purpose } : {};
  try {
    return await call();
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 403 || !/case_id|purpose/.test(e.detail)) throw e;
    const picked = await requireCase(t("case.person_needed"), true);
    access = { case_id: picked.id, purpose: picked.purpose };
    return call();
  }
}

function fact(name, value) {
  const dt = document.createElement("dt");
  dt.textContent = name;
  const dd = document.createElement("dd");
  dd.textContent = value;
  return [dt, dd];
}

function showFacts() {
  const attributes = Object.entries(track.attributes)
    .filter(([k, v]) => v !== null && typeof v !== "object" && !k.endsWith("_confidence"))
    .map(([k, v]) => `${k}: ${v}`)
    .join(", ");
  $("facts").replaceChildren(
    ...fact(t("track.kind"), t("class." + track.class_name)),
    ...fact(t("track.camera"), track.camera_id),
    ...fact(t("track.from"), fmtTime(track.start_at)),
    ...fact(t("track.to"), fmtTime(track.end_at)),
    ...fact(t("track.attributes"), attributes || "—"),
  );
  $("track-title").textContent = t("track.heading", { id: track.id, camera: track.camera_id });
  if (track.thumbnail_url) $("best-shot").src = track.thumbnail_url;
}

// The trajectory (box bottom centres over time) and the best box on the context picture.
async function drawTrajectory() {
  const canvas = $("context");
  if (!track.context_url) return;
  const image = new Image();
  image.src = track.context_url;
  await image.decode();
  canvas.width = image.naturalWidth;
  canvas.height = image.naturalHeight;
  const g = canvas.getContext("2d");
  g.drawImage(image, 0, 0);
  const [w] = track.frame_size_px ?? [image.naturalWidth];
  const s = image.naturalWidth / w;
  g.lineWidth = 2;
  g.strokeStyle = "#00e0ff";
  g.beginPath();
  track.trajectory.forEach(([, x1, , x2, y2], i) => {
    const [x, y] = [((x1 + x2) / 2) * s, y2 * s];
    if (i === 0) g.moveTo(x, y);
    else g.lineTo(x, y);
  });
  g.stroke();
  const [bx1, by1, bx2, by2] = track.best_box;
  g.strokeStyle = "#ffd400";
  g.strokeRect(bx1 * s, by1 * s, (bx2 - bx1) * s, (by2 - by1) * s);
}

// ---- the clip ------------------------------------------------------------------------------

function videoUrl(clipUrl) {
  const url = new URL(clipUrl, location.origin);
  url.pathname += "/video.mp4";
  return url.toString();
}

async function loadClip() {
  if (!track.clip_available || !track.clip_url) {
    $("clip-status").textContent = t("track.no_clip");
    return;
  }
  $("clip-status").textContent = t("track.clip_loading");
  const reply = await fetch(videoUrl(track.clip_url)); // a signed link: no credentials
  if (!reply.ok) {
    let detail = `HTTP ${reply.status}`;
    try {
      detail = (await reply.json()).detail;
    } catch {}
    $("clip-status").textContent = t("track.clip_failed", { detail });
    return;
  }
  clip = {
    seek: Number(reply.headers.get("X-Clip-Seek-S") ?? 0),
    fps: Number(reply.headers.get("X-Clip-Fps") ?? 25) || 25,
    start: new Date(reply.headers.get("X-Clip-Start") ?? track.start_at),
  };
  video.src = URL.createObjectURL(await reply.blob());
  video.addEventListener("loadedmetadata", () => (video.currentTime = clip.seek), { once: true });
  $("clip-status").textContent = t("track.clip_ready");
}

function showClipTime() {
  if (!clip.start) return;
  const at = new Date(clip.start.getTime() + video.currentTime * 1000);
  $("clip-time").textContent = `${fmtTime(at.toISOString())} (${video.currentTime.toFixed(2)} s)`;
}

video.addEventListener("timeupdate", showClipTime);
video.addEventListener("seeked", showClipTime);
video.addEventListener("play", () => ($("play").textContent = t("track.pause")));
video.addEventListener("pause", () => ($("play").textContent = t("track.play")));
$("play").addEventListener("click", () => (video.paused ? video.play() : video.pause()));
function step(frames) {
  video.pause();
  video.currentTime = Math.max(0, video.currentTime + frames / clip.fps);
}
$("frame-back").addEventListener("click", () => step(-1));
$("frame-forward").addEventListener("click", () => step(1));
$("to-sighting").addEventListener("click", () => (video.currentTime = clip.seek));

// ---- more like this, add to case -----------------------------------------------------------

function smallCard(hit) {
  const item = document.createElement("a");
  item.className = "hit";
  item.href = `/ui/tracks/${hit.track_id}`;
  const img = document.createElement("img");
  img.alt = t("search.best_shot", { id: hit.track_id });
  if (hit.thumbnail_url) img.src = hit.thumbnail_url;
  const meta = document.createElement("div");
  meta.textContent = `${hit.camera_id} · ${fmtTime(hit.start_at)} · ${hit.score.toFixed(2)}`;
  item.append(img, meta);
  return item;
}

$("more-like-this").addEventListener("click", async () => {
  try {
    const reply = await api(`search/track/${trackId}`, { method: "POST", body: { top_k: 20, ...access } });
    $("similar").replaceChildren(...reply.hits.map(smallCard));
    $("similar-box").hidden = false;
  } catch (e) {
    flash(t("common.error", { detail: e.detail ?? e }));
  }
});

$("add-to-case").addEventListener("click", async () => {
  try {
    const chosen = await requireCase(t("track.case_for_export"));
    const count = await addToCase(chosen.id, trackId);
    $("case-note").textContent = t("track.added", { case: chosen.title, count });
  } catch (e) {
    flash(e.detail ?? String(e));
  }
});

// ---- hop: the trail across cameras ---------------------------------------------------------
// Confirm / reject decisions are kept under the case in the catalog (PUT/DELETE
// cases/{id}/hops): a reload or another session of the case shows the same trail. The hop
// search under the case merges them in (confirmed sightings join the trail; rejected ones come
// last, marked), and the case's trail lists every decision with reject / withdraw.

let cameras = [];

function hopCaseId() {
  return access.case_id ?? currentCase()?.id ?? null;
}

// The case decisions go under: the track's own case, else the case bar's (asked for if none).
async function decisionCase() {
  if (access.case_id) return access.case_id;
  const chosen = await requireCase(t("hop.case_needed"));
  access = { case_id: chosen.id, purpose: chosen.purpose };
  return chosen.id;
}

async function decide(fromId, toId, decision) {
  try {
    const caseId = await decisionCase();
    const note = $("hop-note").value.trim();
    await api(`cases/${encodeURIComponent(caseId)}/hops`, {
      method: "PUT",
      body: { from_track_id: fromId, to_track_id: toId, decision, note },
    });
    $("hop-note").value = "";
    await runHop();
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 0)) flash(t("common.error", { detail: e.detail ?? e }));
  }
}

async function withdraw(fromId, toId) {
  try {
    await api(`cases/${encodeURIComponent(await decisionCase())}/hops`, {
      method: "DELETE",
      query: { from_track_id: fromId, to_track_id: toId },
    });
    await runHop();
  } catch (e) {
    flash(t("common.error", { detail: e.detail ?? e }));
  }
}

function button(label, action, onClick, secondary = false) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.dataset.action = action;
  if (secondary) b.className = "secondary";
  b.addEventListener("click", onClick);
  return b;
}

function project(items) {
  const placed = items.filter((c) => c.lat !== null && c.lon !== null);
  if (!placed.length) return new Map();
  const lat0 = placed.reduce((a, c) => a + c.lat, 0) / placed.length;
  const k = Math.cos((lat0 * Math.PI) / 180);
  const xy = placed.map((c) => [c.id, c.lon * k, -c.lat]);
  const xs = xy.map((p) => p[1]);
  const ys = xy.map((p) => p[2]);
  const [minX, maxX, minY, maxY] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const canvas = $("hop-map");
  const [w, h, m] = [canvas.width, canvas.height, 40];
  const span = Math.max(maxX - minX, maxY - minY, 1e-9);
  const scale = Math.min((w - 2 * m) / span, (h - 2 * m) / span);
  return new Map(xy.map(([id, x, y]) => [id, [m + (x - minX) * scale, m + (y - minY) * scale]]));
}

function drawHop(trail, candidates) {
  const canvas = $("hop-map");
  canvas.width = canvas.clientWidth || 600;
  canvas.height = canvas.clientHeight || 260;
  const at = project(cameras);
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, canvas.width, canvas.height);
  g.font = "12px system-ui";
  g.setLineDash([4, 4]);
  g.strokeStyle = "#9aa3b5";
  for (const c of candidates) {
    const from = trail.find((h) => h.track_id === c.from_track_id);
    const [a, b] = [at.get(from?.camera_id), at.get(c.camera_id)];
    if (a && b) {
      g.beginPath();
      g.moveTo(...a);
      g.lineTo(...b);
      g.stroke();
    }
  }
  g.setLineDash([]);
  g.strokeStyle = "#d0342c";
  g.lineWidth = 3;
  g.beginPath();
  trail.forEach((hit, i) => {
    const p = at.get(hit.camera_id);
    if (!p) return;
    if (i === 0) g.moveTo(...p);
    else g.lineTo(...p);
  });
  g.stroke();
  for (const camera of cameras) {
    const p = at.get(camera.id);
    if (!p) continue;
    const onTrail = trail.some((h) => h.camera_id === camera.id);
    g.fillStyle = onTrail ? "#d0342c" : "#1f5fbf";
    g.beginPath();
    g.arc(p[0], p[1], 7, 0, 2 * Math.PI);
    g.fill();
    g.fillStyle = "#1d2330";
    g.fillText(camera.name || camera.id, p[0] + 10, p[1] - 8);
  }
  trail.forEach((hit, i) => {
    const p = at.get(hit.camera_id);
    if (p) g.fillText(`${i + 1}`, p[0] - 3, p[1] + 20);
  });
}

function candidateCard(c) {
  const item = document.createElement("article");
  item.className = c.decision === "rejected" ? "cand rejected" : "cand";
  item.dataset.trackId = c.track_id;
  item.dataset.decision = c.decision ?? "";
  const img = document.createElement("img");
  img.alt = t("search.best_shot", { id: c.track_id });
  if (c.thumbnail_url) img.src = c.thumbnail_url;
  const body = document.createElement("div");
  const text = document.createElement("div");
  text.textContent = t("hop.candidate", {
    camera: c.camera_id, time: fmtTime(c.start_at), score: c.score.toFixed(2),
    direction: t(`hop.${c.direction}`), transit: Math.round(c.transit_s),
    expected: Math.round(c.expected_transit_s),
  });
  const link = document.createElement("a");
  link.href = `/ui/tracks/${c.track_id}`;
  link.textContent = t("hop.open");
  const actions =
    c.decision === "rejected"
      ? [button(t("hop.withdraw"), "withdraw", () => withdraw(c.from_track_id, c.track_id), true)]
      : [
          button(t("hop.confirm"), "confirm", () => decide(c.from_track_id, c.track_id, "confirmed")),
          button(t("hop.reject"), "reject", () => decide(c.from_track_id, c.track_id, "rejected"), true),
        ];
  if (c.decision === "rejected") text.prepend(`${t("hop.rejected_mark")} · `);
  body.append(text, link);
  for (const b of actions) body.append(document.createTextNode(" "), b);
  item.append(img, body);
  return item;
}

// One decision of the case's trail: both sightings, who decided, and what can be changed.
function decisionRow(hop) {
  const item = document.createElement("li");
  item.dataset.from = hop.from_track_id;
  item.dataset.to = hop.to_track_id;
  const text = document.createElement("span");
  text.textContent = t("hop.decided", {
    from_camera: hop.from_track.camera_id, from_time: fmtTime(hop.from_track.start_at),
    to_camera: hop.to_track.camera_id, to_time: fmtTime(hop.to_track.start_at),
    who: hop.decided_by,
  });
  item.append(text);
  if (hop.note) item.append(` · ${hop.note}`);
  const pair = [hop.from_track_id, hop.to_track_id];
  if (hop.decision === "confirmed") {
    item.append(" ", button(t("hop.reject"), "reject", () => decide(...pair, "rejected"), true));
  }
  item.append(" ", button(t("hop.withdraw"), "withdraw", () => withdraw(...pair), true));
  return item;
}

function showCaseTrail(caseTrail) {
  $("hop-decisions").hidden = !caseTrail;
  if (!caseTrail) return;
  const confirmed = caseTrail.confirmed.map(decisionRow);
  $("hop-confirmed").replaceChildren(...confirmed);
  $("hop-rejected").replaceChildren(...caseTrail.rejected.map(decisionRow));
  $("hop-none").hidden = confirmed.length + caseTrail.rejected.length > 0;
}

async function runHop() {
  $("hop-status").textContent = t("common.loading");
  try {
    if (!cameras.length) cameras = await api("cameras");
    const reply = await api("search/hop", { method: "POST", body: { track_id: trackId, ...access } });
    const caseId = hopCaseId();
    const caseTrail = caseId ? await api(`cases/${encodeURIComponent(caseId)}/hops`) : null;
    drawHop(reply.trail, reply.candidates.filter((c) => c.decision !== "rejected"));
    $("hop-candidates").replaceChildren(...reply.candidates.map(candidateCard));
    showCaseTrail(caseTrail);
    $("hop-status").textContent = t("hop.status", {
      trail: reply.trail.length, candidates: reply.candidates.length,
      rejected: caseTrail?.rejected.length ?? 0,
    });
    $("hop-map").dataset.trail = reply.trail.map((h) => h.track_id).join(",");
  } catch (e) {
    $("hop-status").textContent = t("common.error", { detail: e.detail ?? e });
  }
}

// On opening the page: the case's decisions, if it has any, redraw the trail at once.
async function resumeHop() {
  const caseId = hopCaseId();
  if (!caseId || !PAGE.user.capabilities.includes("object_search")) return;
  try {
    const caseTrail = await api(`cases/${encodeURIComponent(caseId)}/hops`);
    if (caseTrail.confirmed.length || caseTrail.rejected.length) await runHop();
  } catch (e) {
    $("hop-status").textContent = t("common.error", { detail: e.detail ?? e });
  }
}
$("hop-run").addEventListener("click", runHop);

// ---- load ----------------------------------------------------------------------------------

async function load() {
  $("track-status").textContent = t("common.loading");
  try {
    track = await withCase(() => api(`tracks/${trackId}`, { query: access }));
  } catch (e) {
    $("track-status").textContent = t("common.error", { detail: e.detail ?? e });
    return;
  }
  $("track-status").textContent = "";
  $("track").hidden = false;
  $("hop").hidden = !PAGE.user.capabilities.includes("object_search");
  showFacts();
  await Promise.all([drawTrajectory().catch(() => {}), loadClip()]);
  await resumeHop();
  document.documentElement.dataset.ready = "track";
}
load();

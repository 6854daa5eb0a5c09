// Camera positions on a canvas (issue #18 part 4), with no map tiles (no internet here): either
// a plain projection of latitude/longitude (equirectangular, x scaled by cos(latitude), which
// is exact enough over a city) or a site plan kept by the server (/api/v1/site-plans) whose
// edges are pinned to coordinates; the canvas takes the plan's aspect ratio. Markers show state by colour and the heading as a wedge; a marker can be dragged
// (or a camera placed by clicking) when `editable`, reporting the new lat/lon through onMove.

export const STATE_COLOURS = {
  online: "#1e7a3c", connecting: "#c98a00", reconnecting: "#c98a00", offline: "#b3261e",
  stopped: "#b3261e", paused: "#7a7f8c", footage: "#1f5fbf",
};

// The state of a camera the status has no entry for: uploaded footage (an offline camera) is
// never connected, a live one is connecting or paused.
export function stateWithoutStatus(camera) {
  if (camera.kind === "offline") return "footage";
  return camera.enabled ? "connecting" : "paused";
}
const MARKER_PX = 8;
const PAD = 0.3; // share of the span left around the cameras in the plain projection
const MIN_SPAN_DEG = 0.0005; // ~50 m: one camera alone still gets a sensible window
const PLAN_HEIGHT_PX = [180, 720]; // the canvas height a plan's aspect may give it

export class CameraMap {
  constructor(canvas, { onMove = null, onPick = null, onDraw = null } = {}) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.cameras = [];
    this.statuses = {};
    this.plan = null; // {image, north, south, west, east, width_px, height_px}
    this.plainHeight = canvas.height;
    this.onMove = onMove;
    this.onPick = onPick;
    this.onDraw = onDraw; // (markers) after every drawing
    this.placing = null; // camera id waiting for a click
    this.dragging = null;
    canvas.addEventListener("pointerdown", (e) => this.#down(e));
    canvas.addEventListener("pointermove", (e) => this.#move(e));
    canvas.addEventListener("pointerup", (e) => this.#up(e));
  }

  setCameras(cameras, statuses = {}) {
    this.cameras = cameras;
    this.statuses = statuses;
    this.draw();
  }

  setPlan(plan) {
    this.plan = plan;
    const [low, high] = PLAN_HEIGHT_PX;
    const aspect = plan ? plan.height_px / plan.width_px : null;
    this.canvas.height = aspect ? Math.round(Math.min(high, Math.max(low, this.canvas.width * aspect))) : this.plainHeight;
    this.draw();
  }

  // Where each positioned camera is drawn (canvas px) and whether it lies inside the window:
  // the page lists these beside the canvas for screen readers (and tests read them).
  markers(b = this.bounds()) {
    if (!b) return [];
    return this.positioned().map((camera) => {
      const [x, y] = this.toCanvas(camera.lat, camera.lon, b);
      const inside = x >= 0 && y >= 0 && x <= this.canvas.width && y <= this.canvas.height;
      return { camera, x: Math.round(x), y: Math.round(y), inside };
    });
  }

  placeNext(cameraId) {
    this.placing = cameraId;
    this.canvas.classList.add("placing");
  }

  positioned() {
    return this.cameras.filter((c) => c.lat !== null && c.lon !== null);
  }

  // The window shown: the plan's corners, else the cameras' bounding box padded.
  bounds() {
    if (this.plan) return this.plan;
    const placed = this.positioned();
    if (!placed.length) return null;
    const lats = placed.map((c) => c.lat);
    const lons = placed.map((c) => c.lon);
    const midLat = (Math.min(...lats) + Math.max(...lats)) / 2;
    const midLon = (Math.min(...lons) + Math.max(...lons)) / 2;
    const cos = Math.cos((midLat * Math.PI) / 180);
    let latSpan = Math.max(Math.max(...lats) - Math.min(...lats), MIN_SPAN_DEG) * (1 + 2 * PAD);
    let lonSpan = Math.max(Math.max(...lons) - Math.min(...lons), MIN_SPAN_DEG) * (1 + 2 * PAD);
    // keep ground distances square on the canvas
    const aspect = this.canvas.width / this.canvas.height;
    if ((lonSpan * cos) / latSpan < aspect) lonSpan = (latSpan * aspect) / cos;
    else latSpan = (lonSpan * cos) / aspect;
    return {
      north: midLat + latSpan / 2, south: midLat - latSpan / 2,
      west: midLon - lonSpan / 2, east: midLon + lonSpan / 2,
    };
  }

  toCanvas(lat, lon, b = this.bounds()) {
    return [
      ((lon - b.west) / (b.east - b.west)) * this.canvas.width,
      ((b.north - lat) / (b.north - b.south)) * this.canvas.height,
    ];
  }

  toLatLon(x, y, b = this.bounds()) {
    const round = (v) => Math.round(v * 1e6) / 1e6;
    return [
      round(b.north - (y / this.canvas.height) * (b.north - b.south)),
      round(b.west + (x / this.canvas.width) * (b.east - b.west)),
    ];
  }

  #point(event) {
    const box = this.canvas.getBoundingClientRect();
    return [
      ((event.clientX - box.left) / box.width) * this.canvas.width,
      ((event.clientY - box.top) / box.height) * this.canvas.height,
    ];
  }

  #hit(x, y) {
    const b = this.bounds();
    if (!b) return null;
    return this.positioned().find((c) => {
      const [cx, cy] = this.toCanvas(c.lat, c.lon, b);
      return Math.hypot(cx - x, cy - y) <= MARKER_PX + 4;
    }) ?? null;
  }

  #down(event) {
    const [x, y] = this.#point(event);
    const b = this.bounds();
    if (this.placing && b && this.onMove) {
      const [lat, lon] = this.toLatLon(x, y, b);
      const id = this.placing;
      this.placing = null;
      this.canvas.classList.remove("placing");
      this.onMove(id, lat, lon);
      return;
    }
    const camera = this.#hit(x, y);
    if (!camera) return;
    if (this.onMove) {
      this.dragging = { camera, bounds: b, moved: false };
      this.canvas.setPointerCapture(event.pointerId);
    } else if (this.onPick) this.onPick(camera.id);
  }

  #move(event) {
    if (!this.dragging) return;
    const [x, y] = this.#point(event);
    const [lat, lon] = this.toLatLon(x, y, this.dragging.bounds);
    this.dragging.camera.lat = lat;
    this.dragging.camera.lon = lon;
    this.dragging.moved = true;
    this.draw(this.dragging.bounds);
  }

  #up() {
    const drag = this.dragging;
    this.dragging = null;
    if (!drag) return;
    if (drag.moved) this.onMove(drag.camera.id, drag.camera.lat, drag.camera.lon);
    else if (this.onPick) this.onPick(drag.camera.id);
  }

  draw(b = this.bounds()) {
    const { ctx, canvas } = this;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (this.plan?.image) ctx.drawImage(this.plan.image, 0, 0, canvas.width, canvas.height);
    else {
      ctx.fillStyle = "#fbfbfd";
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      ctx.strokeStyle = "#e4e7ee";
      ctx.lineWidth = 1;
      for (let x = 0; x < canvas.width; x += 50) {
        ctx.beginPath(); ctx.moveTo(x, 0); ctx.lineTo(x, canvas.height); ctx.stroke();
      }
      for (let y = 0; y < canvas.height; y += 50) {
        ctx.beginPath(); ctx.moveTo(0, y); ctx.lineTo(canvas.width, y); ctx.stroke();
      }
    }
    if (!b) return this.onDraw?.([]);
    ctx.font = "12px system-ui";
    this.positioned().forEach((camera, index) => {
      const [x, y] = this.toCanvas(camera.lat, camera.lon, b);
      const state = this.statuses[camera.id]?.state ?? stateWithoutStatus(camera);
      const colour = STATE_COLOURS[state] ?? "#444";
      if (camera.heading_deg !== null && camera.heading_deg !== undefined) {
        const a = ((camera.heading_deg - 90) * Math.PI) / 180; // 0° = north, clockwise
        ctx.beginPath();
        ctx.moveTo(x, y);
        ctx.arc(x, y, 34, a - 0.4, a + 0.4);
        ctx.closePath();
        ctx.fillStyle = colour + "40";
        ctx.fill();
      }
      ctx.beginPath();
      ctx.arc(x, y, MARKER_PX, 0, Math.PI * 2);
      ctx.fillStyle = colour;
      ctx.fill();
      ctx.strokeStyle = "#fff";
      ctx.lineWidth = 2;
      ctx.stroke();
      ctx.fillStyle = "#1d2330";
      ctx.textAlign = "center"; // names alternate above and below, so neighbours stay legible
      ctx.fillText(camera.name, x, index % 2 ? y + MARKER_PX + 14 : y - MARKER_PX - 6);
      ctx.textAlign = "start";
    });
    this.onDraw?.(this.markers(b));
  }
}

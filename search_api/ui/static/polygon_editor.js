// Draw and edit a zone's polygon on a camera frame (issue #18 part 4). Vertices are kept as
// fractions of the image (x, y in [0, 1], origin top left), the API's unit. Click adds a
// vertex, dragging a vertex moves it, double-click or right-click on a vertex removes it;
// the keyboard works too (arrows move the selected vertex, Delete removes it, Tab cycles).
// Other zones of the camera are drawn faded for reference. No dependencies.

export const MIN_VERTICES = 3;
const HANDLE_PX = 7;

export function polygonProblem(points) {
  // A message key (shell t()) naming what is wrong, or null when the polygon can be saved.
  if (points.length < MIN_VERTICES) return "zones.too_few_points";
  if (Math.abs(area(points)) < 1e-5) return "zones.no_area";
  return null;
}

export function area(points) {
  let sum = 0;
  for (let i = 0; i < points.length; i++) {
    const [x1, y1] = points[i];
    const [x2, y2] = points[(i + 1) % points.length];
    sum += x1 * y2 - x2 * y1;
  }
  return sum / 2;
}

const clamp01 = (v) => Math.min(1, Math.max(0, v));

export class PolygonEditor {
  constructor(canvas, { onChange = () => {} } = {}) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.image = null;
    this.points = [];
    this.others = [];
    this.selected = -1;
    this.dragging = -1;
    this.onChange = onChange;
    canvas.tabIndex = 0;
    canvas.addEventListener("pointerdown", (e) => this.#down(e));
    canvas.addEventListener("pointermove", (e) => this.#move(e));
    canvas.addEventListener("pointerup", () => (this.dragging = -1));
    canvas.addEventListener("dblclick", (e) => this.#removeAt(e));
    canvas.addEventListener("contextmenu", (e) => {
      e.preventDefault();
      this.#removeAt(e);
    });
    canvas.addEventListener("keydown", (e) => this.#key(e));
  }

  setImage(image) {
    this.image = image;
    this.canvas.width = image?.naturalWidth || 640;
    this.canvas.height = image?.naturalHeight || 360;
    this.draw();
  }

  setPoints(points) {
    this.points = points.map(([x, y]) => [clamp01(x), clamp01(y)]);
    this.selected = -1;
    this.draw();
    this.onChange(this.points);
  }

  setOthers(polygons) {
    this.others = polygons;
    this.draw();
  }

  clear() {
    this.setPoints([]);
  }

  #toFraction(event) {
    const box = this.canvas.getBoundingClientRect();
    return [clamp01((event.clientX - box.left) / box.width), clamp01((event.clientY - box.top) / box.height)];
  }

  #hit(event) {
    const box = this.canvas.getBoundingClientRect();
    const [fx, fy] = this.#toFraction(event);
    const px = fx * box.width;
    const py = fy * box.height;
    return this.points.findIndex(([x, y]) => Math.hypot(x * box.width - px, y * box.height - py) <= HANDLE_PX + 2);
  }

  #down(event) {
    if (event.button !== 0) return;
    this.canvas.focus();
    const index = this.#hit(event);
    if (index >= 0) {
      this.selected = this.dragging = index;
      this.canvas.setPointerCapture(event.pointerId);
    } else {
      this.points.push(this.#toFraction(event));
      this.selected = this.points.length - 1;
      this.onChange(this.points);
    }
    this.draw();
  }

  #move(event) {
    if (this.dragging < 0) return;
    this.points[this.dragging] = this.#toFraction(event);
    this.draw();
    this.onChange(this.points);
  }

  #removeAt(event) {
    const index = this.#hit(event);
    if (index < 0) return;
    this.points.splice(index, 1);
    this.selected = -1;
    this.draw();
    this.onChange(this.points);
  }

  #key(event) {
    if (!this.points.length) return;
    const step = event.shiftKey ? 0.02 : 0.005;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (event.key === "Tab" && !event.ctrlKey) {
      if (this.selected === this.points.length - 1 && !event.shiftKey) return; // leave the canvas
      event.preventDefault();
      this.selected = (this.selected + (event.shiftKey ? -1 : 1) + this.points.length) % this.points.length;
    } else if (moves[event.key] && this.selected >= 0) {
      event.preventDefault();
      const [dx, dy] = moves[event.key];
      const [x, y] = this.points[this.selected];
      this.points[this.selected] = [clamp01(x + dx), clamp01(y + dy)];
      this.onChange(this.points);
    } else if ((event.key === "Delete" || event.key === "Backspace") && this.selected >= 0) {
      event.preventDefault();
      this.points.splice(this.selected, 1);
      this.selected = Math.min(this.selected, this.points.length - 1);
      this.onChange(this.points);
    } else {
      return;
    }
    this.draw();
  }

  #path(points, w, h) {
    const ctx = this.ctx;
    ctx.beginPath();
    points.forEach(([x, y], i) => (i ? ctx.lineTo(x * w, y * h) : ctx.moveTo(x * w, y * h)));
    if (points.length > 2) ctx.closePath();
  }

  draw() {
    const { ctx, canvas } = this;
    const w = canvas.width;
    const h = canvas.height;
    ctx.clearRect(0, 0, w, h);
    if (this.image) ctx.drawImage(this.image, 0, 0, w, h);
    else {
      ctx.fillStyle = "#2a2f3a";
      ctx.fillRect(0, 0, w, h);
    }
    const scale = Math.max(1, w / 640);
    ctx.lineWidth = 2 * scale;
    for (const other of this.others) {
      ctx.strokeStyle = "rgba(255,255,255,0.55)";
      ctx.fillStyle = "rgba(255,255,255,0.10)";
      this.#path(other.polygon, w, h);
      ctx.fill();
      ctx.stroke();
      if (other.polygon.length) {
        ctx.fillStyle = "rgba(255,255,255,0.85)";
        ctx.font = `${12 * scale}px system-ui`;
        ctx.fillText(other.name, other.polygon[0][0] * w + 4, other.polygon[0][1] * h - 4);
      }
    }
    if (!this.points.length) return;
    ctx.strokeStyle = "#ffcc00";
    ctx.fillStyle = "rgba(255,204,0,0.25)";
    this.#path(this.points, w, h);
    if (this.points.length > 2) ctx.fill();
    ctx.stroke();
    this.points.forEach(([x, y], i) => {
      ctx.beginPath();
      ctx.arc(x * w, y * h, HANDLE_PX * scale, 0, Math.PI * 2);
      ctx.fillStyle = i === this.selected ? "#ff5722" : "#ffcc00";
      ctx.fill();
      ctx.strokeStyle = "#000";
      ctx.lineWidth = scale;
      ctx.stroke();
    });
  }
}

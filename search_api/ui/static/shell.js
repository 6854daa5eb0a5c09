// The shell every page loads (issue #18): UI text, the API client (session cookie + CSRF
// header; a 401 asks to sign in again and repeats the request, so nothing typed is lost), the
// case bar, the session refresh and sign-out. Pages import what they need from here.

const STRINGS = JSON.parse(document.getElementById("ui-strings").textContent);
export const PAGE = JSON.parse(document.getElementById("ui-page").textContent);
const REFRESH_BEFORE_MS = 60_000;
const ACTIVE_WINDOW_MS = 10 * 60_000;

export function t(key, values = {}) {
  const text = STRINGS[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
    this.detail = detail;
  }
}

function cookie(name) {
  const found = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
  return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
}

export function csrfHeaders(headers = {}) {
  return { ...headers, "X-CSRF-Token": cookie("skynet_csrf") };
}

async function detailOf(response) {
  try {
    const body = await response.json();
    return typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
  } catch {
    return `HTTP ${response.status}`;
  }
}

// One sign-in prompt at a time; every request refused meanwhile waits for it.
let signingIn = null;

export function signInAgain() {
  if (signingIn) return signingIn;
  const dialog = document.getElementById("signin-dialog");
  const form = document.getElementById("signin-again-form");
  const error = document.getElementById("signin-again-error");
  const name = document.getElementById("signin-again-name");
  if (PAGE.user && !name.value) name.value = PAGE.user.name;
  signingIn = new Promise((resolve) => {
    async function submit(event) {
      event.preventDefault();
      error.hidden = true;
      const response = await fetch("/ui/session", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ name: name.value, password: form.password.value }),
      });
      if (!response.ok) {
        error.textContent = t("auth.failed", { detail: await detailOf(response) });
        error.hidden = false;
        return;
      }
      const body = await response.json();
      form.removeEventListener("submit", submit);
      form.password.value = "";
      dialog.close();
      signingIn = null;
      scheduleRefresh(body.expires_at);
      resolve();
    }
    form.addEventListener("submit", submit);
    dialog.addEventListener("cancel", (e) => e.preventDefault()); // Esc would lose the retry
    dialog.showModal();
  });
  return signingIn;
}

// fetch() against /api/v1 as the signed-in user. JSON bodies are sent as JSON, FormData as is.
// Resolves to the parsed JSON (null for 204); rejects with ApiError naming what is wrong.
export async function api(path, { method = "GET", body, query, raw = false } = {}) {
  const url = new URL(path.startsWith("/") ? path : `/api/v1/${path}`, location.origin);
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  }
  for (let attempt = 0; ; attempt++) {
    const headers = csrfHeaders();
    let payload = body;
    if (body !== undefined && !(body instanceof FormData)) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    const response = await fetch(url, { method, headers, body: payload });
    if (response.status === 401 && attempt < 2) {
      await signInAgain();
      continue;
    }
    if (!response.ok) throw new ApiError(response.status, await detailOf(response));
    if (raw) return response;
    return response.status === 204 ? null : response.json();
  }
}

export function flash(message, kind = "error") {
  const box = document.getElementById("flash");
  box.textContent = message;
  box.className = kind;
  box.hidden = false;
  clearTimeout(flash.timer);
  if (kind !== "error") flash.timer = setTimeout(() => (box.hidden = true), 4000);
}

// ---- session refresh (while the user is active) and sign-out -------------------------------

let lastActive = Date.now();
for (const name of ["pointerdown", "keydown"]) {
  addEventListener(name, () => (lastActive = Date.now()), { passive: true });
}

function scheduleRefresh(expiresAt) {
  clearTimeout(scheduleRefresh.timer);
  if (!expiresAt) return;
  const wait = Math.max(5_000, new Date(expiresAt) - Date.now() - REFRESH_BEFORE_MS);
  scheduleRefresh.timer = setTimeout(async () => {
    if (Date.now() - lastActive > ACTIVE_WINDOW_MS) return; // idle: let it expire
    const response = await fetch("/ui/session/refresh", { method: "POST", headers: csrfHeaders() });
    if (response.ok) scheduleRefresh((await response.json()).expires_at);
  }, wait);
}

async function signOut() {
  await fetch("/ui/session/logout", { method: "POST", headers: csrfHeaders() });
  location.assign("/ui/login");
}

// ---- the case bar: the current case and purpose, per user, in this browser ------------------

function caseKey() {
  return `skynet.case.${PAGE.user?.name ?? ""}`;
}

export function currentCase() {
  try {
    return JSON.parse(localStorage.getItem(caseKey()) ?? "null");
  } catch {
    return null;
  }
}

function showCase() {
  const chosen = currentCase();
  const label = document.getElementById("case-current");
  if (!label) return;
  label.textContent = chosen ? `${chosen.title} (${chosen.id})` : t("case.none");
  document.getElementById("case-purpose").textContent = chosen ? chosen.purpose : "—";
}

// Resolves to {id, title, purpose}; asks for one when none is chosen (or `ask` is set).
export async function requireCase(why = "", ask = false) {
  const chosen = currentCase();
  if (chosen && !ask) return chosen;
  const dialog = document.getElementById("case-dialog");
  const select = document.getElementById("case-select");
  const error = document.getElementById("case-error");
  document.getElementById("case-dialog-why").textContent = why;
  error.hidden = true;
  const cases = await api("cases", { query: { open_only: true } });
  select.replaceChildren(
    ...cases.map((c) => new Option(`${c.title} (${c.id})`, JSON.stringify(c), false, c.id === chosen?.id)),
  );
  document.getElementById("case-purpose-input").value = chosen?.purpose ?? "";
  return new Promise((resolve, reject) => {
    const openButton = document.getElementById("case-open");
    const form = document.getElementById("case-form");
    const cancel = document.getElementById("case-cancel");
    async function openNew() {
      const title = document.getElementById("case-new-title").value.trim();
      if (!title) {
        error.textContent = t("case.title_needed");
        error.hidden = false;
        return;
      }
      try {
        const made = await api("cases", { method: "POST", body: { title } });
        select.prepend(new Option(`${made.title} (${made.id})`, JSON.stringify(made), true, true));
        select.value = JSON.stringify(made);
        document.getElementById("case-new-title").value = "";
        error.hidden = true;
      } catch (e) {
        error.textContent = e.detail ?? String(e);
        error.hidden = false;
      }
    }
    function done() {
      openButton.removeEventListener("click", openNew);
      form.removeEventListener("submit", save);
      cancel.removeEventListener("click", abort);
    }
    function save(event) {
      event.preventDefault();
      const purpose = document.getElementById("case-purpose-input").value.trim();
      if (!select.value || !purpose) {
        error.textContent = t("case.needs_both");
        error.hidden = false;
        return;
      }
      const c = JSON.parse(select.value);
      const value = { id: c.id, title: c.title, purpose };
      localStorage.setItem(caseKey(), JSON.stringify(value));
      showCase();
      done();
      dialog.close();
      resolve(value);
    }
    function abort() {
      done();
      dialog.close();
      reject(new ApiError(0, t("case.needed")));
    }
    openButton.addEventListener("click", openNew);
    form.addEventListener("submit", save);
    cancel.addEventListener("click", abort);
    dialog.showModal();
  });
}

// Tracks filed under a case for its evidence export (kept by the server: any browser, any
// colleague reading the case, and a legal hold, see them).
export async function caseTracks(caseId) {
  const reply = await api(`cases/${encodeURIComponent(caseId)}/tracks`);
  return reply.track_ids;
}

export async function addToCase(caseId, trackId) {
  const reply = await api(`cases/${encodeURIComponent(caseId)}/tracks`, {
    method: "POST",
    body: { track_ids: [Number(trackId)] },
  });
  return reply.track_ids.length;
}

// ---- wiring ----------------------------------------------------------------------------------

export function fmtTime(iso) {
  const d = new Date(iso);
  return d.toLocaleString(document.documentElement.lang, { hour12: false });
}

if (PAGE.user) {
  showCase();
  scheduleRefresh(PAGE.user.expires_at);
  document.getElementById("sign-out")?.addEventListener("click", signOut);
  document.getElementById("case-choose")?.addEventListener("click", () =>
    requireCase("", true).catch(() => {}),
  );
}
document.documentElement.dataset.ready = "shell";

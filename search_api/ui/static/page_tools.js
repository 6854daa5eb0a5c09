// What the operations pages (audit, events, cases) share: building elements, the error text of
// a failed call, a datetime-local input as an ISO time, and saving a reply as a download.
import { api, t, flash } from "./shell.js";

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else if (k.startsWith("data-") || k.startsWith("aria-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  node.append(...children);
  return node;
}

export const errorText = (e) => t("common.error", { detail: e.detail ?? String(e) });

// The ISO time of a datetime-local input (undefined when empty: the API's filter is left out).
export function isoInput(inputId) {
  const value = document.getElementById(inputId).value;
  return value ? new Date(value).toISOString() : undefined;
}

// GET `path` (with `query`, as api() takes it) and save the reply as `filename`; a failure is
// flashed.
export async function downloadAs(path, query, filename) {
  try {
    const response = await api(path, { query, raw: true });
    const link = el("a", { href: URL.createObjectURL(await response.blob()), download: filename });
    document.body.append(link);
    link.click();
    link.remove();
  } catch (e) {
    flash(errorText(e));
  }
}

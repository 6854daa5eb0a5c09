// Audit page (issue #18 part 7, auditors): the audit log filtered and paged in chain order,
// the chain's verification (hash chain, signed checkpoints, triggers) and the signed export as
// CSV or JSON Lines. Reading the log is itself audited by the API.
import { api, t, flash, fmtTime } from "./shell.js";
import { el, errorText, isoInput, downloadAs } from "./page_tools.js";

const PAGE_SIZE = 100;
let afterSeq = 0;

function filters() {
  return {
    principal: document.getElementById("a-principal").value.trim(),
    action: document.getElementById("a-action").value.trim(),
    case_id: document.getElementById("a-case").value.trim(),
    start: isoInput("a-start"), end: isoInput("a-end"),
  };
}

async function load(more = false) {
  const page = await api("audit", { query: { ...filters(), after_seq: more ? afterSeq : 0, limit: PAGE_SIZE } });
  const rows = page.items.map((e) => el("tr", { "data-seq": e.seq, title: JSON.stringify(e.filters) },
    el("td", { className: "num", text: e.seq }), el("td", { text: fmtTime(e.at) }), el("td", { text: e.principal }),
    el("td", { text: e.role }), el("td", { text: e.action }), el("td", { text: e.case_id ?? "" }),
    el("td", { text: e.purpose ?? "" }), el("td", { text: e.target ?? "" }),
    el("td", { className: "num", text: e.hit_count ?? "" })));
  const body = document.getElementById("audit-rows");
  if (more) body.append(...rows);
  else body.replaceChildren(...rows);
  if (!more && !rows.length) body.append(el("tr", {}, el("td", { colSpan: 9, className: "hint", text: t("audit.none") })));
  afterSeq = page.next_after_seq ?? afterSeq;
  document.getElementById("a-more").hidden = page.next_after_seq === null;
}

async function verify() {
  const result = document.getElementById("verify-result");
  const list = document.getElementById("verify-problems");
  result.textContent = t("common.loading");
  list.replaceChildren();
  try {
    const report = await api("audit/verify");
    result.className = report.ok ? "verified" : "not-verified";
    result.textContent = report.ok
      ? t("audit.chain_ok", { entries: report.entries_checked, checkpoints: report.checkpoints })
      : t("audit.chain_bad", { count: report.problems.length, checkpoint: report.last_good_checkpoint });
    list.replaceChildren(...report.problems.map((p) => el("li", { className: "error", text: `#${p.seq} ${p.kind}: ${p.detail}` })));
  } catch (e) {
    result.className = "not-verified";
    result.textContent = errorText(e);
  }
}

document.getElementById("audit-filters").addEventListener("submit", (e) => {
  e.preventDefault();
  load().catch((err) => flash(errorText(err)));
});
document.getElementById("a-more").addEventListener("click", () => load(true).catch((e) => flash(errorText(e))));
document.getElementById("a-verify").addEventListener("click", verify);
for (const format of ["csv", "jsonl"]) {
  document.getElementById(`a-${format}`).addEventListener("click",
    () => downloadAs("audit/export", { ...filters(), format }, `audit.${format}`));
}
load()
  .catch((e) => flash(errorText(e)))
  .finally(() => (document.documentElement.dataset.ready = "audit"));

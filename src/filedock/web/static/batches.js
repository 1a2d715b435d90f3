// filedock dashboard, Batches page: the key's batches (newest first) with live progress
// (request_counts), status, usage, links to the input/output/error files, errors of a failed
// batch, and Cancel. Calls GET /v1/batches, GET /v1/batches/{id}, POST /v1/batches/{id}/cancel.
// A page of the dashboard's page registry (core.js), built with core.js's helpers.
"use strict";

(function () {
  const API = window.filedock.API;
  const PAGE_SIZE = 20;
  const POLL_MS = 1000; // while a batch shown is running
  const IDLE_MS = 10000; // otherwise
  const TERMINAL = new Set(["completed", "failed", "expired", "cancelled"]);
  const CANCELLABLE = new Set(["validating", "in_progress"]);
  const view = { batches: [], hasMore: false, loadedAt: 0, busy: false, root: null };

  // ---------------------------------------------------------------- helpers (core.js)
  const { api, el, say, state } = window.filedock;
  const key = () => state.key;

  function when(ts) {
    return ts ? new Date(ts * 1000).toISOString().replace("T", " ").slice(0, 19) : "-";
  }

  function number(n) {
    return Number(n || 0).toLocaleString("en-US");
  }

  // ---------------------------------------------------------------- files
  async function download(fileId) {
    try {
      const meta = await api("GET", `/files/${fileId}`);
      const response = await fetch(`${API}/files/${fileId}/content`, {
        headers: { Authorization: `Bearer ${key()}` },
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const blob = await response.blob();
      const url = URL.createObjectURL(blob);
      const a = el("a", { href: url, download: meta.filename || `${fileId}.jsonl` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      say(`Downloaded ${meta.filename || fileId}.`);
    } catch (e) {
      say(`Could not download ${fileId}: ${e.message}`, true);
    }
  }

  function fileLink(label, fileId, batchId) {
    if (!fileId) return el("span", { class: "muted" }, `${label}: -`);
    return el("button", {
      type: "button", class: "link", "data-file": label.toLowerCase(),
      title: fileId, "aria-label": `Download ${label.toLowerCase()} file of ${batchId}`,
      onclick: () => download(fileId),
    }, label);
  }

  // ---------------------------------------------------------------- rendering
  function progressCell(b) {
    const c = b.request_counts || { total: 0, completed: 0, failed: 0 };
    const done = c.completed + c.failed;
    const bar = el("progress", {
      max: String(Math.max(c.total, 1)), value: String(done),
      "aria-label": `${done} of ${c.total} requests done`,
    });
    const text = el("span", { class: "batch-counts" },
      `${number(done)}/${number(c.total)}` + (c.failed ? ` · ${number(c.failed)} failed` : ""));
    return el("td", { "data-label": "Progress" }, bar, text);
  }

  function usageCell(b) {
    const u = b.usage;
    if (!u) return el("td", { "data-label": "Tokens", class: "muted" }, "-");
    return el("td", { "data-label": "Tokens", class: "batch-usage",
      title: `input ${u.input_tokens}, output ${u.output_tokens}` },
    `${number(u.total_tokens)} (${number(u.input_tokens)} in, ${number(u.output_tokens)} out)`);
  }

  function row(b) {
    const actions = el("td", { "data-label": "Actions" });
    if (CANCELLABLE.has(b.status)) {
      actions.append(el("button", {
        type: "button", class: "danger", "aria-label": `Cancel ${b.id}`,
        onclick: () => cancel(b),
      }, "Cancel"));
    }
    const name = el("td", { "data-label": "Batch", class: "batch-name" }, el("div", {},
      el("code", {}, b.id),
      el("span", { class: "muted" }, `${b.endpoint}${b.model ? " · " + b.model : ""}`)));
    const files = el("td", { "data-label": "Files", class: "batch-files" }, el("div", {},
      fileLink("Input", b.input_file_id, b.id),
      fileLink("Output", b.output_file_id, b.id),
      fileLink("Errors", b.error_file_id, b.id)));
    const tr = el("tr", { "data-batch-id": b.id, "data-status": b.status },
      name,
      el("td", { "data-label": "Status" },
        el("span", { class: `badge badge-${b.status}` }, b.status.replace("_", " "))),
      progressCell(b),
      usageCell(b),
      el("td", { "data-label": "Created" }, when(b.created_at)),
      files,
      actions);
    const rows = [tr];
    const errors = (b.errors && b.errors.data) || [];
    if (errors.length) {
      const list = el("ul", { class: "batch-errors", "aria-label": `Errors of ${b.id}` },
        ...errors.slice(0, 20).map((e) => el("li", {},
          (e.line != null ? `line ${e.line}: ` : "") + `[${e.code}] ${e.message}`)));
      if (errors.length > 20) list.append(el("li", {}, `... ${errors.length - 20} more`));
      rows.push(el("tr", { class: "batch-errors-row", "data-errors-of": b.id },
        el("td", { colspan: "7" }, list)));
    }
    return rows;
  }

  function render() {
    const body = view.root.querySelector("tbody");
    body.replaceChildren(...view.batches.flatMap(row));
    view.root.querySelector("#batches-empty").hidden = view.batches.length > 0;
    view.root.querySelector("#batches-more").hidden = !view.hasMore;
  }

  // ---------------------------------------------------------------- data
  async function load(more) {
    if (view.busy || !key()) return;
    view.busy = true;
    try {
      const after = more && view.batches.length ? view.batches[view.batches.length - 1].id : null;
      // A refresh re-reads as many batches as are shown (pages of up to 100).
      const wanted = more ? PAGE_SIZE : Math.max(PAGE_SIZE, view.batches.length);
      const fetched = [];
      let cursor = after;
      let hasMore = false;
      while (fetched.length < wanted) {
        const limit = Math.min(100, wanted - fetched.length);
        const page = await api("GET", `/batches?limit=${limit}` + (cursor ? `&after=${cursor}` : ""));
        fetched.push(...page.data);
        hasMore = page.has_more;
        if (!page.has_more || !page.data.length) break;
        cursor = page.data[page.data.length - 1].id;
      }
      view.batches = more ? view.batches.concat(fetched) : fetched;
      view.hasMore = hasMore;
      view.loadedAt = Date.now();
      render();
    } catch (e) {
      say(`Could not list batches: ${e.message}`, true);
    } finally {
      view.busy = false;
    }
  }

  async function cancel(b) {
    try {
      const updated = await api("POST", `/batches/${b.id}/cancel`);
      view.batches = view.batches.map((x) => (x.id === updated.id ? updated : x));
      render();
      say(`Cancelling ${b.id}.`);
    } catch (e) {
      say(`Could not cancel ${b.id}: ${e.message}`, true);
    }
  }

  function visible() {
    return view.root && view.root.offsetParent !== null;
  }

  function tick() {
    if (visible() && key()) {
      const running = view.batches.some((b) => !TERMINAL.has(b.status));
      if (Date.now() - view.loadedAt >= (running ? POLL_MS : IDLE_MS)) load(false);
    }
    setTimeout(tick, 250);
  }

  // ---------------------------------------------------------------- page
  function build(container) {
    const section = el("section", { class: "card", id: "batches-section", "aria-labelledby": "batches-title" },
      el("div", { class: "batches-head" },
        el("h2", { id: "batches-title" }, "Batches"),
        el("button", { type: "button", id: "batches-refresh", onclick: () => load(false) }, "Refresh")),
      el("p", { class: "help" }, "Batches run on this server's engines; progress updates live. " +
        "Create one with the API or `filedock batch create FILE --endpoint ...`."),
      el("div", { class: "table-wrap" },
        el("table", { id: "batches-table" },
          el("thead", {}, el("tr", {}, ...["Batch", "Status", "Progress", "Tokens", "Created",
            "Files", "Actions"].map((h) => el("th", { scope: "col" }, h)))),
          el("tbody", {}))),
      el("p", { id: "batches-empty", class: "muted", hidden: "" }, "No batches yet."),
      el("div", { class: "pager" },
        el("button", { type: "button", id: "batches-more", hidden: "", onclick: () => load(true) },
          "Load more")));
    container.append(section);
    view.root = container;
  }

  function init() {
    let container = document.getElementById("page-batches");
    if (!container) {
      container = el("div", { class: "page", "data-page": "batches", id: "page-batches", hidden: "" });
      document.getElementById("app").append(container);
    }
    build(container);
    tick();
  }

  window.filedock.registerPage({ id: "batches", title: "Batches", init, show: () => load(false) });
})();

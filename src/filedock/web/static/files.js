// filedock dashboard, the Files page: a server-side filtered, sorted, paginated list, the details
// side pane with the validation report, download, delete, and the project's storage quota.
"use strict";

filedock.files = (function () {
  const { $, ApiError, api, el, humanBytes, when, say, statusBadge, copyText, state, API } =
    filedock;
  const view = {
    cursors: [null], // `after` of each page visited; the last is the current page's cursor
    page: null,
    selected: null,
    sort: "created_at",
    order: "desc",
    reportRoute: true, // false once the server says it has no report endpoint
    listSeq: 0,
    usageSeq: 0,
    detailsSeq: 0,
  };

  // ---------------------------------------------------------------- listing
  async function loadPage() {
    const q = new URLSearchParams({ order: view.order, limit: $("filter-limit").value });
    // filedock's list extensions (docs/api.md): sort, status, search. The default sort is
    // OpenAI's own order, so a plain OpenAI listing is what the page shows first.
    if (view.sort !== "created_at") q.set("sort", view.sort);
    for (const [param, id] of [["purpose", "filter-purpose"], ["status", "filter-status"],
      ["search", "filter-search"]]) {
      const value = $(id).value.trim();
      if (value) q.set(param, value);
    }
    const after = view.cursors[view.cursors.length - 1];
    if (after) q.set("after", after);
    // Filters can change while a listing is in flight: only the latest request may render.
    const seq = ++view.listSeq;
    let page;
    try {
      page = await api("GET", `/files?${q}`);
    } catch (e) {
      if (seq === view.listSeq) say(`Listing failed: ${e.message}`, true);
      return;
    }
    if (seq !== view.listSeq) return;
    view.page = page;
    renderPage(page);
  }

  function restart() {
    view.cursors = [null];
    return loadPage();
  }

  function renderPage(page) {
    const body = $("files-body");
    body.replaceChildren();
    for (const f of page.data) {
      const name = el("button", { type: "button", class: "link name", title: f.filename,
        "aria-label": `Details of ${f.filename}`, onclick: () => showDetails(f.id) }, f.filename);
      const row = el("tr", { "data-file-id": f.id },
        el("td", { "data-label": "Name" }, name, el("div", { class: "file-id" }, f.id)),
        el("td", { "data-label": "Purpose" }, f.purpose),
        el("td", { class: "num", "data-label": "Size" }, humanBytes(f.bytes)),
        el("td", { "data-label": "Created" }, when(f.created_at)),
        el("td", { "data-label": "Expires" }, f.expires_at ? when(f.expires_at) : "never"),
        el("td", { "data-label": "Status" }, statusBadge(f.status)),
        el("td", { class: "row-actions", "data-label": "Actions" },
          el("button", { type: "button", "aria-label": `Download ${f.filename}`,
            onclick: () => download(f) }, "Download"),
          el("button", { type: "button", class: "danger", "aria-label": `Delete ${f.filename}`,
            onclick: () => confirmDelete(f) }, "Delete")));
      if (view.selected && view.selected.id === f.id) row.classList.add("selected");
      body.append(row);
    }
    $("files-empty").hidden = page.data.length > 0;
    $("page-label").textContent = `Page ${view.cursors.length}`;
    $("prev-page").disabled = view.cursors.length <= 1;
    $("next-page").disabled = !page.has_more;
  }

  function setSort(key) {
    if (view.sort === key) view.order = view.order === "desc" ? "asc" : "desc";
    else { view.sort = key; view.order = key === "filename" ? "asc" : "desc"; }
    for (const th of document.querySelectorAll("#files-table th[data-sort]")) {
      const on = th.dataset.sort === view.sort;
      th.setAttribute("aria-sort", on ? (view.order === "asc" ? "ascending" : "descending") : "none");
    }
    restart();
  }

  // ---------------------------------------------------------------- details and report
  function closeDetails() {
    $("details-section").hidden = true;
    view.selected = null;
    for (const row of document.querySelectorAll("#files-body tr.selected")) row.classList.remove("selected");
  }

  async function showDetails(id) {
    const seq = ++view.detailsSeq;
    let f;
    try {
      f = await api("GET", `/files/${encodeURIComponent(id)}`);
    } catch (e) {
      say(`Could not load ${id}: ${e.message}`, true);
      return;
    }
    if (seq !== view.detailsSeq) return;
    view.selected = f;
    for (const row of document.querySelectorAll("#files-body tr")) {
      row.classList.toggle("selected", row.dataset.fileId === f.id);
    }
    $("details-title").textContent = f.filename;
    const dl = $("details-fields");
    dl.replaceChildren();
    const rows = [
      ["id", el("code", {}, f.id)],
      ["status", statusBadge(f.status)],
      ["purpose", f.purpose],
      ["size", `${humanBytes(f.bytes)} (${f.bytes} bytes)`],
      ["created", `${when(f.created_at)} UTC`],
      ["expires", f.expires_at ? `${when(f.expires_at)} UTC` : "never"],
    ];
    // Any field a newer server adds is shown too; status_details has its own box below.
    const known = new Set(["object", "id", "status", "purpose", "bytes", "created_at", "expires_at",
      "filename", "status_details"]);
    for (const [k, v] of Object.entries(f)) if (!known.has(k)) rows.push([k, v === null ? "null" : String(v)]);
    for (const [k, v] of rows) dl.append(el("dt", {}, k), el("dd", {}, v));
    $("details-status-details").hidden = !f.status_details;
    $("status-details-text").textContent = f.status_details || "";
    $("details-section").hidden = false;
    $("details-title").focus();
    await loadReport(f.id, seq);
  }

  async function loadReport(id, seq) {
    const section = $("report-section");
    const target = $("report-body");
    target.replaceChildren();
    section.hidden = true;
    if (!view.reportRoute) return;
    let report;
    try {
      report = await api("GET", `/files/${encodeURIComponent(id)}/report`);
    } catch (e) {
      if (seq !== view.detailsSeq) return;
      if (e.missingRoute) view.reportRoute = false; // this server has no report extension
      section.hidden = e.missingRoute || e.status === 404;
      if (!section.hidden) target.append(el("p", { class: "help" }, `No report: ${e.message}`));
      return;
    }
    if (seq !== view.detailsSeq) return;
    section.hidden = false;
    renderReport(report, target);
  }

  function label(key) {
    return key.replace(/_/g, " ");
  }

  function renderReport(report, target) {
    // The verdict and the counts first, as one short line of chips.
    const chips = el("div", { class: "chips" });
    if (report.verdict) {
      chips.append(el("span", { class: `badge badge-${report.verdict === "valid" ? "processed" : "error"}` },
        report.verdict));
    }
    if (report.format) chips.append(el("span", { class: "chip" }, `format ${report.format}`));
    for (const kind of ["error", "warning"]) {
      const n = report[`${kind}_count`] ?? (Array.isArray(report[`${kind}s`]) ? report[`${kind}s`].length : null);
      if (n !== null && n !== undefined) chips.append(el("span", { class: "chip" }, `${n} ${kind}${n === 1 ? "" : "s"}`));
    }
    target.append(chips);
    // Stats: a small two-column table; nested counters become "key value, ..." text.
    const stats = report.stats && typeof report.stats === "object" ? report.stats : {};
    const statRows = Object.entries(stats).map(([k, v]) => el("tr", {},
      el("th", { scope: "row" }, label(k)),
      el("td", { class: "num" }, v !== null && typeof v === "object"
        ? Object.entries(v).map(([a, b]) => `${a} ${b}`).join(", ") : String(v))));
    if (statRows.length) {
      target.append(el("table", { class: "stats-table", "aria-label": "Report statistics" },
        el("tbody", {}, ...statRows)));
    }
    for (const kind of ["errors", "warnings"]) {
      const items = report[kind];
      if (!Array.isArray(items) || !items.length) continue;
      const tbody = el("tbody");
      for (const item of items) {
        const it = typeof item === "object" && item !== null ? item : { message: String(item) };
        tbody.append(el("tr", { class: `report-${kind}` },
          el("td", { class: "num" }, it.line ?? "-"),
          el("td", {}, el("code", {}, it.code ?? "")),
          el("td", {}, it.message ?? JSON.stringify(it))));
      }
      const total = report[`${kind.slice(0, -1)}_count`];
      const more = typeof total === "number" && total > items.length ? ` (first ${items.length} of ${total})` : "";
      target.append(el("h4", {}, `${kind[0].toUpperCase()}${kind.slice(1)}${more}`),
        el("table", { class: "report-table", "aria-label": `Report ${kind}` },
          el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Line"),
            el("th", { scope: "col" }, "Code"), el("th", { scope: "col" }, "Message"))),
          tbody));
    }
  }

  // ---------------------------------------------------------------- download and delete
  async function download(f) {
    say(`Downloading ${f.filename}...`);
    const response = await fetch(`${API}/files/${encodeURIComponent(f.id)}/content`,
      { headers: filedock.authHeaders({ Accept: "application/binary" }) });
    if (!response.ok) {
      let body = null;
      try { body = await response.json(); } catch (e) { body = null; }
      say(`Download failed: ${new ApiError(response.status, body).message}`, true);
      return;
    }
    const blob = await response.blob();
    const url = URL.createObjectURL(blob);
    const a = el("a", { href: url, download: f.filename });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    say(`Downloaded ${f.filename} (${humanBytes(blob.size)}).`);
  }

  function confirmDelete(f) {
    const dialog = $("confirm-dialog");
    $("confirm-text").textContent = `Delete ${f.filename} (${f.id})? This cannot be undone.`;
    const close = async (doDelete) => {
      $("confirm-delete").onclick = null;
      $("confirm-cancel").onclick = null;
      dialog.close();
      if (!doDelete) return;
      try {
        await api("DELETE", `/files/${encodeURIComponent(f.id)}`);
      } catch (e) {
        say(`Delete failed: ${e.message}`, true);
        return;
      }
      say(`Deleted ${f.filename}.`);
      if (view.selected && view.selected.id === f.id) closeDetails();
      await Promise.all([loadPage(), loadUsage()]);
    };
    $("confirm-delete").onclick = () => close(true);
    $("confirm-cancel").onclick = () => close(false);
    dialog.showModal();
    $("confirm-cancel").focus();
  }

  // ---------------------------------------------------------------- storage quota and usage
  async function loadUsage() {
    if (!state.project) return;
    const seq = ++view.usageSeq;
    let usage;
    try {
      usage = await api("GET", `/organization/projects/${encodeURIComponent(state.project)}/usage`);
    } catch (e) {
      if (seq === view.usageSeq) $("quota-text").textContent = `Usage unavailable: ${e.message}`;
      return;
    }
    if (seq === view.usageSeq) renderUsage(usage);
  }

  function plural(n, word) {
    return `${n} ${word}${n === 1 ? "" : "s"}`;
  }

  function renderUsage(usage) {
    const quota = usage.quota || {};
    const limit = quota.limit_bytes;
    const used = (quota.used_bytes ?? usage.bytes) + (quota.reserved_bytes || 0);
    const text = $("quota-text");
    const meter = $("quota-meter");
    if (typeof limit === "number" && limit > 0) {
      const pct = Math.min(100, (100 * used) / limit);
      text.replaceChildren(el("strong", {}, `${humanBytes(used)} of ${humanBytes(limit)} used`),
        ` · ${humanBytes(Math.max(0, limit - used))} left · ${plural(usage.file_count, "file")}`);
      meter.hidden = false;
      meter.setAttribute("aria-valuenow", pct.toFixed(1));
      meter.classList.toggle("high", pct >= 90);
      meter.querySelector(".meter-bar").style.width = `${Math.max(pct, 0.5)}%`;
    } else {
      text.textContent = `${humanBytes(used)} used · no quota · ${plural(usage.file_count, "file")}`;
      meter.hidden = true;
    }
    const rows = Object.entries(usage.purposes || {}).sort((a, b) => b[1].bytes - a[1].bytes);
    $("usage-total").textContent = `By purpose (${rows.length})`;
    $("usage-body").replaceChildren(...rows.map(([purpose, t]) => el("tr", { "data-purpose": purpose },
      el("td", {}, purpose), el("td", { class: "num" }, t.file_count),
      el("td", { class: "num", title: `${t.bytes} bytes` }, `${t.bytes} (${humanBytes(t.bytes)})`))));
  }

  // ---------------------------------------------------------------- wiring
  // Every purpose a file may have, and whether a person uploads files of it here (the others
  // are what the server writes: outputs and results). The first uploadable one is the default.
  const PURPOSES = [
    ["user_data", true], ["assistants", true], ["assistants_output", false], ["batch", true],
    ["batch_output", false], ["fine-tune", true], ["fine-tune-results", false],
    ["vision", true], ["evals", true],
  ];

  function init() {
    for (const [purpose, uploadable] of PURPOSES) {
      $("filter-purpose").append(el("option", {}, purpose));
      if (uploadable) $("upload-purpose").append(el("option", { value: purpose }, purpose));
    }
    filedock.uploads.init({
      uploaded: () => Promise.all([restart(), loadUsage()]), // new files show on page 1
      statusChanged: loadPage, // a processed file: refresh the page in view
    });
    for (const id of ["filter-purpose", "filter-status", "filter-limit"]) {
      $(id).addEventListener("change", restart);
    }
    let typing = null;
    $("filter-search").addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(restart, 250);
    });
    $("filter-form").addEventListener("submit", (ev) => { ev.preventDefault(); restart(); });
    for (const th of document.querySelectorAll("#files-table th[data-sort]")) {
      th.querySelector("button").addEventListener("click", () => setSort(th.dataset.sort));
    }
    $("refresh").addEventListener("click", () => { loadPage(); loadUsage(); });
    $("next-page").addEventListener("click", () => {
      if (!view.page || !view.page.has_more) return;
      view.cursors.push(view.page.last_id);
      loadPage();
    });
    $("prev-page").addEventListener("click", () => {
      if (view.cursors.length > 1) { view.cursors.pop(); loadPage(); }
    });
    $("details-close").addEventListener("click", closeDetails);
    document.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape" && !$("details-section").hidden && !$("confirm-dialog").open) closeDetails();
    });
    $("details-download").addEventListener("click", () => view.selected && download(view.selected));
    $("details-delete").addEventListener("click", () => view.selected && confirmDelete(view.selected));
    $("details-copy").addEventListener("click", () => view.selected && copyText(view.selected.id));
  }

  function show() {
    view.cursors = [null];
    return Promise.all([loadPage(), loadUsage()]);
  }

  return { init, show, reload: loadPage };
})();

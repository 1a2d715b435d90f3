// filedock dashboard: plain JavaScript calling the same /v1 API as every client.
// The API key lives in sessionStorage only (gone when the tab closes). No build step, no CDN.
"use strict";

(function () {
  const API = "/v1";
  const KEY_STORAGE = "filedock.apiKey";
  const MiB = 1024 * 1024;
  // Files at least this big go through the Uploads API (parts in parallel). Tests may lower it.
  const CHUNK_THRESHOLD = Number(sessionStorage.getItem("filedock.chunkThreshold")) || 32 * MiB;
  const PART_SIZE = Number(sessionStorage.getItem("filedock.partSize")) || 8 * MiB;
  const PARALLEL_PARTS = 3;
  const PART_RETRIES = 3;
  const TERMINAL = new Set(["processed", "error", "deleted"]);

  const $ = (id) => document.getElementById(id);
  const state = {
    key: sessionStorage.getItem(KEY_STORAGE) || "",
    cursors: [null], // `after` of each page visited; the last is the current page's cursor
    page: null,
    selected: null,
    reportRoute: true, // false once the server says it has no report endpoint
    listSeq: 0,
    usageSeq: 0,
  };

  // ---------------------------------------------------------------- helpers
  class ApiError extends Error {
    constructor(status, body) {
      const err = (body && body.error) || {};
      super(err.message || `HTTP ${status}`);
      this.status = status;
      this.type = err.type || null;
      this.param = err.param || null;
      this.code = err.code || null;
    }
    get missingRoute() {
      return (this.status === 404 || this.status === 405) &&
        /^(Invalid URL|Method not allowed)/.test(this.message);
    }
  }

  function say(text, isError) {
    const el = $("status");
    el.textContent = text;
    el.classList.toggle("error", Boolean(isError));
  }

  function authHeaders(extra) {
    return Object.assign({ Authorization: `Bearer ${state.key}` }, extra || {});
  }

  async function api(method, path, body) {
    const init = { method, headers: authHeaders() };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(API + path, init);
    let parsed = null;
    const text = await response.text();
    try { parsed = text ? JSON.parse(text) : null; } catch (e) { parsed = null; }
    if (!response.ok) throw new ApiError(response.status, parsed);
    return parsed;
  }

  function humanBytes(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
  }

  function when(ts) {
    if (!ts) return "-";
    return new Date(ts * 1000).toISOString().replace("T", " ").slice(0, 19);
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  function statusBadge(status) {
    return el("span", { class: `badge badge-${status || "unknown"}` }, status || "unknown");
  }

  // ---------------------------------------------------------------- key
  function showApp(on) {
    $("app").hidden = !on;
    $("forget-key").hidden = !on;
  }

  async function connect(key) {
    state.key = key;
    try {
      await api("GET", "/files?limit=1");
    } catch (e) {
      state.key = "";
      sessionStorage.removeItem(KEY_STORAGE);
      showApp(false);
      say(`Could not connect: ${e.message}`, true);
      return;
    }
    sessionStorage.setItem(KEY_STORAGE, key);
    showApp(true);
    say("Connected.");
    state.cursors = [null];
    await Promise.all([loadPage(), loadUsage()]);
  }

  // ---------------------------------------------------------------- listing
  async function loadPage() {
    const purpose = $("filter-purpose").value;
    const order = $("filter-order").value;
    const limit = $("filter-limit").value;
    const after = state.cursors[state.cursors.length - 1];
    const q = new URLSearchParams({ order, limit });
    if (purpose) q.set("purpose", purpose);
    if (after) q.set("after", after);
    // Filters can change while a listing is in flight: only the latest request may render.
    const seq = ++state.listSeq;
    let page;
    try {
      page = await api("GET", `/files?${q}`);
    } catch (e) {
      if (seq === state.listSeq) say(`Listing failed: ${e.message}`, true);
      return;
    }
    if (seq !== state.listSeq) return;
    state.page = page;
    renderPage(page);
  }

  function renderPage(page) {
    const body = $("files-body");
    body.replaceChildren();
    for (const f of page.data) {
      const name = el("button", { type: "button", class: "link", "aria-label": `Details of ${f.filename}`,
        onclick: () => showDetails(f.id) }, f.filename);
      const row = el("tr", { "data-file-id": f.id },
        el("td", { "data-label": "Name" }, name, el("div", { class: "file-id" }, f.id)),
        el("td", { "data-label": "Purpose" }, f.purpose),
        el("td", { class: "num", "data-label": "Size" }, humanBytes(f.bytes)),
        el("td", { "data-label": "Created" }, when(f.created_at)),
        el("td", { "data-label": "Status" }, statusBadge(f.status)),
        el("td", { class: "row-actions", "data-label": "Actions" },
          el("button", { type: "button", "aria-label": `Download ${f.filename}`,
            onclick: () => download(f) }, "Download"),
          el("button", { type: "button", class: "danger", "aria-label": `Delete ${f.filename}`,
            onclick: () => confirmDelete(f) }, "Delete")));
      body.append(row);
    }
    $("files-empty").hidden = page.data.length > 0;
    $("page-label").textContent = `Page ${state.cursors.length}`;
    $("prev-page").disabled = state.cursors.length <= 1;
    $("next-page").disabled = !page.has_more;
  }

  // ---------------------------------------------------------------- details and report
  async function showDetails(id) {
    let f;
    try {
      f = await api("GET", `/files/${encodeURIComponent(id)}`);
    } catch (e) {
      say(`Could not load ${id}: ${e.message}`, true);
      return;
    }
    state.selected = f;
    const dl = $("details-fields");
    dl.replaceChildren();
    for (const [k, v] of Object.entries(f)) {
      let shown = v === null ? "null" : v;
      if ((k === "created_at" || k === "expires_at") && v) shown = `${v} (${when(v)} UTC)`;
      if (k === "bytes") shown = `${v} (${humanBytes(v)})`;
      dl.append(el("dt", {}, k), el("dd", {}, k === "status" ? statusBadge(v) : shown));
    }
    $("details-status-details").hidden = !f.status_details;
    $("status-details-text").textContent = f.status_details || "";
    $("details-section").hidden = false;
    $("details-title").focus?.();
    await loadReport(f.id);
  }

  async function loadReport(id) {
    const section = $("report-section");
    const target = $("report-body");
    target.replaceChildren();
    if (!state.reportRoute) { section.hidden = true; return; }
    let report;
    try {
      report = await api("GET", `/files/${encodeURIComponent(id)}/report`);
    } catch (e) {
      if (e.missingRoute) state.reportRoute = false; // this server has no report extension
      section.hidden = !(!e.missingRoute && e.status !== 404);
      if (!section.hidden) target.append(el("p", { class: "help" }, `No report: ${e.message}`));
      return;
    }
    section.hidden = false;
    renderReport(report, target);
  }

  function renderReport(report, target) {
    const summary = el("dl", { class: "fields" });
    for (const [k, v] of Object.entries(report)) {
      if (v !== null && typeof v === "object") continue;
      summary.append(el("dt", {}, k), el("dd", {}, String(v)));
    }
    if (summary.childElementCount) target.append(summary);
    let structured = false;
    for (const kind of ["errors", "warnings"]) {
      const items = report[kind];
      if (!Array.isArray(items)) continue;
      structured = true;
      target.append(el("h4", {}, `${kind[0].toUpperCase()}${kind.slice(1)} (${items.length})`));
      if (!items.length) continue;
      const tbody = el("tbody");
      for (const item of items) {
        const it = typeof item === "object" && item !== null ? item : { message: String(item) };
        tbody.append(el("tr", { class: `report-${kind}` },
          el("td", { class: "num" }, it.line ?? "-"),
          el("td", {}, it.code ?? ""),
          el("td", {}, it.message ?? JSON.stringify(it))));
      }
      target.append(el("table", { class: "report-table", "aria-label": `Report ${kind}` },
        el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Line"),
          el("th", { scope: "col" }, "Code"), el("th", { scope: "col" }, "Message"))),
        tbody));
    }
    // Anything else the report carries stays visible as JSON.
    const rest = Object.fromEntries(Object.entries(report).filter(
      ([k, v]) => v !== null && typeof v === "object" && !(structured && (k === "errors" || k === "warnings"))));
    if (Object.keys(rest).length) target.append(el("pre", { class: "json" }, JSON.stringify(rest, null, 2)));
  }

  // ---------------------------------------------------------------- download and delete
  async function download(f) {
    say(`Downloading ${f.filename}...`);
    const response = await fetch(`${API}/files/${encodeURIComponent(f.id)}/content`,
      { headers: authHeaders({ Accept: "application/binary" }) });
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
      if (state.selected && state.selected.id === f.id) $("details-section").hidden = true;
      await Promise.all([loadPage(), loadUsage()]);
    };
    $("confirm-delete").onclick = () => close(true);
    $("confirm-cancel").onclick = () => close(false);
    dialog.showModal();
    $("confirm-cancel").focus();
  }

  // ---------------------------------------------------------------- uploads
  function xhrSend(method, path, form, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open(method, API + path);
      xhr.setRequestHeader("Authorization", `Bearer ${state.key}`);
      xhr.upload.onprogress = (ev) => { if (ev.lengthComputable) onProgress(ev.loaded, ev.total); };
      xhr.onload = () => {
        let body = null;
        try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
        if (xhr.status >= 200 && xhr.status < 300) resolve(body);
        else reject(new ApiError(xhr.status, body));
      };
      xhr.onerror = () => reject(new ApiError(0, { error: { message: "network error" } }));
      xhr.send(form);
    });
  }

  function uploadRow(file) {
    const bar = el("progress", { max: String(file.size || 1), value: "0",
      "aria-label": `Upload progress of ${file.name}` });
    const text = el("span", { class: "upload-text" }, "waiting");
    const row = el("li", { class: "upload-item", "data-filename": file.name },
      el("span", { class: "upload-name" }, file.name), bar, text);
    $("upload-list").prepend(row);
    return {
      progress(done) {
        bar.value = Math.min(done, file.size);
        const pct = file.size ? Math.floor((100 * done) / file.size) : 100;
        text.textContent = `${pct}% of ${humanBytes(file.size)}`;
      },
      status(message, cls) {
        text.textContent = message;
        row.dataset.state = cls || "";
      },
    };
  }

  function expiresAfter() {
    const raw = $("upload-expiry").value.trim();
    return raw ? { anchor: "created_at", seconds: Number(raw) } : null;
  }

  async function uploadDirect(file, purpose, expiry, ui) {
    const form = new FormData();
    form.append("purpose", purpose);
    if (expiry) {
      form.append("expires_after[anchor]", expiry.anchor);
      form.append("expires_after[seconds]", String(expiry.seconds));
    }
    form.append("file", file, file.name);
    // The multipart body is a little bigger than the file: scale progress to the file's size.
    return xhrSend("POST", "/files", form, (loaded, total) => ui.progress((loaded / total) * file.size));
  }

  function mimeType(file) {
    // Browsers leave .jsonl untyped; OpenAI documents text/jsonl for it.
    if (/\.jsonl$/i.test(file.name)) return "text/jsonl";
    return file.type || "application/octet-stream";
  }

  async function uploadChunked(file, purpose, expiry, ui) {
    const body = { filename: file.name, purpose, bytes: file.size,
      mime_type: mimeType(file) };
    if (expiry) body.expires_after = expiry;
    const upload = await api("POST", "/uploads", body);
    const parts = [];
    for (let start = 0; start < file.size || parts.length === 0; start += PART_SIZE) {
      parts.push([start, Math.min(start + PART_SIZE, file.size)]);
    }
    const sent = new Array(parts.length).fill(0); // high-water mark per part: progress never goes back
    const report = () => ui.progress(sent.reduce((a, b) => a + b, 0));
    const ids = new Array(parts.length);
    let next = 0;
    async function worker() {
      while (next < parts.length) {
        const index = next++;
        const [start, end] = parts[index];
        for (let attempt = 0; ; attempt++) {
          const form = new FormData();
          form.append("data", file.slice(start, end), "blob");
          try {
            const part = await xhrSend("POST", `/uploads/${upload.id}/parts`, form, (loaded, total) => {
              sent[index] = Math.max(sent[index], (loaded / total) * (end - start));
              report();
            });
            ids[index] = part.id;
            sent[index] = end - start;
            report();
            break;
          } catch (e) {
            const retry = e.status === 0 || e.status === 408 || e.status === 429 || e.status >= 500;
            if (!retry || attempt >= PART_RETRIES) throw e;
            await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
          }
        }
      }
    }
    try {
      await Promise.all(Array.from({ length: Math.min(PARALLEL_PARTS, parts.length) }, worker));
      const done = await api("POST", `/uploads/${upload.id}/complete`, { part_ids: ids });
      return done.file;
    } catch (e) {
      try { await api("POST", `/uploads/${upload.id}/cancel`); } catch (ignored) { /* best effort */ }
      throw e;
    }
  }

  async function uploadFiles(files) {
    const purpose = $("upload-purpose").value;
    const expiry = expiresAfter();
    for (const file of files) {
      const ui = uploadRow(file);
      ui.progress(0);
      let created;
      try {
        created = file.size >= CHUNK_THRESHOLD
          ? await uploadChunked(file, purpose, expiry, ui)
          : await uploadDirect(file, purpose, expiry, ui);
      } catch (e) {
        ui.status(`failed: ${e.message}`, "error");
        say(`Upload of ${file.name} failed: ${e.message}`, true);
        continue;
      }
      ui.progress(file.size);
      ui.status(`${created.status} (${created.id})`, created.status);
      say(`Uploaded ${file.name} as ${created.id}.`);
      watchStatus(created, ui);
    }
    state.cursors = [null];
    await Promise.all([loadPage(), loadUsage()]);
  }

  async function watchStatus(f, ui) {
    let current = f;
    for (let i = 0; i < 600 && !TERMINAL.has(current.status); i++) {
      await new Promise((r) => setTimeout(r, 1000));
      try { current = await api("GET", `/files/${encodeURIComponent(f.id)}`); } catch (e) { return; }
      ui.status(`${current.status} (${current.id})`, current.status);
    }
    if (current !== f) await loadPage();
  }

  // ---------------------------------------------------------------- usage
  async function loadUsage() {
    const seq = ++state.usageSeq;
    const totals = new Map();
    let after = null;
    try {
      for (;;) {
        const q = new URLSearchParams({ limit: "10000", order: "asc" });
        if (after) q.set("after", after);
        const page = await api("GET", `/files?${q}`);
        for (const f of page.data) {
          const t = totals.get(f.purpose) || { files: 0, bytes: 0 };
          t.files += 1;
          t.bytes += f.bytes;
          totals.set(f.purpose, t);
        }
        if (!page.has_more || !page.data.length) break;
        after = page.data[page.data.length - 1].id;
      }
    } catch (e) {
      say(`Usage failed: ${e.message}`, true);
      return;
    }
    if (seq === state.usageSeq) renderUsage(totals);
  }

  function renderUsage(totals) {
    const rows = [...totals.entries()].sort((a, b) => b[1].bytes - a[1].bytes);
    const totalBytes = rows.reduce((s, [, t]) => s + t.bytes, 0);
    const totalFiles = rows.reduce((s, [, t]) => s + t.files, 0);
    $("usage-total").textContent = `${totalFiles} files, ${humanBytes(totalBytes)} in total.`;
    const body = $("usage-body");
    body.replaceChildren();
    for (const [purpose, t] of rows) {
      body.append(el("tr", { "data-purpose": purpose }, el("td", {}, purpose),
        el("td", { class: "num" }, t.files), el("td", { class: "num" }, `${t.bytes} (${humanBytes(t.bytes)})`)));
    }
    // A horizontal bar chart of plain elements (no chart library; scales with the card).
    const max = Math.max(1, ...rows.map(([, t]) => t.bytes));
    const chartRows = rows.map(([purpose, t]) => {
      const bar = el("span", { class: "bar" });
      bar.style.width = `${Math.max(1, (100 * t.bytes) / max)}%`;
      return el("div", { class: "chart-row", "aria-hidden": "true" },
        el("span", { class: "chart-label" }, purpose),
        el("span", { class: "chart-track" }, bar),
        el("span", { class: "chart-value" }, humanBytes(t.bytes)));
    });
    const bars = el("div", { class: "chart" }, ...chartRows);
    const chart = $("usage-chart");
    chart.replaceChildren(rows.length ? bars : el("p", { class: "help" }, "Nothing stored yet."));
    chart.setAttribute("aria-label", rows.length
      ? "Stored bytes by purpose: " + rows.map(([p, t]) => `${p} ${humanBytes(t.bytes)}`).join(", ")
      : "Nothing stored yet");
  }

  // ---------------------------------------------------------------- wiring
  function init() {
    $("key-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      connect($("api-key").value.trim());
    });
    $("forget-key").addEventListener("click", () => {
      sessionStorage.removeItem(KEY_STORAGE);
      state.key = "";
      $("api-key").value = "";
      showApp(false);
      say("Key forgotten.");
    });
    for (const id of ["filter-purpose", "filter-order", "filter-limit"]) {
      $(id).addEventListener("change", () => { state.cursors = [null]; loadPage(); });
    }
    $("refresh").addEventListener("click", () => { loadPage(); loadUsage(); });
    $("usage-refresh").addEventListener("click", loadUsage);
    $("next-page").addEventListener("click", () => {
      if (!state.page || !state.page.has_more) return;
      state.cursors.push(state.page.last_id);
      loadPage();
    });
    $("prev-page").addEventListener("click", () => {
      if (state.cursors.length > 1) { state.cursors.pop(); loadPage(); }
    });
    $("details-close").addEventListener("click", () => { $("details-section").hidden = true; });
    $("details-download").addEventListener("click", () => state.selected && download(state.selected));
    $("details-delete").addEventListener("click", () => state.selected && confirmDelete(state.selected));

    const zone = $("drop-zone");
    const input = $("file-input");
    input.addEventListener("change", () => { if (input.files.length) uploadFiles([...input.files]); input.value = ""; });
    zone.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); input.click(); }
    });
    zone.addEventListener("dragover", (ev) => { ev.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (ev) => {
      ev.preventDefault();
      zone.classList.remove("over");
      if (ev.dataTransfer && ev.dataTransfer.files.length) uploadFiles([...ev.dataTransfer.files]);
    });

    if (state.key) connect(state.key);
  }

  document.addEventListener("DOMContentLoaded", init);
})();

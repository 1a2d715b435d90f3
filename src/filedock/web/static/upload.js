// filedock dashboard, uploads: drag-and-drop or picker, a progress bar per file; big files go
// through the Uploads API in parallel parts. `filedock.uploads.init(hooks)` wires the card;
// hooks.uploaded() runs after a batch of uploads, hooks.statusChanged() when processing ends.
"use strict";

filedock.uploads = (function () {
  const { $, ApiError, api, el, humanBytes, say, state, API } = filedock;
  const MiB = 1024 * 1024;
  // Files at least this big go through the Uploads API (parts in parallel). Tests may lower it.
  const CHUNK_THRESHOLD = Number(sessionStorage.getItem("filedock.chunkThreshold")) || 32 * MiB;
  const PART_SIZE = Number(sessionStorage.getItem("filedock.partSize")) || 8 * MiB;
  const PARALLEL_PARTS = 3;
  const PART_RETRIES = 3;
  const TERMINAL = new Set(["processed", "error", "deleted"]);
  let hooks = { uploaded: async () => {}, statusChanged: async () => {} };

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
    const raw = $("upload-expiry").value;
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
    await hooks.uploaded();
  }

  async function watchStatus(f, ui) {
    let current = f;
    for (let i = 0; i < 600 && !TERMINAL.has(current.status); i++) {
      await new Promise((r) => setTimeout(r, 1000));
      try { current = await api("GET", `/files/${encodeURIComponent(f.id)}`); } catch (e) { return; }
      ui.status(`${current.status} (${current.id})`, current.status);
    }
    if (current !== f) await hooks.statusChanged();
  }

  function init(given) {
    hooks = given;
    const zone = $("drop-zone");
    const input = $("file-input");
    input.addEventListener("change", () => {
      if (input.files.length) uploadFiles([...input.files]);
      input.value = "";
    });
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
  }

  return { init };
})();

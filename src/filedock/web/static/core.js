// filedock dashboard, core: helpers, the /v1 API with the tab's key, and the page registry.
// Plain JavaScript, no build step, no CDN. Each page (files.js, later batches.js, ...) calls
// filedock.registerPage({ id, title, show }) and owns the <div class="page" data-page="ID">.
"use strict";

window.filedock = (function () {
  const API = "/v1";
  const KEY_STORAGE = "filedock.apiKey";
  const state = { key: sessionStorage.getItem(KEY_STORAGE) || "", project: null };
  const pages = new Map();
  let current = null;

  const $ = (id) => document.getElementById(id);

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

  async function request(method, path, body) {
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
    return { body: parsed, headers: response.headers };
  }

  async function api(method, path, body) {
    return (await request(method, path, body)).body;
  }

  function humanBytes(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
  }

  function when(ts) {
    if (!ts) return "-";
    return new Date(ts * 1000).toISOString().replace("T", " ").slice(0, 16);
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

  async function copyText(text) {
    try {
      await navigator.clipboard.writeText(text);
    } catch (e) {
      // No clipboard permission (plain http, headless): select the text in a hidden field.
      const area = el("textarea", { class: "visually-hidden", readonly: "" });
      area.value = text;
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    say(`Copied ${text}.`);
  }

  // ---------------------------------------------------------------- pages and tabs
  function registerPage(page) {
    pages.set(page.id, page);
  }

  function renderTabs() {
    const nav = $("tabs");
    nav.replaceChildren(...[...pages.values()].map((p) => el("a", {
      href: `#/${p.id}`, id: `tab-${p.id}`, class: "tab",
      "aria-current": p.id === current ? "page" : "false",
    }, p.title)));
  }

  function route() {
    if (!state.key || !pages.size) return;
    const wanted = location.hash.replace(/^#\/?/, "").split("/")[0];
    const id = pages.has(wanted) ? wanted : pages.keys().next().value;
    current = id;
    for (const node of document.querySelectorAll(".page")) node.hidden = node.dataset.page !== id;
    renderTabs();
    const page = pages.get(id);
    document.title = `${page.title} - filedock`;
    page.show();
  }

  // ---------------------------------------------------------------- key
  function showApp(on) {
    $("app").hidden = !on;
    $("login").hidden = on;
    $("session").hidden = !on;
    $("tabs").hidden = !on;
  }

  async function connect(key) {
    state.key = key;
    let answer;
    try {
      answer = await request("GET", "/files?limit=1");
    } catch (e) {
      state.key = "";
      sessionStorage.removeItem(KEY_STORAGE);
      showApp(false);
      say(`Could not connect: ${e.message}`, true);
      return;
    }
    sessionStorage.setItem(KEY_STORAGE, key);
    // filedock names the key's project in every response (as api.openai.com does).
    state.project = answer.headers.get("openai-project");
    $("session-project").textContent = state.project ? `Project ${state.project}` : "";
    showApp(true);
    say("Connected.");
    route();
  }

  function forget() {
    sessionStorage.removeItem(KEY_STORAGE);
    state.key = "";
    state.project = null;
    $("api-key").value = "";
    showApp(false);
    say("Key forgotten.");
  }

  function start() {
    $("key-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      connect($("api-key").value.trim());
    });
    $("forget-key").addEventListener("click", forget);
    window.addEventListener("hashchange", route);
    for (const page of pages.values()) if (page.init) page.init();
    if (state.key) connect(state.key);
  }

  return {
    $, ApiError, api, request, say, authHeaders, humanBytes, when, el, statusBadge, copyText,
    registerPage, start, state, API,
  };
})();

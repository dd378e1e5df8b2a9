// The admin page: talks only to the public API. Access is decided by the API's answers
// (401 -> sign in again, 403 -> Access Restricted), never by the page itself.
"use strict";

const TOKEN_KEY = "reports.token";
const POLL_MS = 3000;
const PAGE = 20;

const $ = (id) => document.getElementById(id);
// `catalogue` is the API's `…/types`: every type, filter, format and operator on offer.
const state = { catalogue: null, options: null, reports: [], cursor: null, pollTimer: null };

class ApiError extends Error {
  constructor(status, body) {
    super(typeof body.detail === "string" ? body.detail : "Please check the highlighted values.");
    this.status = status;
    this.body = body;
  }
}

// ---------------------------------------------------------------- session

function token() { return sessionStorage.getItem(TOKEN_KEY); }

function claims(bearer = token()) {
  // Read only for display and the organisation in the path; the API verifies the token.
  try {
    const part = bearer.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(decodeURIComponent(escape(atob(part))));
  } catch (_) { return {}; }
}

function tokenProblem(bearer) {
  if (!/^[\w-]+\.[\w-]+\.[\w-]*$/.test(bearer)) {
    return "That is not an access token: it should be three parts separated by dots.";
  }
  if (!claims(bearer).org_id) return "That token does not name an organisation (no org_id).";
  return null;
}

function show(view) {
  for (const id of ["sign-in", "restricted", "app"]) $(id).hidden = id !== view;
  $("whoami").hidden = view === "sign-in";
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  stopPolling();
  $("sign-in-message").textContent = message || "";
  show("sign-in");
  $("token-input").focus();
}

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${token()}`, ...(options.headers || {}) };
  if (options.body) headers["Content-Type"] = "application/json";
  const answer = await fetch(path, { ...options, headers });
  const body = await answer.json().catch(() => ({}));
  if (answer.status === 401) {
    signOut("Your session has expired or the token is not valid. Please sign in again.");
    throw new ApiError(401, body);
  }
  if (answer.status === 403) {
    stopPolling();
    show("restricted");
    throw new ApiError(403, body);
  }
  if (!answer.ok) {
    body.retry_after = answer.headers.get("Retry-After");
    throw new ApiError(answer.status, body);
  }
  return body;
}

function base() { return `/api/wp-crm/reports/${encodeURIComponent(claims().org_id || "")}`; }

// ---------------------------------------------------------------- what is on offer

function typeNamed(name) {
  return state.catalogue.types.find((t) => t.name === name) || { name, label: name, filters: [] };
}

function formatLabel(name) {
  return (state.catalogue.formats.find((f) => f.name === name) || { label: name }).label;
}

// The organisation's values a filter picks from (`…/options`).
function optionList(source) {
  return (source && state.options && state.options[source]) || [];
}

function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v; else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
}

function selectOf(items, attrs = {}) {
  return el("select", attrs, items.map(([value, text]) => el("option", { value, text })));
}

function selectedType() {
  return typeNamed(document.querySelector("input[name=report-type]:checked").value);
}

function renderTypes() {
  const box = $("type-options");
  for (const [i, type] of state.catalogue.types.entries()) {
    const description = type.description;
    const input = el("input", { type: "radio", name: "report-type", value: type.name, id: `type-${type.name}` });
    if (i === 0) input.checked = true;
    input.addEventListener("change", renderFilters);
    const text = el("span", {}, [el("strong", { text: type.label }), el("small", { text: description })]);
    box.append(el("label", { class: "type-option", for: input.id }, [input, text]));
  }
}

function renderFormats() {
  const formats = state.catalogue.formats;
  const select = $("file-format");
  select.replaceChildren(...formats.map((f) => el("option", { value: f.name, text: f.description })));
  select.value = formats[0].name;  // the first on offer (CSV)
  select.addEventListener("change", showDialect);
  showDialect();
}

// The CSV layout, offered for the formats that are CSV (by their file's extension).
function isCsv(name) {
  const format = state.catalogue.formats.find((f) => f.name === name);
  return Boolean(format && format.extension.startsWith(".csv"));
}

function showDialect() { $("csv-dialect").hidden = !isCsv($("file-format").value); }

// The chosen dialect, or nothing when the format is not CSV or every choice is the default.
function readDialect() {
  if (!isCsv($("file-format").value)) return {};
  const dialect = { delimiter: $("csv-delimiter").value, bom: $("csv-bom").checked, line_ending: $("csv-line-ending").value };
  const plain = dialect.delimiter === "," && dialect.bom && dialect.line_ending === "crlf";
  return plain ? {} : { csv: dialect };
}

// The sheets the type may add (a chat export's contacts, messages, ...), from the catalogue.
function renderRelated() {
  const sheets = selectedType().related;
  const choices = sheets.map((sheet) => el("label", { class: "choice" }, [
    el("input", { type: "checkbox", value: sheet.id }), el("span", { text: sheet.name }),
  ]));
  $("related-choices").replaceChildren(...choices);
  $("related-sheets").hidden = sheets.length === 0;
}

function readRelated() {
  const chosen = [...$("related-choices").querySelectorAll("input:checked")].map((box) => box.value);
  return chosen.length ? { related: chosen } : {};
}

// The canonical IANA names (the API's list), searched as one types; the organisation's own
// zone first, as the default.
function renderTimezones() {
  const zones = state.catalogue.timezones;
  const own = (state.options.organisation || [])[0];
  const input = $("timezone");
  $("timezones").replaceChildren(...zones.map((z) => el("option", { value: z })));
  input.value = own && zones.includes(own.id) ? own.id : "UTC";
  input.addEventListener("change", countLater); // the dates are read in it
}

// ---------------------------------------------------------------- requests and the list

async function requestExport(event) {
  event.preventDefault();
  const message = $("request-message");
  message.className = "notice";
  message.textContent = "";
  $("generate").disabled = true;
  const body = { type: selectedType().name, filters: readFilters(), timezone: $("timezone").value };
  Object.assign(body, readOptions());
  body.format = $("file-format").value;
  Object.assign(body, readColumns(), readDialect(), readRelated());
  const purpose = $("purpose").value.trim();
  if (purpose) body.purpose = purpose;
  const password = $("file-password").value;
  if (password) body.password = password;
  try {
    const created = await api(base(), { method: "POST", body: JSON.stringify(body) });
    rememberColumns(body);
    const report = await api(`${base()}/${created.id}`);
    upsert(report);
    message.className = "notice info";
    message.textContent = "Export requested. It appears below as Pending.";
    state.requested = report.id;
    $("file-password").value = "";  // not kept on the page once sent
    startPolling();
  } catch (error) {
    if (error.status === 409) {
      pointAt(error.body.existing_report_id, message, error);
    } else if (error.status === 422) {
      message.textContent = fieldErrors(error.body.detail);
    } else if (error.status !== 401 && error.status !== 403) {
      message.textContent = error.message;
    }
  } finally {
    $("generate").disabled = false;
  }
}

// The 409 answer: the export that stands in the way, highlighted in the list, and for a
// recent one a countdown to when a new request can pass.
function pointAt(existingId, message, error) {
  const row = document.querySelector(`[data-report-id="${existingId}"]`);
  for (const old of document.querySelectorAll("tr.highlight")) old.classList.remove("highlight");
  if (row) { row.classList.add("highlight"); row.scrollIntoView({ block: "center" }); }
  const where = row ? "It is highlighted in the list below." : "";
  clearInterval(state.countdown);
  if (error.body.code !== "report_completed_recently") {
    message.textContent = `${error.message} ${where}`;
    return;
  }
  let left = Number(error.body.retry_after) || 60;
  const tick = () => {
    message.textContent = left > 0 ? `${error.message} ${where} You can request it again in ${left} s.`
      : "You can request this export again now.";
    if (left-- <= 0) clearInterval(state.countdown);
  };
  tick();
  state.countdown = setInterval(tick, 1000);
}

// A 422's errors in words: each with the field it is about (without "body" and the type a
// request body is told apart by), or alone when it is about the whole request.
function fieldErrors(detail) {
  if (!Array.isArray(detail)) return String(detail);
  const types = new Set((state.catalogue ? state.catalogue.types : []).map((t) => t.name));
  return detail.map((e) => {
    const path = e.loc.filter((part, i) => part !== "body" && !(i === 1 && types.has(part)));
    return path.length ? `${path.join(" › ")}: ${e.msg}` : e.msg;
  }).join("; ");
}

function upsert(report) {
  const i = state.reports.findIndex((r) => r.id === report.id);
  if (i >= 0) state.reports[i] = report; else state.reports.unshift(report);
  renderRows();
}

async function loadReports(append = false) {
  if (append) {
    const page = await listPage(state.cursor, PAGE);
    state.reports = state.reports.concat(page.items);
    state.cursor = page.next_cursor;
  } else {
    // Refresh as many rows as are shown: pages loaded with "More" stay loaded.
    const wanted = Math.max(state.reports.length, PAGE);
    let items = [], cursor = null;
    do {
      const page = await listPage(cursor, Math.min(100, wanted - items.length));
      items = items.concat(page.items);
      cursor = page.next_cursor;
    } while (cursor && items.length < wanted);
    state.reports = items;
    state.cursor = cursor;
  }
  renderRows();
  if (state.reports.some(busy)) startPolling(); else stopPolling();
}

function listPage(cursor, limit) {
  const params = new URLSearchParams({ limit: String(limit) });
  if (cursor) params.set("cursor", cursor);
  return api(`${base()}?${params}`);
}

function busy(report) { return report.status === "pending" || report.status === "processing"; }

function startPolling() {
  if (state.pollTimer) return;
  state.pollTimer = setInterval(async () => {
    try { await loadReports(); } catch (_) { stopPolling(); }
  }, POLL_MS);
}

function stopPolling() {
  clearInterval(state.pollTimer);
  state.pollTimer = null;
}

function size(bytes) {
  if (bytes == null) return "";
  const units = ["B", "KB", "MB", "GB"];
  let i = 0;
  while (bytes >= 1024 && i < units.length - 1) { bytes /= 1024; i += 1; }
  return `${bytes.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function renderRows() {
  const body = $("report-rows");
  body.replaceChildren(...state.reports.map(row));
  const asked = state.reports.find((r) => r.id === state.requested);
  if (asked && !busy(asked)) {  // "Export requested" has said what it had to say
    $("request-message").textContent = "";
    state.requested = null;
  }
  $("list-empty").hidden = state.reports.length > 0;
  $("more").hidden = !state.cursor;
}

function row(report) {
  const label = typeNamed(report.type).label;
  const who = report.requested_by.name || report.requested_by.email || report.requested_by.id;
  const status = el("td", {}, [el("span", { class: `badge ${report.status}`, text: cap(report.status) })]);
  if (report.status === "failed" && report.error) status.append(el("div", { class: "reason", text: report.error }));
  const rows = report.status === "completed" ? report.row_count.toLocaleString()
    : report.status === "processing" ? progressOf(report) : "";
  if (report.status === "canceled") {
    const by = report.canceled_by && (report.canceled_by.name || report.canceled_by.email || report.canceled_by.id);
    status.append(el("div", { class: "hint", text: `by ${by}` }));
  }
  if (report.purpose) status.append(el("div", { class: "hint", text: report.purpose }));
  const file = el("td");
  const note = el("div", { class: "reason", role: "status" });
  if (report.status === "completed") {
    const button = el("button", { type: "button", class: "secondary", text: "Download",
      "aria-label": `Download ${label} export ${report.file_name}` });
    button.addEventListener("click", () => download(report, note));
    file.append(button, note);
  } else if (busy(report)) {
    const button = el("button", { type: "button", class: "secondary", text: "Cancel",
      "aria-label": `Cancel ${label} export requested ${new Date(report.created_at).toLocaleString()}` });
    button.addEventListener("click", () => cancel(report, button, note));
    file.append(button, note);
  }
  const kind = formatLabel(report.format);
  const fileCell = el("td", { class: "file-kind", text: report.password_protected ? `${kind}, protected` : kind });
  if (report.password_protected) fileCell.title = "An encrypted ZIP: it opens with the password given at request";
  const what = el("td", {}, [el("span", { text: label }),
    el("span", { class: "summary", text: `${describeFilters(report.filters, report.type)} · ${report.timezone}` })]);
  if (report.status === "completed" && report.started_at) {
    const seconds = Math.max(0, Math.round((new Date(report.completed_at) - new Date(report.started_at)) / 1000));
    status.append(el("div", { class: "hint", text: `in ${seconds < 90 ? `${seconds} s` : `${Math.round(seconds / 60)} min`} · ${new Date(report.completed_at).toLocaleTimeString()}` }));
  }
  const tr = el("tr", { "data-report-id": report.id, "data-status": report.status }, [
    what, fileCell, el("td", { text: who }),
    el("td", { text: new Date(report.created_at).toLocaleString() }), status,
    typeof rows === "string" ? el("td", { text: rows }) : el("td", {}, [rows]),
    el("td", { text: size(report.file_size_bytes) }), file,
  ]);
  return tr;
}

// A processing export's progress: a bar, the share and the time left once the run has
// counted its rows (rows_expected); otherwise the rows written so far.
function progressOf(report) {
  const done = report.rows_written, total = report.rows_expected;
  if (total == null || total === 0) return `${done.toLocaleString()} so far`;
  const share = Math.min(1, done / total);
  const bar = el("progress", { max: "100", value: String(Math.round(share * 100)),
    "aria-label": `${Math.round(share * 100)} percent written` });
  const elapsed = (Date.now() - new Date(report.started_at || report.created_at)) / 1000;
  const left = share > 0 ? Math.max(0, Math.round(elapsed * (1 - share) / share)) : null;
  const text = `${Math.round(share * 100)}% of ${total.toLocaleString()}` +
    (left != null ? ` · about ${left < 60 ? `${left} s` : `${Math.round(left / 60)} min`} left` : "");
  return el("span", { class: "progress" }, [bar, el("span", { text })]);
}

function cap(text) { return text.charAt(0).toUpperCase() + text.slice(1); }

async function cancel(report, button, note) {
  note.textContent = "";
  button.disabled = true;
  try {
    upsert(await api(`${base()}/${report.id}/cancel`, { method: "POST" }));
  } catch (error) {
    button.disabled = false;
    if (error.status === 409) await loadReports(); // it finished meanwhile: show how
    else if (error.status !== 401 && error.status !== 403) note.textContent = error.message;
  }
}

async function download(report, note) {
  note.className = "hint";
  note.textContent = "Preparing the link…";
  try {
    const link = await api(`${base()}/${report.id}/download`);
    window.open(link.url, "_blank", "noopener");
    note.textContent = `Download started: ${link.file_name} (link valid until ${new Date(link.expires_at).toLocaleTimeString()})`;
  } catch (error) {
    note.className = "reason";
    note.textContent = error.status !== 401 && error.status !== 403 ? error.message : "";
  }
}

// ---------------------------------------------------------------- start

async function start() {
  const me = claims();
  $("whoami-name").textContent = `${me.name || me.email || me.sub || ""} · ${me.org_id || ""}`;
  try {
    state.catalogue = state.catalogue || await api(`${base()}/types`);
    await loadReports();
  } catch (_) { return; } // 401 and 403 have already decided the view
  show("app");
  document.dispatchEvent(new Event("reports:signed-in")); // schedules.js lists its rows
  if (!state.options) {
    state.options = await api(`${base()}/options`);
    renderTypes();
    renderFormats();
    renderTimezones();
    setUpColumns();
    renderFilters();
  }
}

function init() {
  const fromLink = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromLink) {
    sessionStorage.setItem(TOKEN_KEY, fromLink);
    history.replaceState(null, "", location.pathname);
  }
  $("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const pasted = $("token-input").value.trim();
    const problem = tokenProblem(pasted);
    if (problem) {
      $("sign-in-message").textContent = problem;
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, pasted);
    $("token-input").value = "";
    start();
  });
  $("sign-out").addEventListener("click", () => signOut("You are signed out."));
  $("request-form").addEventListener("submit", requestExport);
  $("more").addEventListener("click", () => loadReports(true));
  wirePreview();
  if (!token()) signOut();
  else if (tokenProblem(token())) signOut(tokenProblem(token()));
  else start();
}

document.addEventListener("DOMContentLoaded", init);

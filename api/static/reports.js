// The admin page: talks only to the public API. Access is decided by the API's answers
// (401 -> sign in again, 403 -> Access Restricted), never by the page itself.
"use strict";

const TOKEN_KEY = "reports.token";
const POLL_MS = 3000;
const PAGE = 20;
const TYPES = [
  { name: "chat", label: "Chat", schema: "ChatReportCreate" },
  { name: "contact", label: "Contact", schema: "ContactReportCreate" },
  { name: "ticket", label: "Ticket", schema: "TicketReportCreate" },
  { name: "call_log", label: "Call Log", schema: "CallLogReportCreate" },
  { name: "goal", label: "Goal", schema: "GoalReportCreate" },
  { name: "message", label: "Message", schema: "MessageReportCreate" },
];
const OPS = ["eq", "neq", "contains", "in", "not_in", "exists", "gt", "gte", "lt", "lte"];

const $ = (id) => document.getElementById(id);
const state = { openapi: null, options: null, reports: [], cursor: null, pollTimer: null };

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

// ---------------------------------------------------------------- filters from the schema

function schemaOf(ref) { return state.openapi.components.schemas[ref.split("/").pop()]; }

function unwrap(prop) {
  const choice = (prop.anyOf || []).find((p) => p.type !== "null");
  return choice ? { ...choice, "x-options": prop["x-options"], title: prop.title } : prop;
}

function optionList(source, fallback) {
  if (source && state.options && state.options[source]) return state.options[source];
  return (fallback || []).map((v) => ({ id: v, name: v }));
}

function labelled(name, title, control) {
  const box = document.createElement("div");
  box.className = "filter";
  box.dataset.filter = name;
  const label = document.createElement("label");
  label.textContent = title;
  label.htmlFor = `f-${name}`;
  control.id = control.id || `f-${name}`;
  box.append(label, control);
  return box;
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

const widgets = {
  flag(name, title) {
    const select = selectOf([["", "Any"], ["true", "Yes"], ["false", "No"]]);
    const box = labelled(name, title, select);
    box.read = () => (select.value === "" ? undefined : select.value === "true");
    return box;
  },
  text(name, title) {
    const input = el("input", { type: "search", maxlength: "200" });
    const box = labelled(name, title, input);
    box.read = () => input.value.trim() || undefined;
    return box;
  },
  set(name, title, spec) {
    const ref = schemaOf(spec.$ref);
    const itemSchema = ref.properties.values.anyOf[0].items;
    const numeric = itemSchema.type === "integer";
    const values = selectOf(optionList(spec["x-options"], itemSchema.enum)
      .map((o) => [String(o.id), o.name]), { multiple: "", id: `f-${name}` });
    const mode = selectOf([["values", "is any of"], ["exclude_values", "is none of"],
      ["empty", "is empty"], ["present", "is not empty"]], { "aria-label": `${title} match` });
    const every = el("input", { type: "checkbox", id: `f-${name}-every` });
    const inline = el("div", { class: "inline" }, [mode]);
    if (ref.properties.require_every_value) {
      inline.append(every, el("label", { for: every.id, text: "has every selected value" }));
    }
    const box = labelled(name, title, values);
    box.insertBefore(inline, values);
    mode.addEventListener("change", () => { values.disabled = ["empty", "present"].includes(mode.value); });
    box.read = () => {
      if (mode.value === "empty") return { exists: false };
      if (mode.value === "present") return { exists: true };
      const picked = [...values.selectedOptions].map((o) => (numeric ? Number(o.value) : o.value));
      if (!picked.length) return undefined;
      const out = { [mode.value]: picked };
      if (every.checked && mode.value === "values") out.require_every_value = true;
      return out;
    };
    return box;
  },
  dateRange(name, title) {
    const from = el("input", { type: "date", "aria-label": `${title} from` });
    const to = el("input", { type: "date", "aria-label": `${title} to` });
    const inline = el("div", { class: "inline" }, [from, el("span", { text: "to" }), to]);
    const box = labelled(name, title, inline);
    box.querySelector("label").htmlFor = from.id = `f-${name}`;
    box.read = () => {
      const out = {};
      if (from.value) out.from = from.value;
      if (to.value) out.to = to.value;
      return Object.keys(out).length ? out : undefined;
    };
    return box;
  },
  numberRange(name, title) {
    const min = el("input", { type: "number", min: "0", "aria-label": `${title} minimum` });
    const max = el("input", { type: "number", min: "0", "aria-label": `${title} maximum` });
    const box = labelled(name, title, el("div", { class: "inline" }, [min, el("span", { text: "to" }), max]));
    box.querySelector("label").htmlFor = min.id = `f-${name}`;
    box.read = () => {
      const out = {};
      if (min.value !== "") out.min = Number(min.value);
      if (max.value !== "") out.max = Number(max.value);
      return Object.keys(out).length ? out : undefined;
    };
    return box;
  },
  predicates(name, title, spec) {
    const list = el("div");
    const fields = optionList(spec["x-options"]);
    const datalist = el("datalist", { id: `f-${name}-fields` },
      fields.map((f) => el("option", { value: f.id, text: f.name })));
    const add = el("button", { type: "button", class: "secondary", id: `f-${name}`, text: "Add condition" });
    add.addEventListener("click", () => {
      const field = el("input", { list: datalist.id, "aria-label": "Field", placeholder: "field" });
      const op = selectOf(OPS.map((o) => [o, o]), { "aria-label": "Operator" });
      const value = el("input", { "aria-label": "Value", placeholder: "value (a, b for in)" });
      const remove = el("button", { type: "button", class: "secondary", text: "Remove" });
      const row = el("div", { class: "predicate" }, [field, op, value, remove]);
      remove.addEventListener("click", () => row.remove());
      list.append(row);
      field.focus();
    });
    const box = labelled(name, title, add);
    box.classList.add("wide");
    box.append(list, datalist);
    box.read = () => {
      const rows = [...list.querySelectorAll(".predicate")].map((row) => {
        const [field, op, value] = row.querySelectorAll("input, select");
        return { field: field.value.trim(), op: op.value, value: parseValue(op.value, value.value) };
      }).filter((p) => p.field);
      return rows.length ? rows : undefined;
    };
    return box;
  },
};

function parseValue(op, raw) {
  const one = (v) => (v.trim() !== "" && !Number.isNaN(Number(v)) ? Number(v) : v.trim());
  if (op === "exists") return raw.trim().toLowerCase() !== "false";
  if (op === "in" || op === "not_in") return raw.split(",").map(one).filter((v) => v !== "");
  if (["gt", "gte", "lt", "lte"].includes(op)) return one(raw);
  return raw;
}

function widgetFor(name, prop) {
  const spec = unwrap(prop);
  const title = cap(name.replace(/_/g, " "));
  if (spec.type === "boolean") return widgets.flag(name, title);
  if (spec.type === "string") return widgets.text(name, title);
  if (spec.type === "array") return widgets.predicates(name, title, spec);
  const ref = spec.$ref ? spec.$ref.split("/").pop() : "";
  if (ref === "DateRange") return widgets.dateRange(name, title);
  if (ref === "NumberRange") return widgets.numberRange(name, title);
  if (ref.includes("SetFilter")) return widgets.set(name, title, spec);
  return null;
}

function renderFilters() {
  const type = selectedType();
  const create = state.openapi.components.schemas[type.schema];
  const filters = schemaOf(create.properties.filters.$ref);
  const panel = $("filters");
  panel.replaceChildren();
  for (const [name, prop] of Object.entries(filters.properties)) {
    const widget = widgetFor(name, prop);
    if (widget) panel.append(widget);
  }
}

function readFilters() {
  const out = {};
  for (const box of $("filters").children) {
    const value = box.read && box.read();
    if (value !== undefined) out[box.dataset.filter] = value;
  }
  return out;
}

function selectedType() {
  const checked = document.querySelector("input[name=report-type]:checked");
  return TYPES.find((t) => t.name === checked.value);
}

function renderTypes() {
  const box = $("type-options");
  for (const [i, type] of TYPES.entries()) {
    const description = state.openapi.components.schemas[type.schema].description || "";
    const input = el("input", { type: "radio", name: "report-type", value: type.name, id: `type-${type.name}` });
    if (i === 0) input.checked = true;
    input.addEventListener("change", renderFilters);
    const text = el("span", {}, [el("strong", { text: type.label }), el("small", { text: description })]);
    box.append(el("label", { class: "type-option", for: input.id }, [input, text]));
  }
}

function renderTimezones() {
  const here = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const zones = ["UTC", ...(Intl.supportedValuesOf ? Intl.supportedValuesOf("timeZone") : [])];
  const select = $("timezone");
  select.replaceChildren(...[...new Set(zones)].map((z) => el("option", { value: z, text: z })));
  select.value = zones.includes(here) ? here : "UTC";
}

// ---------------------------------------------------------------- requests and the list

async function requestExport(event) {
  event.preventDefault();
  const message = $("request-message");
  message.className = "notice";
  message.textContent = "";
  $("generate").disabled = true;
  const body = { type: selectedType().name, filters: readFilters(), timezone: $("timezone").value };
  body.format = $("file-format").value;
  const purpose = $("purpose").value.trim();
  if (purpose) body.purpose = purpose;
  const password = $("file-password").value;
  if (password) body.password = password;
  try {
    const created = await api(base(), { method: "POST", body: JSON.stringify(body) });
    const report = await api(`${base()}/${created.id}`);
    upsert(report);
    message.className = "notice info";
    message.textContent = "Export requested. It appears below as Pending.";
    $("file-password").value = "";  // not kept on the page once sent
    startPolling();
  } catch (error) {
    if (error.status === 409) {
      message.textContent = `${error.message} (existing report ${error.body.existing_report_id}` +
        (error.body.code === "report_completed_recently" ? `; try again in ${retryAfter(error)} s)` : ")");
    } else if (error.status === 422) {
      message.textContent = fieldErrors(error.body.detail);
    } else if (error.status !== 401 && error.status !== 403) {
      message.textContent = error.message;
    }
  } finally {
    $("generate").disabled = false;
  }
}

function retryAfter(error) { return error.body.retry_after || "a few"; }

function fieldErrors(detail) {
  if (!Array.isArray(detail)) return String(detail);
  return detail.map((e) => `${e.loc.filter((p) => p !== "body").slice(1).join(" › ")}: ${e.msg}`).join("; ");
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
  $("list-empty").hidden = state.reports.length > 0;
  $("more").hidden = !state.cursor;
}

function row(report) {
  const label = (TYPES.find((t) => t.name === report.type) || { label: report.type }).label;
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
  const kind = FORMAT_LABELS[report.format] || report.format;
  const fileCell = el("td", { class: "file-kind", text: report.password_protected ? `${kind}, protected` : kind });
  if (report.password_protected) fileCell.title = "An encrypted ZIP: it opens with the password given at request";
  const tr = el("tr", { "data-report-id": report.id, "data-status": report.status }, [
    el("td", { text: label }), fileCell, el("td", { text: who }),
    el("td", { text: new Date(report.created_at).toLocaleString() }), status,
    typeof rows === "string" ? el("td", { text: rows }) : el("td", {}, [rows]),
    el("td", { text: size(report.file_size_bytes) }), file,
  ]);
  return tr;
}

const FORMAT_LABELS = { csv: "CSV", csv_gz: "CSV (gzip)", xlsx: "Excel", parquet: "Parquet", jsonl: "JSON Lines" };

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
  note.textContent = "";
  try {
    const link = await api(`${base()}/${report.id}/download`);
    window.open(link.url, "_blank", "noopener");
  } catch (error) {
    if (error.status !== 401 && error.status !== 403) note.textContent = error.message;
  }
}

// ---------------------------------------------------------------- start

async function start() {
  const me = claims();
  $("whoami-name").textContent = `${me.name || me.email || me.sub || ""} · ${me.org_id || ""}`;
  try {
    await loadReports();
  } catch (_) { return; } // 401 and 403 have already decided the view
  show("app");
  document.dispatchEvent(new Event("reports:signed-in")); // schedules.js lists its rows
  if (!state.openapi) {
    const [openapi, options] = await Promise.all([
      fetch("/openapi.json").then((r) => r.json()), api(`${base()}/options`)]);
    state.openapi = openapi;
    state.options = options;
    renderTypes();
    renderTimezones();
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
  if (!token()) signOut();
  else if (tokenProblem(token())) signOut(tokenProblem(token()));
  else start();
}

document.addEventListener("DOMContentLoaded", init);

// The filter panel: one widget per filter of the chosen type (as the API's `…/types`
// describes it), grouped and collapsed until used, with chips summarising what is active.
// Each widget's box has read() (the filter's JSON, or undefined), clear() and summary()
// (chip text). Uses countLater of count.js, and el/selectOf/optionList/typeNamed/state/$
// of reports.js.
"use strict";

function filterBox(filter, control) {
  const { name, title } = filter;
  const box = el("div", { class: "filter", "data-filter": name, "data-kind": filter.kind, "data-group": filter.group });
  const label = el("label", { for: control.id || `f-${name}`, text: title });
  control.id = control.id || `f-${name}`;
  box.append(label, control);
  return box;
}

function changed() {
  renderChips();
  countLater();
  for (const group of $("filters").querySelectorAll("details.group")) {
    const active = [...group.querySelectorAll(".filter")].filter((b) => b.read() !== undefined);
    group.querySelector(".count").textContent = active.length ? `${active.length} active` : "";
  }
}

const widgets = {
  flag(filter) {
    const { title } = filter;
    const select = selectOf([["", "Any"], ["true", "Yes"], ["false", "No"]]);
    const box = filterBox(filter, select);
    box.read = () => (select.value === "" ? undefined : select.value === "true");
    box.clear = () => { select.value = ""; };
    box.summary = () => `${title}: ${select.value === "true" ? "yes" : "no"}`;
    return box;
  },
  text(filter) {
    const { title } = filter;
    const input = el("input", { type: "search", maxlength: "200" });
    const box = filterBox(filter, input);
    box.read = () => input.value.trim() || undefined;
    box.clear = () => { input.value = ""; };
    box.summary = () => `${title}: “${input.value.trim()}”`;
    return box;
  },
  set(filter) {
    const { name, title, numeric } = filter;
    const choices = filter.choices || optionList(filter.options);
    const modes = [["values", "is any of"]];
    if (filter.every) modes.push(["every", "has all of"]);
    modes.push(["exclude_values", "is none of"], ["empty", "is empty"], ["present", "is not empty"]);
    const mode = selectOf(modes, { "aria-label": `${title}: how to match` });
    const search = el("input", { type: "search", id: `f-${name}`, placeholder: `Search ${choices.length} values` });
    const list = el("div", { class: "choices", role: "group", "aria-label": title });
    for (const [i, option] of choices.entries()) {
      const box = el("input", { type: "checkbox", value: String(option.id), id: `f-${name}-${i}` });
      list.append(el("label", { class: "choice", for: box.id }, [box, el("span", { text: valueName(option.name) })]));
    }
    search.addEventListener("input", () => {
      const needle = search.value.trim().toLowerCase();
      for (const choice of list.children) choice.hidden = !choice.textContent.toLowerCase().includes(needle);
    });
    const picked = () => [...list.querySelectorAll("input:checked")];
    mode.addEventListener("change", () => { list.inert = search.disabled = ["empty", "present"].includes(mode.value); });
    const box = filterBox(filter, search);
    box.insertBefore(mode, search);
    box.append(list);
    box.read = () => {
      if (mode.value === "empty") return { exists: false };
      if (mode.value === "present") return { exists: true };
      const values = picked().map((c) => (numeric ? Number(c.value) : c.value));
      if (!values.length) return undefined;
      if (mode.value === "every") return { values, require_every_value: true };
      return { [mode.value]: values };
    };
    box.clear = () => { mode.value = "values"; for (const c of picked()) c.checked = false; list.inert = search.disabled = false; };
    box.summary = () => {
      const words = { values: "any of", every: "all of", exclude_values: "none of" }[mode.value];
      if (!words) return `${title} ${mode.value === "empty" ? "is empty" : "is not empty"}`;
      const names = picked().map((c) => c.parentElement.textContent);
      return `${title}: ${words} ${names.slice(0, 3).join(", ")}${names.length > 3 ? ` +${names.length - 3}` : ""}`;
    };
    return box;
  },
  dates(filter) {
    const { name, title } = filter;
    const preset = selectOf(DATE_PRESETS.map(([value, text]) => [value, text]), { id: `f-${name}` });
    const from = el("input", { type: "date", "aria-label": `${title} from` });
    const to = el("input", { type: "date", "aria-label": `${title} to` });
    const custom = el("div", { class: "inline" }, [from, el("span", { text: "to" }), to]);
    preset.addEventListener("change", () => {
      const range = presetRange(preset.value, $("timezone").value);
      if (range) [from.value, to.value] = range;
      if (preset.value === "") from.value = to.value = "";
    });
    for (const input of [from, to]) input.addEventListener("change", () => { preset.value = "custom"; });
    const box = filterBox(filter, preset);
    box.append(custom);
    box.read = () => {
      const out = {};
      if (from.value) out.from = from.value;
      if (to.value) out.to = to.value;
      return Object.keys(out).length ? out : undefined;
    };
    box.clear = () => { preset.value = ""; from.value = to.value = ""; };
    box.summary = () => {
      const named = DATE_PRESETS.find(([v]) => v === preset.value && v !== "custom");
      return `${title}: ${named ? named[1].toLowerCase() : `${from.value || "…"} to ${to.value || "…"}`}`;
    };
    return box;
  },
  numbers(filter) {
    const { name, title } = filter;
    const unit = filter.unit ? ` (${filter.unit})` : "";
    const min = el("input", { type: "number", min: "0", "aria-label": `${title} minimum${unit}` });
    const max = el("input", { type: "number", min: "0", "aria-label": `${title} maximum${unit}` });
    const row = el("div", { class: "inline" }, [min, el("span", { text: "to" }), max, el("span", { class: "hint", text: filter.unit || "" })]);
    min.id = `f-${name}`;
    const box = filterBox({ ...filter, title: `${title}${unit}` }, row);
    box.querySelector("label").htmlFor = min.id;
    box.read = () => {
      const out = {};
      if (min.value !== "") out.min = Number(min.value);
      if (max.value !== "") out.max = Number(max.value);
      return Object.keys(out).length ? out : undefined;
    };
    box.clear = () => { min.value = max.value = ""; };
    box.summary = () => `${title}: ${min.value || "0"}–${max.value || "∞"}${filter.unit ? ` ${filter.unit}` : ""}`;
    return box;
  },
  conditions(filter) {
    const { name, title } = filter;
    const list = el("div");
    const fields = optionList(filter.options);
    const datalist = el("datalist", { id: `f-${name}-fields` },
      fields.map((f) => el("option", { value: f.id, text: f.name })));
    const add = el("button", { type: "button", class: "secondary", id: `f-${name}`, text: "Add condition" });
    add.addEventListener("click", () => {
      const field = el("input", { list: datalist.id, "aria-label": "Field", placeholder: "field" });
      const op = selectOf(state.catalogue.operators.map((o) => [o.id, o.name]), { "aria-label": "Operator" });
      const value = el("input", { "aria-label": "Value", placeholder: "value (a, b for one of)" });
      const remove = el("button", { type: "button", class: "secondary", text: "Remove" });
      const row = el("div", { class: "predicate" }, [field, op, value, remove]);
      remove.addEventListener("click", () => { row.remove(); changed(); });
      list.append(row);
      field.focus();
    });
    const box = filterBox(filter, add);
    box.classList.add("wide");
    box.append(list, datalist);
    box.read = () => {
      const rows = [...list.querySelectorAll(".predicate")].map((row) => {
        const [field, op, value] = row.querySelectorAll("input, select");
        return { field: field.value.trim(), op: op.value, value: parseValue(op.value, value.value) };
      }).filter((p) => p.field);
      return rows.length ? rows : undefined;
    };
    box.clear = () => list.replaceChildren();
    box.summary = () => `${title}: ${box.read().length} condition(s)`;
    return box;
  },
};

const DATE_PRESETS = [["", "Any time"], ["today", "Today"], ["last7", "Last 7 days"],
  ["this_month", "This month"], ["last_month", "Last month"], ["this_quarter", "This quarter"],
  ["custom", "Custom dates"]];

// A preset's [from, to] as dates in `zone` (today is the zone's today).
function presetRange(preset, zone) {
  const [y, m, d] = new Intl.DateTimeFormat("en-CA", { timeZone: zone }).format(new Date()).split("-").map(Number);
  const iso = (date) => date.toISOString().slice(0, 10);
  const day = (yy, mm, dd) => new Date(Date.UTC(yy, mm - 1, dd));
  const today = day(y, m, d);
  switch (preset) {
    case "today": return [iso(today), iso(today)];
    case "last7": return [iso(day(y, m, d - 6)), iso(today)];
    case "this_month": return [iso(day(y, m, 1)), iso(today)];
    case "last_month": return [iso(day(y, m - 1, 1)), iso(day(y, m, 0))];
    case "this_quarter": return [iso(day(y, m - ((m - 1) % 3), 1)), iso(today)];
    default: return null;
  }
}

function parseValue(op, raw) {
  const one = (v) => (v.trim() !== "" && !Number.isNaN(Number(v)) ? Number(v) : v.trim());
  if (op === "exists") return raw.trim().toLowerCase() !== "false";
  if (op === "in" || op === "not_in") return raw.split(",").map(one).filter((v) => v !== "");
  if (["gt", "gte", "lt", "lte"].includes(op)) return one(raw);
  return raw;
}

function renderFilters() {
  const groups = new Map(state.catalogue.groups.map(({ id, name }) => {
    const details = el("details", { class: "group", "data-group": id });
    details.append(el("summary", {}, [el("span", { text: name }), el("span", { class: "count" })]),
      el("div", { class: "filters-grid" }));
    return [id, details];
  }));
  for (const filter of selectedType().filters) {
    const widget = widgets[filter.kind](filter);
    groups.get(filter.group).querySelector(".filters-grid").append(widget);
  }
  const shown = [...groups.values()].filter((g) => g.querySelector(".filter"));
  if (shown.length) shown[0].open = true; // dates first: the filter nearly every export uses
  $("filters").replaceChildren(...shown);
  $("filters").oninput = $("filters").onchange = changed;
  renderOptions();
  renderRelated();
  resetColumns();
  changed();
}

// The type's own request fields beside its filters (a summary's periods and groups).
function renderOptions() {
  const rows = selectedType().options.map((option) => {
    const id = `option-${option.name}`;
    const select = selectOf(option.choices.map((c) => [c.id, c.name]), { id, "data-option": option.name });
    select.value = option.default;
    return el("div", { class: "row" }, [el("label", { for: id, text: option.title }), select]);
  });
  $("report-options").replaceChildren(...rows);
  // A range may not fit the periods chosen; a summary's groups change its header.
  $("report-options").onchange = () => { resetColumns(); countLater(); };
}

function readOptions() {
  const chosen = {};
  for (const select of $("report-options").querySelectorAll("select[data-option]")) {
    chosen[select.dataset.option] = select.value;
  }
  return chosen;
}

function activeBoxes() {
  return [...$("filters").querySelectorAll(".filter")].filter((box) => box.read() !== undefined);
}

function renderChips() {
  const chips = activeBoxes().map((box) => {
    const remove = el("button", { type: "button", class: "chip-remove", "aria-label": `Remove filter: ${box.summary()}`, text: "×" });
    remove.addEventListener("click", () => { box.clear(); changed(); });
    return el("li", { class: "chip" }, [el("span", { text: box.summary() }), remove]);
  });
  $("active-filters").replaceChildren(...chips);
  $("active-filters-none").hidden = chips.length > 0;
}

function readFilters() {
  const out = {};
  for (const box of $("filters").querySelectorAll(".filter")) {
    const value = box.read();
    if (value !== undefined) out[box.dataset.filter] = value;
  }
  return out;
}

// An option's name as people read it: raw CONSTANT_NAMES (hang-up causes) in words.
function valueName(value) {
  const text = String(value);
  if (/^[A-Z0-9_]+$/.test(text) && text.includes("_")) {
    const words = text.toLowerCase().replace(/_/g, " ");
    return words.charAt(0).toUpperCase() + words.slice(1);
  }
  return text;
}

// One line saying what an export holds, for the list: its filters in the panel's words.
function describeFilters(filters, typeName) {
  const known = new Map(typeNamed(typeName).filters.map((f) => [f.name, f]));
  const parts = Object.entries(filters || {}).map(([name, value]) => {
    const filter = known.get(name) || { title: name };
    const title = filter.title;
    const nameOf = (v) => ((filter.choices || []).find((c) => c.id === v) || { name: valueName(v) }).name;
    if (typeof value === "boolean") return `${title}: ${value ? "yes" : "no"}`;
    if (typeof value === "string") return `${title}: “${value}”`;
    if (Array.isArray(value)) return `${title}: ${value.length} condition(s)`;
    if ("from" in value || "to" in value) return `${title} ${value.from || "…"} to ${value.to || "…"}`;
    if ("min" in value || "max" in value) return `${title} ${value.min ?? 0}–${value.max ?? "∞"}`;
    if ("exists" in value) return `${title} ${value.exists ? "is not empty" : "is empty"}`;
    const list = value.values || value.exclude_values || [];
    const how = value.exclude_values ? "none of" : value.require_every_value ? "all of" : "any of";
    const named = list.every((v) => typeof v === "string") && list.length <= 3;
    return named ? `${title}: ${how} ${list.map(nameOf).join(", ")}`
      : `${title}: ${how} ${list.length} value${list.length === 1 ? "" : "s"}`;
  });
  return parts.length ? parts.join(" · ") : "All rows";
}

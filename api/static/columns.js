// The column picker (POST …/columns lists the file's header for the chosen type and
// options): tick, search and reorder the columns, or take every column or those chosen
// last time for the type (kept in this browser). Nothing chosen differently from the
// whole header sends no `columns`. Uses api/base/selectedType/el/$ of reports.js and
// readFilters/readOptions of filters.js.
"use strict";

const picking = { asked: 0, header: [] };
const lastColumnsKey = (type) => `crm-reports:columns:${type}`;

// The type or its options changed: the header may differ, so it is asked again when opened.
function resetColumns() {
  picking.asked++;
  picking.header = [];
  $("column-list").replaceChildren();
  $("column-note").textContent = "";
  $("columns-picker").open = false;
  summariseColumns();
}

async function loadColumns() {
  if (picking.header.length) return;
  const asked = ++picking.asked;
  const body = { type: selectedType().name, filters: readFilters(), timezone: $("timezone").value };
  Object.assign(body, readOptions());
  $("column-note").textContent = "Loading the columns…";
  try {
    const answer = await api(`${base()}/columns`, { method: "POST", body: JSON.stringify(body) });
    if (asked !== picking.asked) return; // the type changed meanwhile
    picking.header = answer.columns;
    $("column-note").textContent = "";
    showColumns(answer.columns, answer.columns);
  } catch (error) {
    if (asked === picking.asked) $("column-note").textContent = "The columns could not be loaded; the file will hold them all.";
  }
}

function showColumns(order, chosen) {
  const on = new Set(chosen);
  $("column-list").replaceChildren(...order.map((name) => columnRow(name, on.has(name))));
  searchColumns();
  summariseColumns();
}

function columnRow(name, checked) {
  const box = el("input", { type: "checkbox", value: name });
  box.checked = checked;
  const up = el("button", { type: "button", class: "move", "aria-label": `Move ${name} up`, text: "↑" });
  const down = el("button", { type: "button", class: "move", "aria-label": `Move ${name} down`, text: "↓" });
  const row = el("li", { class: "column", "data-column": name }, [
    el("label", { class: "choice" }, [box, el("span", { text: name })]), up, down,
  ]);
  up.addEventListener("click", () => { row.previousElementSibling?.before(row); up.focus(); summariseColumns(); });
  down.addEventListener("click", () => { row.nextElementSibling?.after(row); down.focus(); summariseColumns(); });
  return row;
}

function searchColumns() {
  const wanted = $("column-search").value.trim().toLowerCase();
  for (const row of $("column-list").children) {
    row.hidden = wanted !== "" && !row.dataset.column.toLowerCase().includes(wanted);
  }
}

function chosenColumns() {
  return [...$("column-list").querySelectorAll("input:checked")].map((box) => box.value);
}

function readColumns() {
  if (!picking.header.length) return {};
  const chosen = chosenColumns();
  const whole = chosen.length === picking.header.length && chosen.every((c, i) => c === picking.header[i]);
  return whole ? {} : { columns: chosen };
}

function summariseColumns() {
  const { columns } = readColumns();
  $("column-summary").textContent = columns ? `${columns.length} of ${picking.header.length} chosen` : "all";
}

function columnsAsLastTime() {
  const last = JSON.parse(localStorage.getItem(lastColumnsKey(selectedType().name)) || "null");
  if (!last) {
    $("column-note").textContent = "No columns were chosen for this type in this browser yet.";
    return;
  }
  const known = last.filter((name) => picking.header.includes(name));
  showColumns([...known, ...picking.header.filter((name) => !known.includes(name))], known);
}

// After a request is made: its columns are "last time" for its type.
function rememberColumns(body) {
  if (body.columns) localStorage.setItem(lastColumnsKey(body.type), JSON.stringify(body.columns));
}

function setUpColumns() {
  $("columns-picker").addEventListener("toggle", () => { if ($("columns-picker").open) loadColumns(); });
  $("column-search").addEventListener("input", searchColumns);
  $("column-list").addEventListener("change", summariseColumns);
  $("columns-all").addEventListener("click", () => showColumns(picking.header, picking.header));
  $("columns-last").addEventListener("click", columnsAsLastTime);
}

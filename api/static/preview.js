// The summaries' preview (POST …/preview): the first periods as a bar chart of one measure,
// with a table of the same numbers for keyboards and screen readers. Asked with the count
// (count.js calls previewLater); an answer that arrives after a newer question is dropped.
// Uses api/base/selectedType/fieldErrors/el of reports.js and readFilters/readOptions of
// filters.js.
"use strict";

const PREVIEW_PERIODS = 31;
const CHART = { width: 640, height: 180, top: 16, bottom: 22 };
const previewing = { timer: null, asked: 0, answer: null };

function isSummary(type) {
  return type.options.some((option) => option.name === "distribution");
}

function previewLater() {
  clearTimeout(previewing.timer);
  previewing.asked++;
  const box = $("preview");
  box.hidden = !isSummary(selectedType());
  if (box.hidden) return;
  box.dataset.state = "loading";
  $("preview-note").textContent = "Computing the preview…";
  previewing.timer = setTimeout(previewNow, COUNT_DELAY_MS);
}

async function previewNow() {
  const asked = ++previewing.asked;
  const body = { type: selectedType().name, filters: readFilters(), timezone: $("timezone").value };
  Object.assign(body, readOptions());
  let answer = null, note;
  try {
    answer = await api(`${base()}/preview?periods=${PREVIEW_PERIODS}`, { method: "POST", body: JSON.stringify(body) });
    note = coverage(answer);
  } catch (error) {
    if (error.status === 401 || error.status === 403) return;
    note = error.status === 422 ? `No preview: ${fieldErrors(error.body.detail)}`
      : "The preview is not available right now.";
  }
  if (asked !== previewing.asked) return; // a newer question is on its way
  previewing.answer = answer;
  $("preview").dataset.state = answer ? "shown" : "error";
  $("preview-note").textContent = note;
  renderPreviewChoices();
  drawPreview();
}

// The days covered, as the request's zone writes them (`to` is exclusive).
function coverage(answer) {
  const [toDay, toTime] = answer.to.split("T");
  const last = toTime.startsWith("00:00:00")
    ? new Date(Date.parse(`${toDay}T00:00:00Z`) - 86400000).toISOString().slice(0, 10) : toDay;
  const span = `${answer.from.slice(0, 10)} to ${last}`;
  return answer.complete ? `The whole export: ${span}.`
    : `The first periods: ${span}. The file covers the whole range.`;
}

// A row's series: its group or agent ("" when there is one row per period).
function seriesOf(answer, row) {
  return answer.keys.map((key) => row[key] ?? "(none)").join(" · ");
}

function renderPreviewChoices() {
  const answer = previewing.answer, measure = $("preview-measure"), series = $("preview-series");
  const keep = (select, values) => {
    const before = select.value;
    select.replaceChildren(...values.map((v) => el("option", { value: v, text: v })));
    if (values.includes(before)) select.value = before;
  };
  keep(measure, answer ? answer.measures : []);
  const names = answer ? [...new Set(answer.rows.map((row) => seriesOf(answer, row)))] : [];
  keep(series, names);
  $("preview-series-row").hidden = !answer || answer.keys.length === 0;
  if (answer && answer.keys.length) $("preview-series-label").textContent = answer.keys.at(-1);
}

function previewPoints() {
  const answer = previewing.answer, measure = $("preview-measure").value;
  const series = $("preview-series").value;
  return answer.rows.filter((row) => answer.keys.length === 0 || seriesOf(answer, row) === series)
    .map((row) => ({ period: row.Period, value: row[measure] }));
}

function drawPreview() {
  const chart = $("preview-chart"), rows = $("preview-table-rows");
  if (!previewing.answer) { chart.replaceChildren(); rows.replaceChildren(); return; }
  const measure = $("preview-measure").value, points = previewPoints();
  const highest = Math.max(0, ...points.map((p) => p.value ?? 0)), most = highest || 1;
  const step = CHART.width / Math.max(points.length, 1), tall = CHART.height - CHART.top - CHART.bottom;
  const svg = (tag, attrs, children = []) => {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    node.append(...children);
    return node;
  };
  const bars = points.map((p, i) => {
    const h = ((p.value ?? 0) / most) * tall;
    const title = svg("title", {}, [`${p.period}: ${shown(p.value)}`]);
    return svg("rect", { class: "bar", x: i * step + step * 0.1, y: CHART.top + tall - h,
      width: step * 0.8, height: h, "data-period": p.period, "data-value": p.value ?? "" }, [title]);
  });
  const label = (x, anchor, text) => svg("text", { x, y: CHART.height - 6, "text-anchor": anchor }, [text]);
  const ends = points.length ? [label(0, "start", points[0].period),
    label(CHART.width, "end", points[points.length - 1].period)] : [];
  const top = svg("text", { x: 0, y: 11 }, [`${measure}: up to ${shown(highest)}`]);
  chart.setAttribute("aria-label", `Bar chart of ${measure} for ${points.length} periods; the table below lists the same numbers.`);
  chart.replaceChildren(top, ...bars, ...ends);
  $("preview-measure-head").textContent = measure;
  rows.replaceChildren(...points.map((p) => el("tr", { "data-period": p.period }, [
    el("th", { scope: "row", text: p.period }), el("td", { text: shown(p.value) })])));
}

function shown(value) { return value === null || value === undefined ? "–" : value.toLocaleString("en"); }

function wirePreview() {
  $("preview-measure").addEventListener("change", drawPreview);
  $("preview-series").addEventListener("change", drawPreview);
}

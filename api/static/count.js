// The live count of matching rows (POST …/count): asked a moment after the type, a filter
// or the timezone changes; an answer that arrives after a newer question is dropped.
// Uses api/base/selectedType/fieldErrors of reports.js, readFilters/readOptions of
// filters.js and previewLater of preview.js.
"use strict";

const COUNT_DELAY_MS = 400;
const counting = { timer: null, asked: 0 };

function countLater() {
  clearTimeout(counting.timer);
  counting.asked++; // an answer to an earlier question no longer holds
  const out = $("match-count");
  out.dataset.state = "counting"; // never a count of other filters on show
  out.textContent = "Counting matching rows…";
  counting.timer = setTimeout(countNow, COUNT_DELAY_MS);
  previewLater(); // a summary's chart follows the same choices
}

async function countNow() {
  const asked = ++counting.asked, out = $("match-count");
  const body = { type: selectedType().name, filters: readFilters(), timezone: $("timezone").value };
  Object.assign(body, readOptions());
  let text, stateName;
  try {
    const answer = await api(`${base()}/count`, { method: "POST", body: JSON.stringify(body) });
    [text, stateName] = [countText(answer), answer.exact ? "exact" : "bound"];
  } catch (error) {
    if (error.status === 401 || error.status === 403) return; // the view has changed
    text = error.status === 422 ? `No count yet: ${fieldErrors(error.body.detail)}`
      : "The number of matching rows is not available right now.";
    stateName = "error";
  }
  out.dataset.answers = String(Number(out.dataset.answers || 0) + 1); // shown or dropped
  if (asked !== counting.asked) return; // a newer question is on its way
  out.dataset.state = stateName;
  out.textContent = text;
}

function countText(answer) {
  if (answer.rows === null) return "The number of rows is known once the export runs.";
  const n = answer.rows.toLocaleString();
  const rows = answer.rows === 1 ? "row" : "rows";
  if (answer.exact) return `${n} matching ${rows}.`;
  return `At most ${n} ${rows} match: some filters are applied while the export runs.`;
}

// Schedules on the page: save the filter panel's request as a recurring export, and list
// the organisation's schedules (next run, last result, pause/resume, delete). Uses the
// helpers of reports.js ($, el, api, base, readFilters, selectedType, fieldErrors).
"use strict";

function scheduleBody() {
  const type = selectedType().name;
  const filters = readFilters();
  const span = $("schedule-dates").value;  // on the date filter "last month" means
  if (span) filters[selectedType().date_filter] = { from: `-1 ${span} start`, to: `-1 ${span} end` };
  const when = $("schedule-when").value;
  const body = {
    name: $("schedule-name").value.trim() || `${selectedType().label} export`,
    cron: when === "custom" ? $("schedule-cron").value.trim() : when,
    type, filters, timezone: $("timezone").value, format: $("file-format").value,
    ...readOptions(), ...readColumns(), ...readDialect(), ...readRelated(),
  };
  const purpose = $("purpose").value.trim();
  if (purpose) body.purpose = purpose;
  return body;
}

async function saveSchedule() {
  const message = $("schedule-message");
  message.className = "notice";
  if ($("file-password").value) {
    message.textContent = "A schedule cannot protect its files with a password: clear it first.";
    return;
  }
  $("save-schedule").disabled = true;
  try {
    const made = await api(`${base()}/schedules`, { method: "POST", body: JSON.stringify(scheduleBody()) });
    message.className = "notice info";
    message.textContent = `Schedule "${made.name}" saved. Next run: ${when(made.next_fire_at)}.`;
    await loadSchedules();
  } catch (error) {
    if (error.status === 422) message.textContent = fieldErrors(error.body.detail);
    else if (error.status !== 401 && error.status !== 403) message.textContent = error.message;
  } finally {
    $("save-schedule").disabled = false;
  }
}

function cadence(cron) {
  const preset = [...$("schedule-when").options].find((o) => o.value === cron);
  return preset ? preset.textContent : `cron ${cron}`;
}

function when(at) { return at ? new Date(at).toLocaleString() : "—"; }

function lastRun(firing) {
  if (!firing) return "Not yet";
  if (firing.outcome === "skipped") return `Skipped ${when(firing.due_at)}: ${firing.detail}`;
  return `Requested ${when(firing.due_at)}`;
}

async function loadSchedules() {
  const { items } = await api(`${base()}/schedules`);
  $("schedule-rows").replaceChildren(...items.map(scheduleRow));
  $("schedules-empty").hidden = items.length > 0;
}

function scheduleRow(schedule) {
  const path = `${base()}/schedules/${schedule.id}`;
  const act = async (method, suffix = "") => {
    await api(`${path}${suffix}`, { method });
    await loadSchedules();
  };
  const toggle = el("button", { type: "button", class: "secondary", text: schedule.paused ? "Resume" : "Pause" });
  toggle.addEventListener("click", () => act("POST", schedule.paused ? "/resume" : "/pause"));
  const remove = el("button", { type: "button", class: "secondary", text: "Delete" });
  remove.addEventListener("click", () => {
    if (confirm(`Delete the schedule "${schedule.name}"? Its exports stay.`)) act("DELETE");
  });
  const label = typeNamed(schedule.type).label;
  return el("tr", { "data-schedule-id": schedule.id, "data-paused": String(schedule.paused) }, [
    el("td", { text: schedule.name }),
    el("td", { text: `${label}, ${formatLabel(schedule.format)}` }),
    el("td", { text: `${cadence(schedule.cron)} (${schedule.timezone})`, title: schedule.cron }),
    el("td", { text: schedule.paused ? "Paused" : when(schedule.next_fire_at) }),
    el("td", { text: lastRun(schedule.last_firing) }),
    el("td", {}, [toggle, remove]),
  ]);
}

document.addEventListener("DOMContentLoaded", () => {
  $("schedule-when").addEventListener("change", () => {
    $("schedule-cron").hidden = $("schedule-when").value !== "custom";
  });
  $("save-schedule").addEventListener("click", saveSchedule);
  document.addEventListener("reports:signed-in", () => loadSchedules().catch(() => {}));
});

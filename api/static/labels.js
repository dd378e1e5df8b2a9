// Human words for the filter panel: labels, groups, units and value names. The API's field
// names stay the contract; this is only how the page says them.
"use strict";

const LABELS = {
  accounts: "Phone accounts", agent_transferred: "Transferred to an agent", agents: "Agents",
  archived: "Archived", assignees: "Assignees", autopilot: "Autopilot",
  bot_handled: "Handled by a bot", channel_types: "Channel types", channels: "Channels",
  chat_type: "Chat type", contact_custom_fields: "Contact fields", created: "Created",
  creators: "Created by", custom_fields: "Custom fields", date: "Call date",
  directions: "Direction", event_date: "Goal reached", goal_ids: "Goals", goals: "Goals",
  hangup_causes: "Hang-up cause", has_chat: "Has a chat", has_chats: "Has chats",
  has_contacts: "Has contacts", has_notes: "Has notes", has_open_tickets: "Has open tickets",
  has_recording: "Has a recording", has_tickets: "Has tickets", high_priority: "High priority",
  issues: "Issues", labels: "Labels", last_message: "Last message", priorities: "Priority",
  search: "Search", sender_types: "Sent by", senders: "Senders", sent: "Sent",
  session_closed: "Session closed", statuses: "Status", sub_issues: "Sub-issues",
  talk_duration: "Talk time", teams: "Teams", text: "Message text",
  total_duration: "Call length", trackers: "Trackers", unanswered: "Unanswered",
  workflow_states: "Workflow state", workflows: "Workflows",
};

const UNITS = { talk_duration: "seconds", total_duration: "seconds" };

const VALUE_NAMES = {
  whatsapp_official: "WhatsApp (official)", whatsapp_unofficial: "WhatsApp (unofficial)",
  email: "Email", web_chat: "Web chat", individual: "One-to-one", group: "Group",
  inbound: "Inbound", outbound: "Outbound", customer: "Customer", agent: "Agent", bot: "Bot",
  low: "Low", medium: "Medium", high: "High",
};

// Which group each kind of filter goes in, in the order the groups are shown.
const GROUPS = [
  ["dates", "Dates"], ["people", "People, teams and channels"], ["status", "Status"],
  ["flags", "Yes / no"], ["numbers", "Numbers"], ["text", "Search"], ["custom", "Custom fields"],
];
const PEOPLE = new Set(["accounts", "agents", "assignees", "channel_types", "channels",
  "creators", "senders", "teams", "sender_types"]);

function labelOf(name) {
  return LABELS[name] || name.charAt(0).toUpperCase() + name.slice(1).replace(/_/g, " ");
}

// An option's name as people read it: known enums by name, raw CONSTANT_NAMES in words.
function valueName(value) {
  const text = String(value);
  if (VALUE_NAMES[text]) return VALUE_NAMES[text];
  if (/^[A-Z0-9_]+$/.test(text) && text.includes("_")) {
    const words = text.toLowerCase().replace(/_/g, " ");
    return words.charAt(0).toUpperCase() + words.slice(1);
  }
  return text;
}

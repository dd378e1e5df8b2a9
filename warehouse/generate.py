"""Generate a CRM replica: hive-partitioned Parquet per table and a DuckDB catalog over it.

Deterministic for a seed: every random draw is `hash(key, salt, seed)`, so the same
arguments give the same rows whatever the thread count.

    python -m warehouse.generate --out .local/replica --orgs 8 --chats-per-org 25000 --seed 1
"""

from __future__ import annotations

import argparse
import logging
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

from warehouse import pools
from warehouse.catalog import build_catalog
from warehouse.tables import TABLES

log = logging.getLogger(__name__)

MACROS = """
-- The high half: DuckDB's combined hash keeps the low bits of `k`, so two salts would
-- otherwise draw the same low bits and every "independent" draw would be correlated.
CREATE MACRO h(k, salt) AS hash(k, salt, getvariable('seed')) >> 32;
CREATE MACRO u(k, salt) AS (h(k, salt) % 1000003)::DOUBLE / 1000003;
CREATE MACRO ri(k, salt, lo, hi) AS (lo + (h(k, salt) % ((hi) - (lo) + 1)::UBIGINT))::BIGINT;
CREATE MACRO pick(pool, k, salt) AS pool[1 + (h(k, salt) % len(pool))::BIGINT];
CREATE MACRO person(k, salt) AS
    pick(getvariable('first_names'), k, salt || 'f') || ' ' ||
    pick(getvariable('last_names'), k, salt || 'l');
CREATE MACRO ts(epoch_s) AS make_timestamptz((epoch_s)::BIGINT * 1000000);
"""

# One row per organisation with its size and the first id of each id range it owns.
# Sizes follow 1/(rank+1): a few large organisations and a long tail of small ones.
ORG_PLAN = """
CREATE TABLE org_plan AS
WITH sized AS (
    SELECT i AS org_index,
           printf('org_%03d', i + 1) AS org_id,
           greatest(20, round(getvariable('total_chats') / (i + 1)
                              / getvariable('harmonic')))::BIGINT AS n_chats
    FROM range(getvariable('orgs')) t(i)
)
SELECT *,
       greatest(4, least(150, n_chats // 4000 + ri(org_index, 'members', 4, 12))) AS n_members,
       ri(org_index, 'teams', 2, 6) AS n_teams,
       ri(org_index, 'channels', 2, 6) AS n_channels,
       ri(org_index, 'labels', 5, 15) AS n_labels,
       ri(org_index, 'templates', 1, 3) AS n_templates,
       ri(org_index, 'journeys', 1, 4) AS n_journeys,
       ri(org_index, 'accounts', 1, 2) AS n_accounts,
       (n_chats * 7) // 10 + 1 AS n_contacts,
       (n_chats * 3) // 10 + 1 AS n_calls,
       org_index * 1000 AS dim_base,
       (1 + sum(n_chats) OVER w - n_chats)::BIGINT AS chat_base,
       (1 + sum(n_chats * 7 // 10 + 1) OVER w - (n_chats * 7 // 10 + 1))::BIGINT AS contact_base,
       (1 + sum(n_chats * 3 // 10 + 1) OVER w - (n_chats * 3 // 10 + 1))::BIGINT AS call_base
FROM sized
WINDOW w AS (ORDER BY org_index ROWS UNBOUNDED PRECEDING);
"""

DIMENSIONS = """
CREATE TABLE organisations AS
SELECT org_id, pick(getvariable('org_names'), org_index, 'on') || ' #' || (org_index + 1) AS name,
       pick(getvariable('timezones'), org_index, 'tz') AS timezone,
       ts(1672531200 + ri(org_index, 'oc', 0, 31536000)) AS created_at
FROM org_plan;

CREATE TABLE team_members AS
SELECT org_id, dim_base + k AS member_id, person(dim_base + k, 'm') AS name,
       CASE WHEN k = 7 THEN NULL
            ELSE lower(regexp_replace(pick(getvariable('first_names'), dim_base + k, 'mf'),
                                      '[^A-Za-z]', '', 'g'))
                 || (dim_base + k) || '@' || org_id || '.example.com' END AS email,
       CASE WHEN k = 0 THEN 'owner' WHEN k < 3 THEN 'admin' ELSE 'user' END AS role
FROM (SELECT *, unnest(range(n_members)) AS k FROM org_plan);

CREATE TABLE teams AS
SELECT org_id, dim_base + k AS team_id, getvariable('team_names')[k + 1] AS name
FROM (SELECT *, unnest(range(n_teams)) AS k FROM org_plan);

CREATE TABLE team_memberships AS
SELECT DISTINCT t.org_id, t.team_id, m.member_id
FROM teams t JOIN team_members m USING (org_id)
WHERE u(t.team_id * 100000 + m.member_id, 'tm') < 0.4;

CREATE TABLE channels AS
SELECT org_id, dim_base + k AS channel_id, getvariable('channel_names')[k + 1] AS name,
       getvariable('channel_types')[(k % 4) + 1] AS type
FROM (SELECT *, unnest(range(n_channels)) AS k FROM org_plan);

CREATE TABLE workflows AS
SELECT org_id, channel_id AS workflow_id, channel_id, name || ' workflow' AS name FROM channels;

CREATE TABLE ticket_issues AS
SELECT org_id, workflow_id * 100 + i AS issue_id, workflow_id, NULL::BIGINT AS parent_issue_id,
       getvariable('issues')[i + 1] AS name
FROM (SELECT *, unnest(range(5)) AS i FROM workflows)
UNION ALL
SELECT org_id, workflow_id * 100 + 10 + i * 2 + s AS issue_id, workflow_id,
       workflow_id * 100 + i AS parent_issue_id,
       getvariable('sub_issues')[i * 2 + s + 1] AS name
FROM (SELECT *, unnest(range(5)) AS i FROM workflows), range(2) t(s);

CREATE TABLE ticket_statuses AS
SELECT org_id, workflow_id * 10 + s AS status_id, workflow_id,
       getvariable('ticket_statuses')[s + 1] AS name, s >= 3 AS is_closed
FROM workflows, range(5) t(s);

CREATE TABLE labels AS
SELECT org_id, dim_base + k AS label_id, getvariable('label_names')[k + 1] AS name
FROM (SELECT *, unnest(range(n_labels)) AS k FROM org_plan);

CREATE TABLE contact_templates AS
SELECT org_id, dim_base + k AS template_id, getvariable('template_names')[k + 1] AS name,
       k < 2 AS active
FROM (SELECT *, unnest(range(n_templates)) AS k FROM org_plan);

-- Each template takes its own subset of the field pool, so organisations differ.
CREATE TABLE custom_fields AS
-- The colliding fields are always in each organisation's first (active) template.
SELECT t.org_id, t.template_id * 100 + f.i AS field_id, t.template_id, f.key, f.label, f.type,
       u(t.template_id * 100 + f.i, 'cfa') < 0.9 OR f.colliding AS active
FROM contact_templates t, (SELECT unnest(getvariable('field_keys')) AS key,
                                  unnest(getvariable('field_labels')) AS label,
                                  unnest(getvariable('field_types')) AS type,
                                  generate_subscripts(getvariable('field_keys'), 1) AS i,
                                  list_contains(getvariable('colliding_fields'), key)
                                      AS colliding) f
WHERE u(t.template_id * 100 + f.i, 'cf') < 0.45 OR (f.colliding AND t.template_id % 1000 = 0);

CREATE TABLE telephony_accounts AS
SELECT org_id, dim_base + k AS account_id, 'Line ' || (k + 1) AS name,
       pick(getvariable('providers'), dim_base + k, 'prov') AS provider
FROM (SELECT *, unnest(range(n_accounts)) AS k FROM org_plan);

CREATE TABLE bot_journeys AS
SELECT org_id, dim_base + k AS journey_id, getvariable('journey_names')[k + 1] AS name
FROM (SELECT *, unnest(range(n_journeys)) AS k FROM org_plan);

CREATE TABLE goals AS
SELECT org_id, journey_id * 10 + g AS goal_id, journey_id,
       -- consecutive names from a per-journey offset: distinct within a journey
       getvariable('goal_names')[1 + ((h(journey_id, 'gn') + g)
                                      % len(getvariable('goal_names')))::BIGINT] AS name
FROM bot_journeys, range(6) t(g);
"""

# Chats are numbered in creation order inside each organisation, so chat ids and
# created_at sort alike; messages follow from the chat's own clock.
CHATS = """
CREATE TABLE chat_plan AS
SELECT p.org_id, p.org_index, p.dim_base, p.n_members, p.n_teams, p.n_labels, p.n_channels,
       p.n_journeys, p.contact_base, p.n_contacts, p.chat_base + k AS chat_id,
       getvariable('start_s') + (k * getvariable('span_s')) // p.n_chats
           + ri(p.chat_base + k, 'jit', 0, greatest(0, getvariable('span_s') // p.n_chats - 1))
           AS created_s,
       ri(p.chat_base + k, 'nmsg', 1, 11) AS n_messages
FROM (SELECT *, unnest(range(n_chats)) AS k FROM org_plan) p;

CREATE TABLE messages AS
WITH said AS (
    SELECT org_id, chat_id * 16 + i AS message_id, chat_id, dim_base, n_members,
           CASE WHEN i = 0 THEN 'user'
                WHEN u(chat_id * 16 + i, 'snd') < 0.45 THEN 'user'
                WHEN u(chat_id * 16 + i, 'snd') < 0.85 THEN 'agent' ELSE 'bot' END AS sender,
           ts(created_s + i * 900 + ri(chat_id * 16 + i, 'gap', 0, 899)) AS sent_at
    FROM (SELECT *, unnest(range(n_messages)) AS i FROM chat_plan))
SELECT org_id, message_id, chat_id, sender, sent_at,
       CASE WHEN sender = 'agent'
            THEN dim_base + ri(message_id, 'mbr', 0, n_members - 1) END AS member_id,
       CASE WHEN u(message_id, 'txl') < 0.003  -- a very long one (~4,000 characters)
                THEN repeat(pick(getvariable('customer_messages'), message_id, 'tl') || ' ', 100)
            WHEN u(message_id, 'txe') < 0.02 THEN ''  -- an empty one (an image, a sticker)
            WHEN u(message_id, 'txh') < 0.06 THEN pick(getvariable('hostile'), message_id, 'th')
            WHEN sender = 'user' THEN pick(getvariable('customer_messages'), message_id, 'tc')
            WHEN sender = 'agent' THEN pick(getvariable('agent_messages'), message_id, 'ta')
            ELSE pick(getvariable('bot_messages'), message_id, 'tb') END AS text
FROM said;

CREATE TABLE chats AS
WITH last_msg AS (
    SELECT chat_id, max(sent_at) AS last_message_at, arg_max(sender, sent_at) AS last_sender
    FROM messages GROUP BY chat_id
)
SELECT c.org_id, c.chat_id,
       CASE WHEN u(c.chat_id, 'nm') < 0.15 THEN pick(getvariable('hostile'), c.chat_id, 'nh')
            ELSE pick(getvariable('topics'), c.chat_id, 'nt') END AS name,
       CASE WHEN u(c.chat_id, 'grp') < 0.1 THEN 'group' ELSE 'individual' END AS chat_type,
       c.dim_base + ri(c.chat_id, 'ch', 0, c.n_channels - 1) AS channel_id,
       ts(c.created_s) AS created_at, l.last_message_at,
       u(c.chat_id, 'arch') < 0.3 AS archived,
       u(c.chat_id, 'hp') < 0.1 AS high_priority,
       u(c.chat_id, 'auto') < 0.2 AS autopilot,
       u(c.chat_id, 'bot') < 0.4 AS bot_handled,
       u(c.chat_id, 'bot') < 0.2 AS agent_transferred,
       l.last_sender = 'user' AS unanswered,
       u(c.chat_id, 'sc') < 0.5 AS session_closed,
       pick(getvariable('workflow_states'), c.chat_id, 'ws') AS workflow_state
FROM chat_plan c JOIN last_msg l USING (chat_id);

CREATE TABLE chat_contacts AS
SELECT DISTINCT ON (chat_id, contact_id) org_id, chat_id, contact_id, j = 0 AS is_primary
FROM (
    SELECT org_id, chat_id, j,
           contact_base + (ri(chat_id, 'cc', 0, n_contacts - 1) + j * 7919) % n_contacts
               AS contact_id
    FROM (SELECT *, unnest(range(CASE WHEN u(chat_id, 'grp') < 0.1 THEN 3 ELSE 1 END)) AS j
          FROM chat_plan)
    WHERE u(chat_id, 'noc') >= 0.04
)
ORDER BY chat_id, contact_id, j;

CREATE TABLE chat_assignees AS
SELECT org_id, chat_id, dim_base + (ri(chat_id, 'as', 0, n_members - 1) + j) % n_members
           AS member_id, j = 0 AS is_primary
FROM (SELECT *, unnest(range(least(ri(chat_id, 'nas', 0, 3), n_members))) AS j FROM chat_plan);

CREATE TABLE chat_teams AS
SELECT org_id, chat_id, dim_base + (ri(chat_id, 'tm', 0, n_teams - 1) + j) % n_teams AS team_id
FROM (SELECT *, unnest(range(least(ri(chat_id, 'ntm', 0, 2), n_teams))) AS j FROM chat_plan);

CREATE TABLE chat_labels AS
SELECT org_id, chat_id, dim_base + (ri(chat_id, 'lb', 0, n_labels - 1) + j) % n_labels
           AS label_id
FROM (SELECT *, unnest(range(least(ri(chat_id, 'nlb', 0, 3), n_labels))) AS j FROM chat_plan);

CREATE TABLE chat_external_items AS
SELECT org_id, chat_id, pick(['JIRA', 'ZENDESK', 'SHOPIFY'], chat_id * 4 + j, 'ext') || '-'
           || ri(chat_id * 4 + j, 'exn', 100, 99999) AS item_ref
FROM (SELECT *, unnest(range(CASE WHEN u(chat_id, 'ex') < 0.1 THEN 2 ELSE 0 END)) AS j
      FROM chat_plan);

CREATE TABLE notes AS
SELECT org_id, chat_id * 8 + j AS note_id, chat_id,
       dim_base + ri(chat_id * 8 + j, 'na', 0, n_members - 1) AS author_id,
       pick(getvariable('note_bodies'), chat_id * 8 + j, 'nb') AS body,
       ts(created_s + 600 + j * 3600 + ri(chat_id * 8 + j, 'nt', 0, 3599)) AS created_at
FROM (SELECT *, unnest(range(CASE WHEN u(chat_id, 'hn') < 0.5 THEN ri(chat_id, 'nn', 1, 7)
                                  ELSE 0 END)) AS j
      FROM chat_plan);
"""

CONTACTS = """
CREATE TABLE contacts AS
WITH plan AS (
    SELECT p.*, contact_base + k AS contact_id, k FROM
        (SELECT *, unnest(range(n_contacts)) AS k FROM org_plan) p
)
SELECT p.org_id, p.contact_id,
       CASE WHEN u(p.contact_id, 'cn0') < 0.02 THEN NULL
            WHEN u(p.contact_id, 'cn0') < 0.08 THEN pick(getvariable('hostile'), p.contact_id, 'ch')
            ELSE person(p.contact_id, 'c') END AS name,
       CASE WHEN u(p.contact_id, 'ph') < 0.05 THEN NULL
            ELSE '+' || pick(['91', '1', '44', '55', '49'], p.contact_id, 'cc') || ' '
                 || (9000000000 + p.contact_id * 7 % 999999999)::VARCHAR END AS phone,
       CASE WHEN u(p.contact_id, 'em') < 0.3 THEN NULL
            ELSE 'contact' || p.contact_id || '@mail.example.org' END AS email,
       p.dim_base + ri(p.contact_id, 'ch', 0, p.n_channels - 1) AS channel_id,
       p.dim_base + ri(p.contact_id, 'tpl', 0, p.n_templates - 1) AS template_id,
       CASE WHEN u(p.contact_id, 'cb') < 0.2 THEN NULL
            ELSE p.dim_base + ri(p.contact_id, 'cb', 0, p.n_members - 1) END AS created_by,
       -- Contacts start a year (366 days) before the chats, over ~694 days.
       ts(getvariable('start_s') - 31622400 + (p.k * 60000000) // p.n_contacts) AS created_at,
       ts(getvariable('start_s') - 31622400 + (p.k * 60000000) // p.n_contacts
          + ri(p.contact_id, 'upd', 0, 5000000)) AS updated_at
FROM plan p;

CREATE TABLE contact_field_values AS
SELECT c.org_id, c.contact_id, f.key AS field_key,
       CASE f.type
           WHEN 'number' THEN ri(c.contact_id * 31 + f.field_id, 'fv', 0, 50000)::VARCHAR
           WHEN 'date' THEN strftime(DATE '1960-01-01'
                                     + ri(c.contact_id, 'bd', 0, 16000)::INTEGER, '%Y-%m-%d')
           WHEN 'boolean' THEN CASE WHEN u(c.contact_id, 'nl') < 0.5 THEN 'true' ELSE 'false' END
           ELSE CASE f.key
               WHEN 'city' THEN pick(getvariable('cities'), c.contact_id, 'city')
               WHEN 'plan' THEN pick(getvariable('plans'), c.contact_id, 'plan')
               ELSE pick(getvariable('hostile'), c.contact_id * 31 + f.field_id, 'fh') END
       END AS value
FROM contacts c JOIN custom_fields f USING (org_id, template_id)
WHERE u(c.contact_id * 31 + f.field_id, 'has') < 0.8;
"""

TICKETS_AND_CALLS = """
CREATE TABLE tickets AS
WITH plan AS (
    SELECT c.*, cp.created_s, cp.n_members, cp.dim_base, cc.contact_id,
           c.chat_id * 4 + j AS ticket_id
    FROM (SELECT *, unnest(range(CASE WHEN u(chat_id, 'tk') < 0.3 THEN ri(chat_id, 'ntk', 1, 2)
                                      ELSE 0 END)) AS j FROM chats) c
    JOIN chat_plan cp USING (chat_id)
    LEFT JOIN chat_contacts cc ON cc.chat_id = c.chat_id AND cc.is_primary
)
SELECT p.org_id, p.ticket_id, p.chat_id, p.contact_id, i.issue_id,
       CASE WHEN u(p.ticket_id, 'hsi') < 0.8 THEN i.issue_id * 0 + p.channel_id * 100 + 10
            + (i.issue_id % 100) * 2 + ri(p.ticket_id, 'si', 0, 1) END AS sub_issue_id,
       pick(getvariable('priorities'), p.ticket_id, 'pr') AS priority,
       p.channel_id * 10 + ri(p.ticket_id, 'st', 0, 4) AS status_id,
       pick(getvariable('remarks'), p.ticket_id, 'rm') AS remarks,
       CASE WHEN u(p.ticket_id, 'una') < 0.25 THEN NULL
            ELSE p.dim_base + ri(p.ticket_id, 'asg', 0, p.n_members - 1) END AS assignee_id,
       p.dim_base + ri(p.ticket_id, 'crt', 0, p.n_members - 1) AS creator_id,
       p.channel_id AS workflow_id, p.channel_id,
       ri(p.ticket_id, 'media', 0, 4) * (u(p.ticket_id, 'hm') < 0.3)::INTEGER AS media_count,
       ts(p.created_s + 1800 + p.j * 7200) AS created_at,
       ts(p.created_s + 1800 + p.j * 7200 + ri(p.ticket_id, 'tu', 0, 864000)) AS updated_at
FROM plan p
JOIN ticket_issues i ON i.workflow_id = p.channel_id AND i.parent_issue_id IS NULL
                    AND i.issue_id % 100 = ri(p.ticket_id, 'iss', 0, 4);

CREATE TABLE call_logs AS
WITH plan AS (
    SELECT p.*, call_base + k AS call_id, k,
           getvariable('start_s') + (k * getvariable('span_s')) // n_calls
           + ri(call_base + k, 'cj', 0, 3000) AS start_s
    FROM (SELECT *, unnest(range(n_calls)) AS k FROM org_plan) p
), shaped AS (
    SELECT *, CASE WHEN u(call_id, 'dir') < 0.6 THEN 'inbound' ELSE 'outbound' END AS direction,
           pick(getvariable('call_statuses'), call_id, 'cs') AS status,
           ri(call_id, 'ring', 0, 45) AS ring_s,
           contact_base + ri(call_id, 'cct', 0, n_contacts - 1) AS contact_id
    FROM plan
), timed AS (
    SELECT *, CASE WHEN status = 'answered' THEN ri(call_id, 'talk', 5, 5400) ELSE 0 END AS talk_s
    FROM shaped
)
SELECT t.org_id, t.call_id, t.direction, t.status,
       CASE WHEN t.direction = 'inbound' THEN c.phone ELSE '+91 22 4000 ' || (t.call_id % 10000) END
           AS caller_number,
       CASE WHEN t.direction = 'inbound' THEN '+91 22 4000 ' || (t.call_id % 10000) ELSE c.phone END
           AS called_number,
       CASE WHEN u(t.call_id, 'cid') < 0.7 THEN 'CID-' || (t.call_id % 100000) END AS caller_id,
       CASE WHEN u(t.call_id, 'ag') < 0.1 THEN NULL
            ELSE t.dim_base + ri(t.call_id, 'ag', 0, t.n_members - 1) END AS agent_id,
       t.contact_id,
       CASE WHEN u(t.call_id, 'hc') < 0.5
            THEN t.chat_base + ri(t.call_id, 'cch', 0, t.n_chats - 1) END AS chat_id,
       t.dim_base + ri(t.call_id, 'acc', 0, t.n_accounts - 1) AS account_id,
       t.ring_s AS ring_seconds, t.talk_s AS talk_seconds, t.ring_s + t.talk_s AS total_seconds,
       pick(getvariable('hangup_causes'), t.call_id, 'hg') AS hangup_cause,
       CASE WHEN t.talk_s > 0 AND u(t.call_id, 'rec') < 0.7
            THEN 'https://recordings.example.com/' || t.call_id || '.mp3' END AS recording_url,
       ts(t.start_s) AS started_at,
       CASE WHEN t.talk_s > 0 THEN ts(t.start_s + t.ring_s) END AS answered_at,
       ts(t.start_s + t.ring_s + t.talk_s) AS ended_at
FROM timed t JOIN contacts c USING (contact_id);
"""

# Bot-handled chats run 1-3 sessions; each session's goal events sit at positions 1..n.
BOT = """
CREATE TABLE bot_sessions AS
SELECT c.org_id, c.chat_id * 4 + s AS session_id, c.chat_id,
       p.dim_base + ri(c.chat_id * 4 + s, 'jr', 0, p.n_journeys - 1) AS journey_id,
       c.created_at + to_seconds(60 + s * 3600) AS started_at,
       pick(['completed', 'abandoned', 'active', 'handed_off'], c.chat_id * 4 + s, 'ss') AS status
FROM (SELECT *, unnest(range(CASE WHEN bot_handled THEN ri(chat_id, 'nss', 1, 3) ELSE 0 END))
          AS s FROM chats) c
JOIN chat_plan p USING (chat_id);

CREATE TABLE goal_events AS
SELECT s.org_id, s.session_id * 8 + e AS event_id, s.session_id, s.chat_id, e + 1 AS position,
       s.journey_id * 10 + ri(s.session_id * 8 + e, 'gl', 0, 5) AS goal_id,
       pick(getvariable('milestones'), s.session_id * 8 + e, 'ms') AS milestone,
       s.started_at + to_seconds(30 + e * 120) AS recorded_at
FROM (SELECT *, unnest(range(ri(session_id, 'nev', 0, 6))) AS e FROM bot_sessions) s;

CREATE TABLE tracker_values AS
SELECT DISTINCT ON (event_id, tracker_name) org_id, event_id, session_id, chat_id,
       pick(getvariable('trackers'), (goal_id % 10) * 10 + t + position, 'tn') AS tracker_name,
       pick(getvariable('tracker_values'), event_id * 4 + t, 'tv') AS value
FROM (SELECT *, unnest(range(ri(event_id, 'ntr', 0, 3))) AS t FROM goal_events)
ORDER BY event_id, tracker_name, t;
"""

VARIABLES: dict[str, list[str]] = {
    "first_names": pools.FIRST_NAMES,
    "last_names": pools.LAST_NAMES,
    "hostile": pools.HOSTILE_TEXT,
    "topics": pools.CHAT_TOPICS,
    "note_bodies": pools.NOTE_BODIES,
    "remarks": pools.REMARKS,
    "workflow_states": pools.WORKFLOW_STATES,
    "channel_types": pools.CHANNEL_TYPES,
    "channel_names": pools.CHANNEL_NAMES,
    "team_names": pools.TEAM_NAMES,
    "label_names": pools.LABEL_NAMES,
    "issues": pools.ISSUES,
    "sub_issues": pools.SUB_ISSUES,
    "ticket_statuses": pools.TICKET_STATUSES,
    "priorities": pools.PRIORITIES,
    "field_keys": [f[0] for f in pools.CUSTOM_FIELDS],
    "field_labels": [f[1] for f in pools.CUSTOM_FIELDS],
    "field_types": [f[2] for f in pools.CUSTOM_FIELDS],
    "colliding_fields": pools.COLLIDING_FIELDS,
    "customer_messages": pools.CUSTOMER_MESSAGES,
    "agent_messages": pools.AGENT_MESSAGES,
    "bot_messages": pools.BOT_MESSAGES,
    "cities": pools.CITIES,
    "plans": pools.PLANS,
    "template_names": pools.TEMPLATE_NAMES,
    "journey_names": pools.JOURNEY_NAMES,
    "goal_names": pools.GOAL_NAMES,
    "milestones": pools.MILESTONES,
    "trackers": pools.TRACKERS,
    "tracker_values": pools.TRACKER_VALUES,
    "hangup_causes": pools.HANGUP_CAUSES,
    "resolution_labels": pools.RESOLUTION_LABELS,
    "rating_comments": pools.RATING_COMMENTS,
    "holidays": pools.HOLIDAYS,
    "call_statuses": pools.CALL_STATUSES,
    "providers": pools.PROVIDERS,
    "timezones": pools.TIMEZONES,
    "org_names": pools.ORG_NAMES,
}


# What the conversation metrics are made of (docs/metrics.md): each chat's events (created,
# assigned, resolved at a message's time, reopened at the next message's time), ratings
# after resolutions, business hours and holidays, and team members' status changes.
CONVERSATIONS = """
CREATE TABLE resolution_labels AS
SELECT org_id, dim_base + k AS resolution_label_id,
       split_part(getvariable('resolution_labels')[k + 1], '|', 1) AS category,
       split_part(getvariable('resolution_labels')[k + 1], '|', 2) AS sub_category
FROM (SELECT *, unnest(range(len(getvariable('resolution_labels')))) AS k FROM org_plan);

CREATE TABLE chat_shape AS
SELECT c.org_id, c.chat_id, p.dim_base, p.created_s, p.n_messages, c.session_closed,
       epoch(c.last_message_at)::BIGINT AS last_s,
       -- a reopened chat: resolved at its message k, reopened at message k + 1
       CASE WHEN p.n_messages >= 4 AND u(c.chat_id, 'ro') < 0.12
            THEN ri(c.chat_id, 'rk', 1, p.n_messages - 3) END AS k,
       a.member_id AS assignee_id
FROM chats c JOIN chat_plan p USING (chat_id)
LEFT JOIN chat_assignees a ON a.chat_id = c.chat_id AND a.is_primary;

CREATE TABLE resolutions AS
WITH said AS NOT MATERIALIZED (
    SELECT chat_id, message_id % 16 AS i, epoch(sent_at)::BIGINT AS sent_s, sender, member_id
    FROM messages)
SELECT s.org_id, s.chat_id, s.dim_base, s.assignee_id, m.sent_s AS resolved_s,
       n.sent_s AS reopen_s, n.sender AS reopen_sender, n.member_id AS reopen_member
FROM chat_shape s
JOIN said m ON m.chat_id = s.chat_id AND m.i = s.k
JOIN said n ON n.chat_id = s.chat_id AND n.i = s.k + 1
UNION ALL
SELECT org_id, chat_id, dim_base, assignee_id, last_s, NULL, NULL, NULL
FROM chat_shape WHERE session_closed;

CREATE TABLE ratings AS
SELECT org_id, chat_id * 4 + row_number() OVER (PARTITION BY chat_id ORDER BY resolved_s)
           AS rating_id,
       chat_id,
       ts(CASE WHEN reopen_s IS NULL THEN resolved_s + ri(chat_id * 7 + resolved_s, 'rat', 60, 7200)
               ELSE resolved_s + (reopen_s - resolved_s) // 2 END) AS rated_at,
       pick([5, 5, 5, 4, 4, 3, 2, 1], chat_id * 7 + resolved_s, 'rs') AS score,
       CASE WHEN u(chat_id * 7 + resolved_s, 'rcm') < 0.5
            THEN pick(getvariable('rating_comments'), chat_id * 7 + resolved_s, 'rc')
       END AS comment,
       u(chat_id * 7 + resolved_s, 'rir') < 0.8 AS issue_resolved
FROM resolutions WHERE u(chat_id * 7 + resolved_s, 'rtd') < 0.3;

-- A transferred chat had another agent first.
CREATE TABLE transfers AS
SELECT s.org_id, s.chat_id, s.created_s, s.last_s,
       s.dim_base + (s.assignee_id - s.dim_base + p.n_members - 1) % p.n_members AS member_id
FROM chat_shape s JOIN chats c USING (chat_id) JOIN chat_plan p USING (chat_id)
WHERE c.agent_transferred AND s.assignee_id IS NOT NULL;

CREATE TABLE chat_event_rows AS
SELECT org_id, chat_id, created_s AS at_s, 0 AS rank, 'created' AS event_type,
       'customer' AS actor_type, NULL::BIGINT AS member_id, NULL::BIGINT AS team_id,
       NULL::BIGINT AS resolution_label_id, NULL AS reopen_cause
FROM chat_shape
UNION ALL
SELECT org_id, chat_id, created_s + (last_s - created_s) // 20, 1, 'agent_assigned', 'system',
       member_id, NULL, NULL, NULL
FROM transfers
UNION ALL
SELECT org_id, chat_id, created_s + (last_s - created_s) // 12, 2, 'unassigned', 'agent',
       member_id, NULL, NULL, NULL
FROM transfers
UNION ALL
SELECT s.org_id, s.chat_id,
       s.created_s + (s.last_s - s.created_s) * (1 + row_number() OVER w) // 10, 3,
       'agent_assigned', 'system', a.member_id, NULL, NULL, NULL
FROM chat_shape s JOIN chat_assignees a USING (chat_id)
WINDOW w AS (PARTITION BY a.chat_id ORDER BY NOT a.is_primary, a.member_id)
UNION ALL
SELECT s.org_id, s.chat_id, s.created_s + (s.last_s - s.created_s) // 11, 4, 'team_assigned',
       'system', NULL, t.team_id, NULL, NULL
FROM chat_shape s JOIN chat_teams t USING (chat_id)
UNION ALL
SELECT org_id, chat_id, resolved_s, 5, 'resolved',
       CASE WHEN assignee_id IS NULL THEN 'bot' ELSE 'agent' END, assignee_id, NULL,
       CASE WHEN u(chat_id * 7 + resolved_s, 'rl') < 0.7
            THEN dim_base + ri(chat_id * 7 + resolved_s, 'rli', 0,
                               len(getvariable('resolution_labels')) - 1) END,
       NULL
FROM resolutions
UNION ALL
SELECT r.org_id, r.chat_id, r.reopen_s, 6, 'reopened',
       CASE WHEN x.score <= 2 THEN 'system' WHEN r.reopen_sender = 'user' THEN 'customer'
            ELSE r.reopen_sender END,
       r.reopen_member, NULL, NULL,
       CASE WHEN x.score <= 2 THEN 'customer_dissatisfaction'
            WHEN r.reopen_sender = 'user' THEN 'user_message'
            WHEN r.reopen_sender = 'agent' THEN 'agent_reopen' ELSE 'bot' END
FROM resolutions r
LEFT JOIN ratings x
       ON x.chat_id = r.chat_id AND epoch(x.rated_at) BETWEEN r.resolved_s AND r.reopen_s
WHERE r.reopen_s IS NOT NULL;

CREATE TABLE chat_events AS
SELECT org_id, chat_id * 64 + row_number() OVER (PARTITION BY chat_id ORDER BY at_s, rank,
                                                  member_id, team_id) AS event_id,
       chat_id, ts(at_s) AS occurred_at, event_type, actor_type, member_id, team_id,
       resolution_label_id, reopen_cause
FROM chat_event_rows;

-- Each organisation's week: 0 office hours with a lunch break, 1 always open (no rows),
-- 2 every day 08-20, 3 a night desk crossing midnight and a Saturday morning.
CREATE TABLE business_hours AS
SELECT org_id, weekday, opens::TIME AS opens, closes::TIME AS closes
FROM org_plan, (VALUES
    (0, 1, '09:00', '12:30'), (0, 1, '13:30', '18:00'), (0, 2, '09:00', '12:30'),
    (0, 2, '13:30', '18:00'), (0, 3, '09:00', '12:30'), (0, 3, '13:30', '18:00'),
    (0, 4, '09:00', '12:30'), (0, 4, '13:30', '18:00'), (0, 5, '09:00', '12:30'),
    (0, 5, '13:30', '18:00'),
    (2, 1, '08:00', '20:00'), (2, 2, '08:00', '20:00'), (2, 3, '08:00', '20:00'),
    (2, 4, '08:00', '20:00'), (2, 5, '08:00', '20:00'), (2, 6, '08:00', '20:00'),
    (2, 7, '08:00', '20:00'),
    (3, 1, '20:00', '04:00'), (3, 2, '20:00', '04:00'), (3, 3, '20:00', '04:00'),
    (3, 4, '20:00', '04:00'), (3, 5, '20:00', '04:00'), (3, 6, '10:00', '14:00')
) w(shape, weekday, opens, closes)
WHERE w.shape = org_index % 4;

CREATE TABLE holidays AS
SELECT DISTINCT org_id, day, 'Holiday' AS name
FROM (
    SELECT org_id, strptime(y || '-' || md, '%Y-%m-%d')::DATE AS day, org_index
    FROM org_plan,
         range(year(ts(getvariable('start_s'))), year(ts(getvariable('start_s')
                                                   + getvariable('span_s'))) + 2) t(y),
         (SELECT unnest(getvariable('holidays')) AS md)
    WHERE u(org_index * 10000 + y * 10 + hash(md) % 7, 'hol') < 0.8
)
WHERE org_index % 4 <> 1;

-- A member's working day: online, away for a break, online again, offline.
CREATE TABLE member_status AS
WITH days AS (
    SELECT m.org_id, m.member_id, d,
           getvariable('start_s') + d * 86400 + ri(m.member_id * 1000 + d, 'on', 25200, 36000)
               AS on_s
    FROM team_members m, range(getvariable('span_s') // 86400 + 1) t(d)
    WHERE u(m.member_id * 1000 + d, 'wd') < 0.7
), steps AS (
    SELECT org_id, member_id, d, on_s AS at_s, 0 AS step, 'online' AS status FROM days
    UNION ALL SELECT org_id, member_id, d,
                     on_s + ri(member_id * 1000 + d, 'aw', 7200, 14400), 1, 'away' FROM days
    UNION ALL SELECT org_id, member_id, d,
                     on_s + 14400 + ri(member_id * 1000 + d, 'bk', 1800, 3600), 2, 'online'
              FROM days
    UNION ALL SELECT org_id, member_id, d,
                     on_s + 28800 + ri(member_id * 1000 + d, 'of', 0, 7200),
                     3, 'offline' FROM days
)
SELECT org_id, member_id * 10000 + d * 4 + step AS status_change_id, member_id,
       ts(at_s) AS changed_at, status
FROM steps;
"""


# How far back the data goes from its end date (the first replicas spanned this too).
SPAN = timedelta(days=600)


@dataclass(frozen=True)
class ReplicaSpec:
    orgs: int = 4
    chats_per_org: int = 2_000
    seed: int = 1
    # Chats and calls start on the SPAN days before this date (UTC); None: today.
    end: date | None = None

    def window(self) -> tuple[int, int]:
        """(first second, length in seconds) of the span chats and calls start in."""
        end = self.end or datetime.now(UTC).date()
        start = datetime(end.year, end.month, end.day, tzinfo=UTC) - SPAN
        return int(start.timestamp()), int(SPAN.total_seconds())


def generate(out: Path, spec: ReplicaSpec, *, memory_limit: str = "6GB") -> dict[str, int]:
    """Write every table of a replica under `out` and return the row count of each."""
    work = out.with_name(out.name + ".tmp")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    con = duckdb.connect(config={"memory_limit": memory_limit, "preserve_insertion_order": False})
    _set_variables(con, spec)
    started = time.monotonic()
    for script in (
        MACROS,
        ORG_PLAN,
        DIMENSIONS,
        CHATS,
        CONTACTS,
        TICKETS_AND_CALLS,
        BOT,
        CONVERSATIONS,
    ):
        con.execute(script)
    counts: dict[str, int] = {}
    for table, order in TABLES.items():
        counts[table] = _write_table(con, work, table, order)
    con.close()
    shutil.rmtree(out, ignore_errors=True)
    work.rename(out)
    build_catalog(out)
    log.info("replica written to %s in %.1fs", out, time.monotonic() - started)
    return counts


def _set_variables(con: duckdb.DuckDBPyConnection, spec: ReplicaSpec) -> None:
    harmonic = sum(1.0 / (i + 1) for i in range(spec.orgs))
    con.execute("SET VARIABLE seed = ?", [spec.seed])
    con.execute("SET VARIABLE orgs = ?", [spec.orgs])
    con.execute("SET VARIABLE total_chats = ?", [spec.orgs * spec.chats_per_org])
    con.execute("SET VARIABLE harmonic = ?", [harmonic])
    start_s, span_s = spec.window()
    con.execute("SET VARIABLE start_s = ?::BIGINT", [start_s])
    con.execute("SET VARIABLE span_s = ?::BIGINT", [span_s])
    for name, values in VARIABLES.items():
        con.execute(f"SET VARIABLE {name} = ?::VARCHAR[]", [values])  # noqa: S608 - names are ours


def _write_table(con: duckdb.DuckDBPyConnection, root: Path, table: str, order: str) -> int:
    (count,) = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0]  # noqa: S608
    target = str(root / table)
    # Table names and sort keys come from TABLES, never from input.
    con.execute(
        f"COPY (SELECT * FROM {table} ORDER BY org_id, {order}) TO '{target}' "  # noqa: S608
        "(FORMAT parquet, PARTITION_BY (org_id), ROW_GROUP_SIZE 100000, COMPRESSION zstd)"
    )
    con.execute(f"DROP TABLE {table}")
    return int(count)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(".local/replica"))
    parser.add_argument("--orgs", type=int, default=ReplicaSpec.orgs)
    parser.add_argument("--chats-per-org", type=int, default=ReplicaSpec.chats_per_org)
    parser.add_argument("--seed", type=int, default=ReplicaSpec.seed)
    parser.add_argument(
        "--end",
        type=date.fromisoformat,
        default=None,
        help="last day of the data, YYYY-MM-DD (default: today); same seed and end, same rows",
    )
    parser.add_argument("--memory-limit", default="6GB")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    spec = ReplicaSpec(
        orgs=args.orgs, chats_per_org=args.chats_per_org, seed=args.seed, end=args.end
    )
    started = time.monotonic()
    counts = generate(args.out, spec, memory_limit=args.memory_limit)
    for table, count in counts.items():
        print(f"{table:24} {count:>12,}")
    size = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(f"{'total on disk':24} {size / 1e6:>10,.1f} MB in {time.monotonic() - started:.1f}s")


if __name__ == "__main__":
    main()

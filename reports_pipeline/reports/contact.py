"""contact: the Contacts page (docs/report-types.md, "contact")."""

from __future__ import annotations

from typing import Annotated

import polars as pl

from reports_pipeline.columns import fixed, headed
from reports_pipeline.filters import (
    DateRange,
    On,
    Predicates,
    ReportFilters,
    SetFilter,
    Text,
    options,
    shown,
)
from reports_pipeline.pushdown import Valued
from reports_pipeline.replica import EVERY_ROW, Prefilter, ReplicaReader
from reports_pipeline.reports import custom_fields
from reports_pipeline.reports.base import BaseTable, Export, ReportType, lookup, sliced_export


class ContactFilters(ReportFilters):
    search: Annotated[Text | None, On("name", "phone", "email")] = None
    has_chats: Annotated[bool | None, On("has_chats")] = None
    channels: Annotated[
        SetFilter[int] | None, On("channel_id"), options("channels"), shown(group="people")
    ] = None
    creators: Annotated[
        SetFilter[int] | None,
        On("created_by"),
        options("members"),
        shown("Created by", group="people"),
    ] = None
    created: Annotated[DateRange | None, On("created_at")] = None
    custom_fields: Annotated[Predicates | None, options("custom_fields")] = None


STATIC_COLUMNS: dict[str, pl.Expr] = {
    "Contact ID": pl.col("contact_id"),
    "Name": pl.col("name"),
    "Phone": pl.col("phone"),
    "Email": pl.col("email"),
    "Channel": pl.col("channel"),
    "Template": pl.col("template"),
    "Created By": pl.col("creator_name"),
    "Created At": pl.col("created_at"),
    "Updated At": pl.col("updated_at"),
    "Chats Count": pl.col("chats_count"),
    "Last Chat At": pl.col("last_chat_at"),
}

CHAT_STATS = """
SELECT cc.contact_id, count(*) AS chats_count, max(c.last_message_at) AS last_chat_at
FROM chat_contacts cc JOIN chats c USING (chat_id)
WHERE cc.contact_id BETWEEN ? AND ? AND cc.contact_id IN (SELECT contact_id FROM wanted)
GROUP BY cc.contact_id
"""


RELATED = {
    "custom_fields": Valued(
        ("contact_field_values",),
        """EXISTS (SELECT 1 FROM (
               SELECT contact_id, field_key AS name, value FROM contact_field_values
           ) v WHERE v.contact_id = contacts.contact_id AND {condition})""",
    )
}


BASE = BaseTable("contacts", "created_at", "contact_id", RELATED)


def build(
    reader: ReplicaReader,
    filters: ContactFilters,
    tz: str,
    slice_rows: int,
    *,
    keep: Prefilter = EVERY_ROW,
) -> Export:
    """The contact export; `keep` narrows the contacts considered (a chat export's related
    sheet: the contacts of its chats)."""
    fields = custom_fields.active_fields(reader)
    columns = headed(fixed(STATIC_COLUMNS) + custom_fields.columns(fields))
    channels = lookup(
        reader, "channels", "channel_id", "name", as_key="channel_id", as_value="channel"
    )
    templates = lookup(
        reader,
        "contact_templates",
        "template_id",
        "name",
        as_key="template_id",
        as_value="template",
    )
    creators = lookup(
        reader, "team_members", "member_id", "name", as_key="created_by", as_value="creator_name"
    )
    where = filters.where(tz) & custom_fields.predicates_expr(filters.custom_fields, fields)

    def enrich(contacts: pl.DataFrame) -> pl.DataFrame:
        ids = contacts.select("contact_id")
        stats = reader.query(
            ("chat_contacts", "chats"),
            CHAT_STATS,
            [ids["contact_id"].min(), ids["contact_id"].max()],
            wanted=ids,
        )
        return (
            contacts.join(stats, on="contact_id", how="left")
            .with_columns(
                pl.col("chats_count").fill_null(0),
                has_chats=pl.col("chats_count").fill_null(0) > 0,
            )
            .join(channels, on="channel_id", how="left")
            .join(templates, on="template_id", how="left")
            .join(creators, on="created_by", how="left")
            .join(
                custom_fields.values_for(reader, contacts["contact_id"], fields),
                on="contact_id",
                how="left",
            )
        )

    return sliced_export(reader, BASE, slice_rows, enrich, where, columns, filters, tz, keep)


REPORT = ReportType(
    name="contact",
    reads=frozenset(
        (
            "contacts",
            "contact_field_values",
            "contact_templates",
            "custom_fields",
            "channels",
            "chat_contacts",
            "chats",
            "team_members",
        )
    ),
    label="Contact",
    description="Contacts with their channel, template, chats and custom fields.",
    filters=ContactFilters,
    build=build,
    base=BASE,
    example={
        "type": "contact",
        "filters": {
            "has_chats": True,
            "search": "example.org",
            "custom_fields": [{"field": "plan", "op": "in", "value": ["Pro", "Business"]}],
        },
        "timezone": "UTC",
        "format": "parquet",
        "purpose": "Load paying customers into the BI warehouse",
    },
)

"""Contact custom fields: the organisation's unified columns and their values per contact.

One column per distinct field key across the active fields of active contact templates;
the header is the field's label. Values sit in columns named `cf:<key>` in the frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce

import polars as pl

from reports_pipeline.columns import Column
from reports_pipeline.filters import Predicate
from reports_pipeline.replica import ReplicaReader
from reports_pipeline.reports.base import rows_for

PREFIX = "cf:"


@dataclass(frozen=True)
class CustomField:
    key: str
    label: str

    @property
    def column(self) -> str:
        return PREFIX + self.key


def columns(fields: Sequence[CustomField]) -> list[Column]:
    """One dynamic column per field, headed by its label (qualified by its key where the
    label is taken: see `reports_pipeline.columns`)."""
    return [Column(f.label, pl.col(f.column), "custom field", f.key) for f in fields]


# The replica tables the custom-field columns and predicates read.
TABLES = ("custom_fields", "contact_templates", "contact_field_values")


def active_fields(reader: ReplicaReader) -> list[CustomField]:
    rows = reader.query(
        ("custom_fields", "contact_templates"),
        """SELECT f.key, min(f.label) AS label, min(f.field_id) AS first_id
           FROM custom_fields f JOIN contact_templates t USING (template_id)
           WHERE f.active AND t.active GROUP BY f.key ORDER BY first_id""",
    )
    return [CustomField(key, label) for key, label in rows.select("key", "label").iter_rows()]


def values_for(
    reader: ReplicaReader, contact_ids: pl.Series, fields: Sequence[CustomField]
) -> pl.DataFrame:
    """One row per contact with a `cf:<key>` column per field (null where unset)."""
    long = rows_for(
        reader, "contact_field_values", "contact_id", contact_ids, "contact_id, field_key, value"
    )
    return widened(long, contact_ids, fields)


def widened(long: pl.DataFrame, ids: pl.Series, fields: Sequence[CustomField]) -> pl.DataFrame:
    """(id, field_key, value) rows as one row per id of `ids` (named as the frame's first
    column) with a `cf:<key>` column per field (null where unset)."""
    index = long.columns[0]
    wide = pl.DataFrame({index: ids.unique().drop_nulls()})
    keys = {f.key for f in fields}
    long = long.filter(pl.col("field_key").is_in(keys))
    if long.height:
        pivoted = long.pivot(
            on="field_key", index=index, values="value", aggregate_function="first"
        )
        wide = wide.join(pivoted, on=index, how="left")
    missing = [pl.lit(None, pl.String).alias(f.key) for f in fields if f.key not in wide.columns]
    return wide.with_columns(missing).rename({f.key: f.column for f in fields})


def predicates_expr(
    predicates: Sequence[Predicate] | None, fields: Sequence[CustomField]
) -> pl.Expr:
    """All predicates must hold; a key the organisation does not define has no value."""
    if not predicates:
        return pl.lit(True)
    known = {f.key for f in fields}
    exprs = [
        p.to_expr(pl.col(PREFIX + p.field) if p.field in known else pl.lit(None, pl.String))
        for p in predicates
    ]
    return reduce(lambda a, b: a & b, exprs)

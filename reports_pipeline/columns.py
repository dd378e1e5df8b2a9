"""Column headers, where names built from data (custom-field labels, tracker names) meet
the fixed ones: no column can replace or duplicate another (spec, "Column names are
unique").

A dynamic column whose name equals a fixed column's, or another dynamic column's, is
headed `<name> (<kind> <key>)`, e.g. `Email (custom field email_2)` or
`Goal 1 Name (tracker Name)`. The rule looks at the whole header at once, so it gives the
same names in every run over the same fields, whatever order they were found in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class Column:
    name: str
    expr: pl.Expr
    kind: str | None = None  # set for a dynamic column: "custom field", "tracker"
    key: str = ""  # what tells it apart from its namesakes: the field key, the tracker name


def fixed(columns: dict[str, pl.Expr]) -> list[Column]:
    return [Column(name, expr) for name, expr in columns.items()]


def headed(columns: Sequence[Column]) -> dict[str, pl.Expr]:
    """The header, in order, with every name unique."""
    fixed_names = [c.name for c in columns if c.kind is None]
    if len(set(fixed_names)) != len(fixed_names):
        raise ValueError(f"fixed columns repeat a name: {fixed_names}")
    dynamic = Counter(c.name for c in columns if c.kind is not None)
    out: dict[str, pl.Expr] = {}
    for column in columns:
        name = column.name
        if column.kind is not None and (name in fixed_names or dynamic[name] > 1):
            name = f"{name} ({column.kind} {column.key})"
        # Only a label chosen to look like a qualified name gets here; number it.
        unique, n = name, 1
        while unique in out or (column.kind is not None and unique in fixed_names):
            n += 1
            unique = f"{name} ({n})"
        out[unique] = column.expr
    return out

"""A summary's first periods, computed on request for the page's chart (docs/api.md,
"Preview a summary").

The preview is the export of a shorter range: the request's range cut after its first
`limit` periods, and never past `MAX_DAYS` days, always at the end of a period. So every
period it shows has exactly the numbers the file gives it; `complete` says whether the
preview covers the whole range (for `day_hours` and `weekday` a cut range sums fewer days).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from reports_pipeline.filters import DateRange
from reports_pipeline.periods import PeriodOptions, bounds, summary_range, units_sql
from reports_pipeline.replica import ReplicaReader
from reports_pipeline.reports import REPORT_TYPES
from reports_pipeline.reports.base import ReportType

DEFAULT_PERIODS = 31
MAX_PERIODS = 100
MAX_DAYS = 92  # a quarter: what a preview reads is at most what a quarter's export reads
SLICE_ROWS = 20_000
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class Preview:
    columns: list[str]
    keys: list[str]  # the columns that say what a row is of, beside its period
    measures: list[str]
    rows: list[dict[str, Any]]
    start: datetime  # the first instant covered, in the request's zone
    end: datetime  # the instant after the last one covered
    complete: bool


def previews(report_type: ReportType) -> bool:
    """Whether `report_type` is a summary, the only kind a preview is for."""
    options = report_type.options
    return options is not None and issubclass(options, PeriodOptions)


def preview(reader: ReplicaReader, selection: Any, limit: int = DEFAULT_PERIODS) -> Preview:
    """The first `limit` periods of the summary `selection` asks for."""
    report_type = REPORT_TYPES[selection.type]
    options = report_type.chosen_options(selection)
    assert isinstance(options, PeriodOptions)
    tz = selection.timezone
    chosen = summary_range(getattr(selection.filters, report_type.date_filter), tz)
    whole = bounds(chosen, tz)
    end = _cut(reader, options, tz, whole, limit)
    # The cut range as an inclusive timestamp, so the export's periods end where ours do.
    shorter = DateRange.model_validate({"from": whole["range_start"], "to": end - _TICK})
    filters = selection.filters.model_copy(update={report_type.date_filter: shorter})
    export = report_type.export(
        reader, selection.model_copy(update={"filters": filters}), SLICE_ROWS
    )
    frame = pl.concat(list(export.batches), how="vertical_relaxed")
    zone = ZoneInfo(tz)
    return Preview(
        columns=export.columns,
        keys=[c for c in export.columns[1:] if c not in report_type.measures],
        measures=list(report_type.measures),
        rows=frame.to_dicts(),
        start=whole["range_start"].astimezone(zone),
        end=end.astimezone(zone),
        complete=end >= whole["range_end"],
    )


def _cut(
    reader: ReplicaReader,
    options: PeriodOptions,
    tz: str,
    whole: dict[str, datetime],
    limit: int,
) -> datetime:
    """Where the preview's range ends: after the first `limit` periods, or after the last
    unit that ends within `MAX_DAYS` of the start (at least one unit)."""
    # Days on the wall clock (aware arithmetic in one zone), so a DST change moves no cut.
    local_start = whole["range_start"].astimezone(ZoneInfo(tz))
    horizon = (local_start + timedelta(days=MAX_DAYS)).astimezone(UTC)
    units = reader.query(
        [],
        f"""SELECT label, unit_end FROM ({units_sql(options.distribution)})
        WHERE unit_start < $horizon ORDER BY unit_start""",  # noqa: S608 - our own text
        {"tz": tz, "horizon": horizon, **whole},
    )
    seen: set[str] = set()
    end = whole["range_start"]
    for label, unit_end in units.iter_rows():
        if label not in seen and len(seen) == limit:
            break
        if unit_end > horizon and seen:
            break
        seen.add(label)
        end = unit_end
    return end

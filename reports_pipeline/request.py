"""The export request: one typed model from the API body to the job row to the run.

The API validates the body against `ReportRequest`, the job row stores it as one JSON
document (`document()`), and the run loads that document back through `parse_request`.
A new request field is a field here, plus the code that uses it.
"""

from __future__ import annotations

import zoneinfo
from collections import Counter
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar, Union

from pydantic import (
    AfterValidator,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from reports_pipeline.filters import ReportFilters, StrictModel
from reports_pipeline.formats import FORMATS
from reports_pipeline.formats.dialect import CsvDialect
from reports_pipeline.reports import REPORT_TYPES
from reports_pipeline.zones import canonical

# The names the API accepts are the registries' keys (the OpenAPI document lists them).
if TYPE_CHECKING:
    ReportTypeName = str
    FileFormat = str
    RelatedName = str
else:
    ReportTypeName = Literal[tuple(REPORT_TYPES)]
    FileFormat = Literal[tuple(FORMATS)]
    RelatedName = Literal[tuple(name for t in REPORT_TYPES.values() for name in t.related)]
MAX_PURPOSE = 500
# The formats a `csv` dialect applies to: those whose file is a CSV (the page tells them so).
CSV_FORMATS = frozenset(name for name, f in FORMATS.items() if f.extension.startswith(".csv"))


# Files of the system's zone database that are not zone names a user could mean.
NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


@cache
def _zones() -> frozenset[str]:
    names = {z for z in zoneinfo.available_timezones() if not z.startswith(("posix/", "right/"))}
    return frozenset(names - NOT_ZONES) | {"UTC"}


def _known_zone(name: str) -> str:
    """The zone `name` means, by its canonical name (a legacy alias is read as the zone)."""
    if name not in _zones():
        raise ValueError(f"unknown IANA timezone '{name}'")
    return canonical(name)


Timezone = Annotated[
    str, Field(max_length=64, examples=["Asia/Kolkata"]), AfterValidator(_known_zone)
]
Purpose = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_PURPOSE,
        description="Why the data is exported; kept with the report.",
        examples=["Monthly review of high-priority chats"],
    ),
]


def _each_once(names: list[str]) -> list[str]:
    repeated = sorted(name for name, times in Counter(names).items() if times > 1)
    if repeated:
        raise ValueError(f"chosen twice: {', '.join(repeated[:5])}")
    return names


Columns = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=300)]],
    Field(
        min_length=1,
        max_length=1000,
        description="The columns wanted, in the order wanted, named as the file's header "
        "names them (`POST …/columns` lists them); the file holds exactly these.",
        examples=[["Chat ID", "Created At", "Assignee Name", "CSAT Score"]],
    ),
    AfterValidator(_each_once),
]


Related = Annotated[
    list[RelatedName],
    Field(
        min_length=1,
        description="Sheets of the exported chats' related rows, after the chats: in `xlsx` "
        "one sheet each, otherwise a ZIP with one file per sheet (chat exports only).",
        examples=[["contacts", "messages"]],
    ),
    AfterValidator(_each_once),
]


FilePassword = Annotated[
    SecretStr,
    Field(
        min_length=8,
        max_length=128,
        description="Protect the file: it comes as an AES-256 ZIP that opens with this "
        "password. Never stored, logged or shown; the report says only that it is protected.",
        json_schema_extra={"writeOnly": True, "format": "password"},
    ),
]


class SelectionBase(StrictModel):
    """Which rows: the type, the timezone its dates are read in, and its filters. The body
    of a count; each report type narrows `type` and `filters`."""

    type: str
    timezone: Timezone = "UTC"  # before `filters`: their dates are read in it
    filters: ReportFilters

    @field_validator("filters")
    @classmethod
    def _dates_in_order(cls, filters: ReportFilters, info: ValidationInfo) -> ReportFilters:
        filters.check_dates(info.data.get("timezone", "UTC"))
        return filters

    @model_validator(mode="after")
    def _options_fit(self) -> SelectionBase:
        report_type = REPORT_TYPES[self.type]
        options = report_type.chosen_options(self)
        if options is not None:
            options.check(getattr(self.filters, report_type.date_filter), self.timezone)
        return self


class RequestBase(SelectionBase):
    """An export request: the rows, and the file to make of them."""

    format: FileFormat = "csv"
    columns: Columns | None = None
    related: Related | None = None
    csv: CsvDialect | None = Field(
        None, description="The CSV dialect, for `csv` and `csv_gz`: default `,`, a BOM, CRLF"
    )
    purpose: Purpose | None = None
    # Not part of the stored document: the API seals it apart (reports_pipeline.protection).
    password: FilePassword | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _dialect_fits(self) -> RequestBase:
        if self.csv is not None and self.format not in CSV_FORMATS:
            formats = " and ".join(sorted(CSV_FORMATS))
            raise ValueError(f"'csv' options are for the {formats} formats, not {self.format}")
        return self

    @model_validator(mode="after")
    def _related_fits(self) -> RequestBase:
        if self.related and not REPORT_TYPES[self.type].related:
            with_sheets = " and ".join(n for n, t in REPORT_TYPES.items() if t.related)
            raise ValueError(f"'related' sheets are for the {with_sheets} export, not {self.type}")
        return self

    def document(self) -> dict[str, Any]:
        """The request as the job row stores it (and the run reads it back)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


M = TypeVar("M", bound=SelectionBase)


def _typed(name: str, base: type[M], suffix: str) -> type[M]:
    report_type = REPORT_TYPES[name]
    options = report_type.options.model_fields if report_type.options else {}
    model: type[M] = create_model(
        f"{report_type.filters.__name__.removesuffix('Filters')}{suffix}",
        __base__=base,
        __doc__=report_type.description,
        type=(Literal[name], ...),  # type: ignore[arg-type]
        filters=(report_type.filters, Field(default_factory=report_type.filters)),
        **{option: (field.annotation, field) for option, field in options.items()},  # type: ignore[call-overload]
    )
    return model


REQUEST_MODELS = {name: _typed(name, RequestBase, "ReportCreate") for name in REPORT_TYPES}
SELECTION_MODELS = {name: _typed(name, SelectionBase, "Selection") for name in REPORT_TYPES}

if TYPE_CHECKING:
    ReportRequest = RequestBase
    Selection = SelectionBase
else:
    # One model per type, told apart by `type`: each validates its own filters.
    ReportRequest = Annotated[
        Union[tuple(REQUEST_MODELS.values())],  # noqa: UP007
        Field(discriminator="type"),
    ]
    Selection = Annotated[
        Union[tuple(SELECTION_MODELS.values())],  # noqa: UP007
        Field(discriminator="type"),
    ]

_ADAPTER: TypeAdapter[RequestBase] = TypeAdapter(ReportRequest)


def parse_request(document: dict[str, Any]) -> RequestBase:
    """A stored request document, validated exactly as the API validated the body."""
    return _ADAPTER.validate_python(document)

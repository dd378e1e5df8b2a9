"""The CSV dialect a request may choose (docs/files.md, "Choosing the CSV dialect")."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Delimiter = Literal[",", ";", "\t", "|"]
LineEnding = Literal["crlf", "lf"]
TERMINATORS: dict[LineEnding, str] = {"crlf": "\r\n", "lf": "\n"}


class CsvDialect(BaseModel):
    """How the CSV is written: the defaults are what Excel opens everywhere; `;` is what
    it expects where the decimal separator is a comma, and BI loaders often want no BOM
    and LF line ends."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    delimiter: Delimiter = Field(default=",", description="`,` `;` tab or `|`")
    bom: bool = Field(default=True, description="Start the file with a UTF-8 byte-order mark")
    line_ending: LineEnding = Field(default="crlf", description="`crlf` (RFC 4180) or `lf`")

    @property
    def terminator(self) -> str:
        return TERMINATORS[self.line_ending]

"""The registry of file formats: adding a format is one module and one line here."""

from __future__ import annotations

from reports_pipeline.formats import csv, csv_gz, jsonl, parquet, protected, xlsx
from reports_pipeline.formats.base import FileFormat, FileOptions

FORMATS: dict[str, FileFormat] = {
    f.name: f for f in (csv.FORMAT, xlsx.FORMAT, csv_gz.FORMAT, parquet.FORMAT, jsonl.FORMAT)
}


def zipped(format_name: str, *, protected_file: bool, sheets: int = 1) -> bool:
    """Whether the file is a ZIP of the format's files: it is protected, or it has several
    sheets and the format's file holds one."""
    return protected_file or (sheets > 1 and FORMATS[format_name].encode_sheets is None)


def extension_of(format_name: str, *, protected_file: bool, sheets: int = 1) -> str:
    """`.csv`, `.parquet`, ...; a ZIP of such files: `.csv.zip`."""
    in_zip = zipped(format_name, protected_file=protected_file, sheets=sheets)
    return FORMATS[format_name].extension + (protected.EXTENSION if in_zip else "")


def content_type_of(format_name: str, *, protected_file: bool, sheets: int = 1) -> str:
    if zipped(format_name, protected_file=protected_file, sheets=sheets):
        return protected.CONTENT_TYPE
    return FORMATS[format_name].content_type


__all__ = ["FORMATS", "FileFormat", "FileOptions", "content_type_of", "extension_of"]

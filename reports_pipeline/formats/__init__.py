"""The registry of file formats: adding a format is one module and one line here."""

from __future__ import annotations

from reports_pipeline.formats import csv, csv_gz, jsonl, parquet, protected, xlsx
from reports_pipeline.formats.base import FileFormat, FileOptions

FORMATS: dict[str, FileFormat] = {
    f.name: f for f in (csv.FORMAT, xlsx.FORMAT, csv_gz.FORMAT, parquet.FORMAT, jsonl.FORMAT)
}


def extension_of(format_name: str, *, protected_file: bool) -> str:
    """`.csv`, `.parquet`, ...; a protected file is a ZIP holding that file: `.csv.zip`."""
    return FORMATS[format_name].extension + (protected.EXTENSION if protected_file else "")


def content_type_of(format_name: str, *, protected_file: bool) -> str:
    return protected.CONTENT_TYPE if protected_file else FORMATS[format_name].content_type


__all__ = ["FORMATS", "FileFormat", "FileOptions", "content_type_of", "extension_of"]

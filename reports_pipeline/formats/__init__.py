"""The registry of file formats: adding a format is one module and one line here."""

from __future__ import annotations

from reports_pipeline.formats import csv, csv_gz, jsonl, parquet, xlsx
from reports_pipeline.formats.base import FileFormat, FileOptions

FORMATS: dict[str, FileFormat] = {
    f.name: f for f in (csv.FORMAT, csv_gz.FORMAT, xlsx.FORMAT, parquet.FORMAT, jsonl.FORMAT)
}

__all__ = ["FORMATS", "FileFormat", "FileOptions"]

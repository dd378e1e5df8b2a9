"""Where the replica's Parquet files live: a local folder, or `s3://bucket/prefix`.

The layout is the same in both (`<table>/org_id=<organisation>/*.parquet`). DuckDB reads
S3 through a file system registered from Python (its httpfs extension is not installable
here): pyarrow's S3 client, which fetches only the byte ranges a query needs (footers,
then the row groups and columns it keeps), wrapped as an fsspec file system.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import duckdb

S3_SCHEME = "s3://"


@dataclass(frozen=True)
class ParquetFile:
    path: str  # as DuckDB reads it
    size: int
    modified: float  # seconds since the epoch


@dataclass(frozen=True)
class ReplicaLocation:
    """A replica root. `endpoint_url` names an S3-compatible store other than AWS; the
    credentials come from the usual AWS settings (environment, profile or instance role)."""

    root: str
    endpoint_url: str | None = None
    region: str = "us-east-1"

    @classmethod
    def of(cls, root: str | Path, endpoint_url: str | None = None) -> ReplicaLocation:
        text = str(root)
        if text.startswith(S3_SCHEME):
            return cls(text.rstrip("/"), endpoint_url)
        return cls(str(Path(text).resolve()))

    @property
    def on_s3(self) -> bool:
        return self.root.startswith(S3_SCHEME)

    def table_glob(self, table: str) -> str:
        return f"{self.root}/{table}/*/*.parquet"

    def org_table_glob(self, table: str, org_id: str) -> str:
        return f"{self.root}/{table}/org_id={org_id}/*.parquet"

    def files(self, glob: str) -> list[ParquetFile]:
        """The Parquet files `glob` matches, sorted by path."""
        if not self.on_s3:
            found = sorted(Path("/").glob(glob.lstrip("/")))
            return [ParquetFile(str(f), (s := f.stat()).st_size, s.st_mtime) for f in found]
        entries = self._s3.glob(glob.removeprefix(S3_SCHEME), detail=True)
        return [
            ParquetFile(S3_SCHEME + name, int(entry["size"]), entry["mtime"].timestamp())
            for name, entry in sorted(entries.items())
        ]

    def attach(self, con: duckdb.DuckDBPyConnection) -> None:
        """Let `con` read this location's paths."""
        if self.on_s3 and not con.filesystem_is_registered("s3"):
            con.register_filesystem(self._s3)

    @cached_property
    def _s3(self) -> Any:
        # Imported only for a replica on S3: pyarrow alone adds ~50 MB to a run process.
        from fsspec.implementations.arrow import ArrowFSWrapper
        from pyarrow import fs

        endpoint = self.endpoint_url
        arrow = fs.S3FileSystem(
            region=self.region,
            endpoint_override=endpoint.split("://", 1)[-1] if endpoint else None,
            scheme=endpoint.split("://", 1)[0] if endpoint else "https",
        )

        class S3Files(ArrowFSWrapper):  # type: ignore[misc]
            protocol = "s3"  # the scheme DuckDB hands to this file system

        return S3Files(arrow)

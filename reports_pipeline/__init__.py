"""Export runs: the report types, the CSV writer, the object store and the job table."""

import os

# DuckDB and Polars each bring their own jemalloc, which keeps freed pages for seconds by
# default: an export's slices free and re-allocate a few hundred MB each second, so the
# run's peak RSS is mostly pages already freed. Handing them back after 200 ms lowers the
# 1M-chat export's peak by about 30 MB at the same speed (README, "Where the memory goes").
# jemalloc reads these when the library first allocates, so they are set before either is
# imported; a value already in the environment wins.
for _variable in ("DUCKDB_JE_MALLOC_CONF", "_RJEM_MALLOC_CONF"):
    os.environ.setdefault(_variable, "dirty_decay_ms:200,muzzy_decay_ms:0")

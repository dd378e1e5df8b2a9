"""The CRM replica: a generator of Parquet tables and a DuckDB catalog over them."""

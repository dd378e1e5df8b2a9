"""Alembic environment: runs on the connection `job_table.migrate()` hands over.

`target_metadata` is every table the service defines (`job_table.metadata`, filled by the
modules that own a table), so `alembic revision --autogenerate` and the schema test
(tests/test_schema.py) compare the migrations with the code."""

from alembic import context

from reports_pipeline.job_table import all_tables

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=all_tables(),
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()

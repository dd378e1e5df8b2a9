"""Export runs: the report types, the CSV writer, the object store and the job table."""

"""The partner API: the front door of the export service (spec/api.md)."""

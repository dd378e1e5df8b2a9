"""The partner API: the front door of the export service (docs/api.md)."""

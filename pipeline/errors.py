"""Domain errors: bad input fails early with a message naming file, table and column."""
from __future__ import annotations


class PipelineInputError(ValueError):
    """Input that the pipeline cannot use: a missing table, column, wrong type or empty result."""

    def __init__(self, message: str, *, file: str | None = None, table: str | None = None,
                 column: str | None = None) -> None:
        parts = []
        if table:
            parts.append(f"table {table}")
        if file:
            parts.append(f"file {file}")
        if column:
            parts.append(f"column {column}")
        where = " (" + ", ".join(parts) + ")" if parts else ""
        super().__init__(message + where)
        self.file, self.table, self.column = file, table, column


class ConfigError(ValueError):
    """A configuration value that is missing, unknown or inconsistent."""

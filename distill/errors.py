"""User-facing errors: the CLI prints them as one line and exits non-zero (no traceback)."""


class DistillError(Exception):
    """Bad input or environment: the message names the file/field and what was expected."""

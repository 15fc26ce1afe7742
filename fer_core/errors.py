"""User-facing errors: one clear line, non-zero exit, no traceback."""

from __future__ import annotations


class UserError(Exception):
    """An error caused by input the user can fix. The message is printed as one line."""

    exit_code = 2


class DataError(UserError):
    """Bad or missing dataset input (names the file/row/field)."""


class ArtifactError(UserError):
    """A predictions artifact that is malformed, of an unknown version, or unsafe to use."""

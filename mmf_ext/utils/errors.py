"""User-facing errors: printed as one line by the command-line tools, exit status 2."""

from __future__ import annotations


class UserError(Exception):
    """A problem in the user's input (config, data, arguments) with a one-line explanation."""


class ConfigError(UserError):
    """A malformed, missing or inconsistent configuration."""

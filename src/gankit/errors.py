"""The errors a user can cause, in one place.

Each is a :class:`GankitError`, so the command line catches them all and prints the
message as one line (``error: ...``, exit status 2) instead of a traceback; the message
names the file, key or value at fault and what is expected. Each also keeps the builtin
base it has always had (a config or data-file error is a ``ValueError``, an unknown name
a ``KeyError``), so code that catches those still does. :class:`Terminated` is not
the user's error but how a stopped run or sweep exits, shared by both.
"""
from __future__ import annotations

import signal


class GankitError(Exception):
    """Something the user gave (a file, a key, a value, a flag) is wrong."""


class ConfigError(GankitError, ValueError):
    """A config file, key or value is wrong; the message names it and what is allowed."""


class UsageError(GankitError, ValueError):
    """A command-line argument is wrong (unknown flag, missing value, bad number)."""


class DataFileError(GankitError, ValueError):
    """A data file is missing or not in the expected layout; the message names both."""


class CheckpointError(GankitError, RuntimeError):
    """A checkpoint file is missing, truncated, corrupt or not a gankit checkpoint."""


class RunDirError(GankitError, ValueError):
    """A run directory lacks a file gankit wrote into it, or holds a damaged one."""


class UnknownNameError(GankitError, KeyError):
    """Raised for a name that is not registered; the message lists the valid names."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


class DivergenceError(RuntimeError):
    """A loss or a parameter became NaN or infinite. Not a mistake of the user's input
    (so not a :class:`GankitError`): ``gankit train`` reports it with the last good
    checkpoint and exits with status 1."""


class Terminated(SystemExit):
    """A SIGTERM stopped a run or a sweep, after what it had was saved; exit status 143
    (128 + SIGTERM, the shell's convention)."""

    def __init__(self) -> None:
        super().__init__(128 + signal.SIGTERM)

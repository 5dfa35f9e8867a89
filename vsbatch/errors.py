"""Errors that map to the CLI's exit codes: 2 for bad input or usage, 1 for anything else."""


class VsbatchError(Exception):
    """Base class of the errors vsbatch raises on purpose."""

    exit_code = 1


class InputError(VsbatchError):
    """The input cannot be processed: names the file, the column and, where known, the source."""

    exit_code = 2


class UsageError(VsbatchError, ValueError):
    """A command was called in a way that cannot work (existing catalog, bad option, ...).

    Also a ValueError: a Python caller giving ``RunConfig`` a bad value gets the exception
    type Python uses for bad argument values.
    """

    exit_code = 2


class StorageError(VsbatchError):
    """The catalog folder cannot be written (full, read-only, quota): nothing was committed."""

    exit_code = 1

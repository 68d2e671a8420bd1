"""One error hierarchy for the whole application.

Every message says what was wrong and what to do about it. The CLI maps
:class:`ValidationError` (and subclasses) to exit code 3, usage errors to 2;
the GUI shows the message inline.
"""

from __future__ import annotations


class ReaderStudyError(Exception):
    """Base class of every error readerstudy raises on purpose."""


class ValidationError(ReaderStudyError, ValueError):
    """Input is invalid (wrong shape, out of range, unsupported file...). Nothing was changed."""


class NotFoundError(ReaderStudyError, LookupError):
    """A study, case, reader... that was asked for does not exist."""


class ConflictError(ReaderStudyError):
    """The action conflicts with the stored state (duplicate id, read already submitted...)."""


class PermissionDenied(ReaderStudyError):
    """The signed-in role may not do this (e.g. a reader asking for ground truth)."""


class AuthenticationError(ReaderStudyError):
    """Wrong PIN, or sign-in locked after too many attempts."""


class SchemaError(ReaderStudyError):
    """The database schema cannot be used by this version (e.g. it is newer)."""


class UnsupportedFileError(ValidationError):
    """A file cannot be imported (unsupported transfer syntax, no pixel data...)."""


class Cancelled(ReaderStudyError):
    """A long-running operation was cancelled through its cancel token."""


class IntegrityFailure(ReaderStudyError):
    """A stored record or file no longer matches its checksum or audit event (tampering or damage)."""

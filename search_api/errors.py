"""Domain errors of the API's services and their HTTP statuses.

Services raise these instead of HTTP exceptions, so the same code runs inside a request and on
the search-job thread pool; one exception handler (search_api/app.py) turns them, and the
catalog's own lookup errors, into 4xx responses with the message as `detail`.
"""

from __future__ import annotations

from fastapi import status

from index.catalog import (
    DuplicateZoneError,
    RuleError,
    UnknownCameraError,
    UnknownEventError,
    UnknownZoneError,
)
from index.catalog.footage import UnknownUploadError
from index.catalog.watchlists import UnknownWatchlistError, WatchlistError
from index.catalog.webhook_deliveries import UnknownDeadLetterError
from index.catalog.webhooks import UnknownWebhookError
from index.footage_ingest import FootageConflictError, FootageError


class DomainError(Exception):
    """A request the service refuses; the message names the field or thing at fault."""

    status_code = status.HTTP_400_BAD_REQUEST
    headers: dict[str, str] | None = None  # response headers the status calls for

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(DomainError):
    """The request cannot be carried out as written (a bad value, an unknown name in text)."""

    status_code = status.HTTP_422_UNPROCESSABLE_CONTENT


class NotFound(DomainError):
    """A named thing does not exist or is outside the caller's cameras."""

    status_code = status.HTTP_404_NOT_FOUND


class PayloadTooLarge(InvalidInput):
    """An upload is larger than the service accepts."""

    status_code = status.HTTP_413_CONTENT_TOO_LARGE


class Forbidden(DomainError):
    """The caller's role, cameras or case do not allow this."""

    status_code = status.HTTP_403_FORBIDDEN


class Gone(DomainError):
    """The thing existed but was deleted for good (a recording retention removed)."""

    status_code = status.HTTP_410_GONE


class TooManyRequests(DomainError):
    """A rate limit refuses the request; `Retry-After` says in how many seconds to retry."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(retry_after_s)}


class Conflict(DomainError):
    """The write clashes with what is stored (a duplicate id or name)."""

    status_code = status.HTTP_409_CONFLICT


class Unavailable(DomainError):
    """The server is not set up for this (e.g. no audit signing key to verify against)."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE


# Errors the catalog raises itself, handled like the domain errors above: (status, the request
# field the message is about, if any).
CATALOG_ERRORS: dict[type[Exception], tuple[int, str | None]] = {
    UnknownCameraError: (status.HTTP_404_NOT_FOUND, None),
    UnknownZoneError: (status.HTTP_404_NOT_FOUND, None),
    DuplicateZoneError: (status.HTTP_409_CONFLICT, "name"),
    UnknownEventError: (status.HTTP_404_NOT_FOUND, None),
    RuleError: (status.HTTP_422_UNPROCESSABLE_CONTENT, None),  # its message names the field
    UnknownWebhookError: (status.HTTP_404_NOT_FOUND, None),
    UnknownDeadLetterError: (status.HTTP_404_NOT_FOUND, None),
    UnknownWatchlistError: (status.HTTP_404_NOT_FOUND, None),
    WatchlistError: (status.HTTP_422_UNPROCESSABLE_CONTENT, None),  # its message names the field
    UnknownUploadError: (status.HTTP_404_NOT_FOUND, None),
    FootageConflictError: (status.HTTP_409_CONFLICT, None),  # before its base class FootageError
    FootageError: (status.HTTP_422_UNPROCESSABLE_CONTENT, None),  # its message names the field
}
HANDLED_ERRORS: tuple[type[Exception], ...] = (DomainError, *CATALOG_ERRORS)


def status_and_detail(error: Exception) -> tuple[int, str]:
    """The HTTP status and `detail` text of a domain or catalog error."""
    if isinstance(error, DomainError):
        return error.status_code, error.detail
    for kind, (code, field) in CATALOG_ERRORS.items():
        if isinstance(error, kind):
            return code, str(error) if field is None else f"{field}: {error}"
    raise TypeError(f"{type(error).__name__} is not a domain error")

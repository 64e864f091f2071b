"""The one exception that services raise when a request breaks a business rule."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A rule was broken: the message is safe to show to the person or pipeline.

    `status` is the HTTP status the API answers with (400 unless a service
    says otherwise, e.g. 409 for a wrong-state transition), `field` names
    the input at fault when there is one, `extra` carries structured detail,
    and `errors` replaces the single item with a list (a batch's per-item errors).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        field: str | None = None,
        code: str = "invalid",
        extra: dict[str, Any] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.field = field
        self.code = code
        self.extra = extra or {}
        self.errors = errors

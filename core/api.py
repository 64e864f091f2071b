"""One error shape for the whole API.

Every error body is `{"errors": [{"field": ..., "message": ..., "code": ...}]}`
(item errors of a batch add `"index"`), whatever raised it: a serializer, a
permission check, Django's 404 or a service's ApplicationError.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import ApplicationError


def _flatten(detail: Any, field: str | None = None) -> list[dict[str, Any]]:
    """Turn DRF's nested error detail into a flat list of {field, message, code}."""
    if isinstance(detail, dict):
        items = []
        for key, value in detail.items():
            name = None if key in ("non_field_errors", "detail") else key
            nested = f"{field}.{name}" if field and name else (name or field)
            items.extend(_flatten(value, nested))
        return items
    if isinstance(detail, list):
        items = []
        for position, value in enumerate(detail):
            if isinstance(value, dict | list):
                items.extend(_flatten(value, f"{field}[{position}]" if field else str(position)))
            else:
                items.extend(_flatten(value, field))
        return items
    code = getattr(detail, "code", "invalid")
    return [{"field": field, "message": str(detail), "code": code}]


def error_response(errors: list[dict[str, Any]], status_code: int) -> Response:
    """The standard error body; at most 100 items are listed."""
    return Response({"errors": errors[:100]}, status=status_code)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler that gives every error the same shape."""
    if isinstance(exc, ApplicationError):
        item = {"field": exc.field, "message": exc.message, "code": exc.code, **exc.extra}
        return error_response([item], exc.status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.APIException):
        response.data = {"errors": _flatten(exc.detail)[:100]}
    return response


__all__ = ["error_response", "exception_handler", "status"]

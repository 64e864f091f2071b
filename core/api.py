"""One error shape for the whole API.

Every error body is `{"errors": [{"field": ..., "message": ..., "code": ...}]}`
(item errors of a batch add `"index"`), whatever raised it: a serializer, a
permission check, Django's 404 or a service's ApplicationError.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls.converters import get_converters
from drf_spectacular.openapi import AutoSchema
from rest_framework import exceptions, serializers
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
        if exc.errors:
            return error_response(exc.errors, exc.status)
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


class ErrorItemSerializer(serializers.Serializer):
    """One problem: which item and field, what is wrong, and a stable code."""

    index = serializers.IntegerField(required=False, allow_null=True)
    field = serializers.CharField(allow_null=True)
    message = serializers.CharField()
    code = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    """The one error body of the API."""

    errors = ErrorItemSerializer(many=True)


ERROR_MEANINGS = {
    400: "Invalid input: every problem listed (at most 100); nothing was written.",
    401: "Missing, malformed, unknown or revoked token (or no session).",
    403: "The token or person may not do this (e.g. another system's token).",
    404: "No such object (in a list: no such page).",
    409: "The object is not in a state that allows this.",
    413: "More than 10,000 points, or a body over 5 MiB.",
    429: "The token exceeded its rate limit; retry after the Retry-After seconds.",
}


# "<slug:slug>" in a Django route: the converter and the parameter it fills.
_ROUTE_PARAMETER = re.compile(r"<(?:(?P<converter>\w+):)?(?P<parameter>\w+)>")


class PortalAutoSchema(AutoSchema):
    """drf-spectacular's schema, plus the error responses every operation can give."""

    def _resolve_path_parameters(self, variables):
        """Path parameters constrained as their route's converter is ("<int:pk>" is 0 or more).

        A value the converter refuses never reaches the API (Django answers 404
        before any view runs), so the schema says which values route.
        """
        parameters = super()._resolve_path_parameters(variables)
        converters = {
            "id" if name == "pk" else name: converter
            for converter, name in _ROUTE_PARAMETER.findall(self.path_regex)
        }
        for parameter in parameters:
            converter = get_converters().get(converters.get(parameter["name"], ""))
            schema = parameter["schema"]
            if converter is None or "$ref" in schema:
                continue
            if schema.get("type") == "integer":
                schema.setdefault("minimum", 0)
            elif schema.get("type") == "string":
                schema["pattern"] = f"^{converter.regex}$"
        return parameters

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        codes = [401, 403, 429]
        # A list answers 404 for a page past its end, as DRF's paginator does.
        if "{" in self.path or (self._is_list_view() and self._get_paginator()):
            codes.append(404)
        if self.method in ("POST", "PUT", "PATCH") or self._get_filter_parameters():
            codes.append(400)
        if self.method == "DELETE":
            codes.append(409)
        for code in codes:
            responses.setdefault(
                str(code),
                self._get_response_for_code(ErrorSerializer, str(code))
                | {"description": ERROR_MEANINGS[code]},
            )
        return responses

"""Every API error has one shape: {"errors": [{"field", "message", "code"}, ...]}."""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions

from core.api import exception_handler
from core.errors import ApplicationError


def handle(exc):
    return exception_handler(exc, {})


def test_a_service_error_keeps_its_status_field_and_extra_detail():
    response = handle(
        ApplicationError("Wrong state", status=409, field="state", extra={"index": 3})
    )
    assert response.status_code == 409
    assert response.data == {
        "errors": [{"field": "state", "message": "Wrong state", "code": "invalid", "index": 3}]
    }


def test_nested_validation_errors_are_flattened_with_dotted_fields():
    exc = exceptions.ValidationError(
        {"name": ["This field is required."], "points": [{}, {"value": ["Not a number."]}]}
    )
    response = handle(exc)
    assert response.status_code == 400
    assert response.data["errors"] == [
        {"field": "name", "message": "This field is required.", "code": "invalid"},
        {"field": "points[1].value", "message": "Not a number.", "code": "invalid"},
    ]


def test_non_field_errors_have_no_field():
    response = handle(exceptions.ValidationError({"non_field_errors": ["Bad pair."]}))
    assert response.data["errors"] == [{"field": None, "message": "Bad pair.", "code": "invalid"}]


def test_django_404_and_permission_denied_take_the_same_shape():
    assert handle(Http404()).status_code == 404
    assert handle(Http404()).data["errors"][0]["code"] == "not_found"
    denied = handle(PermissionDenied())
    assert denied.status_code == 403
    assert denied.data["errors"][0]["code"] == "permission_denied"


def test_authentication_errors_take_the_same_shape():
    response = handle(exceptions.NotAuthenticated())
    assert response.status_code == 401
    assert response.data["errors"][0]["code"] == "not_authenticated"


def test_at_most_one_hundred_errors_are_listed():
    exc = exceptions.ValidationError({f"f{i}": ["bad"] for i in range(150)})
    assert len(handle(exc).data["errors"]) == 100


def test_an_unexpected_exception_is_left_to_django():
    assert handle(RuntimeError("boom")) is None

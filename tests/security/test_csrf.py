"""CSRF: a browser session cannot be made to write from another site; a bearer token needs no token.

The test client here enforces CSRF as a browser meets it (Django's test client
skips the check unless asked). Vic views, and may make personal API tokens.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from registry.models import ApiToken
from registry.services import api_token_create
from tests.registry.factories import AISystemFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(viewer) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(viewer)
    client.get(reverse("home"))  # a page with a form sets the csrftoken cookie
    return client


def test_a_login_without_the_csrf_token_is_refused(viewer):
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("login"), {"username": "vic", "password": "pw"})
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


def test_a_page_form_without_the_csrf_token_is_refused_and_changes_nothing(browser):
    assert browser.post(reverse("logout")).status_code == 403
    assert browser.get(reverse("home")).status_code == 200  # still signed in
    token = browser.cookies["csrftoken"].value
    assert browser.post(reverse("logout"), {"csrfmiddlewaretoken": token}).status_code == 302
    assert browser.get(reverse("home")).status_code == 302


def test_an_api_write_with_the_session_needs_the_csrf_header(browser):
    url = reverse("api:personal-token-list")
    refused = browser.post(url, {"name": "script"}, content_type="application/json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["errors"][0]["message"]
    assert not ApiToken.objects.exists()
    allowed = browser.post(
        url,
        {"name": "script"},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value,
    )
    assert allowed.status_code == 201
    assert ApiToken.objects.count() == 1


def test_a_bearer_token_is_not_a_cookie_and_needs_no_csrf_token(owner):
    # A browser never sends the Authorization header by itself, so no site can forge it.
    system = AISystemFactory(slug="claims-triage")
    _, secret = api_token_create(by=owner, name="laptop", user=owner)
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        reverse("api:system-token-list", args=[system.slug]),
        {"name": "nightly-eval"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert response.status_code == 201
    assert ApiToken.objects.filter(system=system).count() == 1

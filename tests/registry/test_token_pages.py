"""API tokens in the browser: created (shown once), listed, revoked after confirmation.

Omar owns the system's pipelines; Vic only views; Charlie has no role.
"""

import re

import pytest

from registry.models import ApiToken
from registry.services import api_token_create
from tests.registry.factories import AISystemFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def system():
    return AISystemFactory(slug="loan-classifier", name="Loan classifier")


def secret_in(page: str) -> str | None:
    match = re.search(r'id="new-token" class="secret" type="text" readonly value="([^"]+)"', page)
    return match.group(1) if match else None


def test_omar_creates_a_pipeline_token_that_is_shown_once_and_works(client, owner, system):
    client.force_login(owner)
    response = client.post("/systems/loan-classifier/tokens/", {"name": "nightly"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    secret = secret_in(response.content.decode())
    assert secret and secret.startswith("agp_")
    token = ApiToken.objects.get()
    assert (token.system, token.name, token.created_by) == (system, "nightly", owner)
    # The list shows only its prefix from now on.
    page = client.get("/systems/loan-classifier/tokens/").content.decode()
    assert secret_in(page) is None
    assert secret not in page and token.prefix in page
    client.logout()
    api = client.get("/api/v1/systems/loan-classifier/", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.status_code == 200


def test_a_token_without_a_name_is_refused_in_place(client, owner, system):
    client.force_login(owner)
    response = client.post("/systems/loan-classifier/tokens/", {"name": "  "})
    assert response.status_code == 400
    assert 'aria-invalid="true"' in response.content.decode()
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("persona", ["viewer", "approver"])
def test_people_who_may_not_manage_tokens_neither_see_nor_use_the_page(
    client, request, system, persona
):
    client.force_login(request.getfixturevalue(persona))
    assert "Pipeline tokens" not in client.get("/systems/loan-classifier/").content.decode()
    assert client.get("/systems/loan-classifier/tokens/").status_code == 403
    assert client.post("/systems/loan-classifier/tokens/", {"name": "x"}).status_code == 403
    assert not ApiToken.objects.exists()


def test_charlie_without_a_role_is_refused(client, outsider, system):
    client.force_login(outsider)
    assert client.get("/account/tokens/").status_code == 403
    assert client.post("/account/tokens/", {"name": "x"}).status_code == 403
    assert not ApiToken.objects.exists()


def test_the_owner_sees_the_tab(client, owner, system):
    client.force_login(owner)
    assert "Pipeline tokens" in client.get("/systems/loan-classifier/").content.decode()


def test_revoking_asks_first_then_revokes(client, owner, system):
    token, _secret = api_token_create(by=owner, name="old", system=system)
    client.force_login(owner)
    confirm = client.get(f"/tokens/{token.pk}/revoke/")
    assert confirm.status_code == 200
    assert "cannot be undone" in confirm.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is None
    response = client.post(f"/tokens/{token.pk}/revoke/", follow=True)
    assert "revoked" in response.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is not None
    again = client.post(f"/tokens/{token.pk}/revoke/", follow=True)
    assert "already revoked" in again.content.decode()


def test_a_viewer_cannot_revoke_a_pipeline_token(client, viewer, owner, system):
    token, _ = api_token_create(by=owner, name="p", system=system)
    client.force_login(viewer)
    assert client.post(f"/tokens/{token.pk}/revoke/").status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None


def test_vic_manages_his_own_personal_tokens_but_not_omars(client, viewer, owner):
    omars, _ = api_token_create(by=owner, name="omar's", user=owner)
    client.force_login(viewer)
    response = client.post("/account/tokens/", {"name": "laptop"})
    secret = secret_in(response.content.decode())
    assert ApiToken.objects.get(user=viewer).name == "laptop"
    assert "omar's" not in client.get("/account/tokens/").content.decode()
    assert client.post(f"/tokens/{omars.pk}/revoke/").status_code == 403
    client.logout()
    assert client.get("/api/v1/systems/", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200


def test_an_unknown_token_is_404(client, owner):
    client.force_login(owner)
    assert client.get("/tokens/999/revoke/").status_code == 404


def test_the_navigation_links_to_my_tokens(client, viewer):
    client.force_login(viewer)
    assert "/account/tokens/" in client.get("/").content.decode()


def test_the_tokens_are_listed_25_to_a_page(client, owner, system):
    for number in range(26):
        api_token_create(by=owner, name=f"pipeline-{number:02d}", system=system)
    client.force_login(owner)

    first = client.get("/systems/loan-classifier/tokens/").content.decode()
    assert first.count("Revoke…") == 25
    assert "pipeline-25" in first and "pipeline-00" not in first  # newest first
    assert 'href="?page=2#list-title"' in first

    second = client.get("/systems/loan-classifier/tokens/?page=2").content.decode()
    assert second.count("Revoke…") == 1 and "pipeline-00" in second

"""Login, logout, the home page and the language switch."""

import pytest

from tests.registry.factories import AISystemFactory

pytestmark = pytest.mark.django_db


def test_the_login_page_is_served_to_anyone(client):
    response = client.get("/login/")
    assert response.status_code == 200
    assert b'name="username"' in response.content
    assert b'name="password"' in response.content


def test_home_sends_an_anonymous_visitor_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_dana_logs_in_and_sees_her_role(client, director):
    response = client.post("/login/", {"username": "dana", "password": "pw"}, follow=True)
    assert response.status_code == 200
    assert response.wsgi_request.user == director
    assert "Operations director" in response.content.decode()


def test_a_wrong_password_is_refused_with_a_message(client, director):
    response = client.post("/login/", {"username": "dana", "password": "nope"})
    assert response.status_code == 200
    assert not response.wsgi_request.user.is_authenticated
    assert 'role="alert"' in response.content.decode()


def test_charlie_without_a_role_is_told_what_to_do(client, outsider):
    client.force_login(outsider)
    page = client.get("/").content.decode()
    assert "You need a role to read the registry" in page
    assert "Ask an administrator to add you to a role group" in page


def test_logout_is_a_post_that_ends_the_session(client, viewer):
    client.force_login(viewer)
    assert client.get("/logout/").status_code == 405
    response = client.post("/logout/")
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_the_language_switch_sets_traditional_chinese(client, viewer):
    client.force_login(viewer)
    response = client.post("/i18n/setlang/", {"language": "zh-hant", "next": "/"})
    assert response.status_code == 302
    page = client.get("/").content.decode()
    assert '<html lang="zh-hant"' in page


def test_an_unknown_language_is_ignored(client, viewer):
    client.force_login(viewer)
    client.post("/i18n/setlang/", {"language": "xx", "next": "/"})
    assert '<html lang="en"' in client.get("/").content.decode()


def test_the_admin_link_is_shown_to_staff_only(client, viewer, admin_user):
    client.force_login(viewer)
    assert "/admin/" not in client.get("/").content.decode()
    client.force_login(admin_user)
    assert "/admin/" in client.get("/").content.decode()


def test_the_api_schema_and_docs_are_served_without_a_cdn(client, viewer):
    client.force_login(viewer)
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    docs = client.get("/api/docs/").content.decode()
    assert "cdn" not in docs.lower()
    assert "/static/drf_spectacular_sidecar/" in docs


def test_a_refusal_is_a_page_of_the_portal_that_says_why_and_what_to_do(client, viewer):
    AISystemFactory(slug="loan-classifier")
    client.force_login(viewer)
    response = client.get("/systems/loan-classifier/changes/new/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "<main" in page and '<nav aria-label="Main">' in page
    assert '<h1 id="denied-title">You may not do this</h1>' in page
    assert "Viewers and business-unit leads do not open change requests." in page
    assert 'href="/my-work/">See what waits for you</a>' in page


def test_a_missing_page_is_a_page_of_the_portal(client, viewer, settings):
    settings.DEBUG = False  # in debug mode Django shows its technical page instead
    client.force_login(viewer)
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "<main" in page and '<h1 id="missing-title">Page not found</h1>' in page
    assert 'href="/">Back to the start page</a>' in page


def test_an_unknown_api_path_answers_in_the_api_error_shape(client, settings):
    settings.DEBUG = False
    response = client.get("/api/v1/systems/caf%C3%A9/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "errors": [{"field": None, "message": "Not found.", "code": "not_found"}]
    }


def test_an_unknown_page_is_the_portals_404_page(client, viewer, settings):
    settings.DEBUG = False
    client.force_login(viewer)
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()

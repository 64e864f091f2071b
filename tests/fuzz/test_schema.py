"""The served schema says what the API really answers (what the fuzzer found missing).

Vic views; the schema is read as any client reads it, from /api/schema/.
"""

import pytest

from tests.registry.factories import AISystemFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client):
    return client.get("/api/schema/?format=json").json()


def responses(schema, method, path):
    return set(schema["paths"][path][method]["responses"])


def test_a_page_past_the_end_is_a_documented_404(client, viewer, schema):
    AISystemFactory()
    client.force_login(viewer)
    response = client.get("/api/v1/systems/?page=2")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "not_found"
    for path in ("/api/v1/systems/", "/api/v1/change-requests/", "/api/v1/tokens/"):
        assert "404" in responses(schema, "get", path), path


def test_path_parameters_say_which_values_route(client, viewer, schema):
    """A value that a route's converter refuses gets Django's 404 page, never the API."""
    parameters = {
        parameter["name"]: parameter["schema"]
        for parameter in schema["paths"]["/api/v1/systems/{slug}/versions/{version}/"]["get"][
            "parameters"
        ]
    }
    assert parameters["slug"]["pattern"] == "^[-a-zA-Z0-9_]+$"
    assert parameters["version"]["pattern"] == "^[^/]+$"
    token = schema["paths"]["/api/v1/tokens/{id}/"]["delete"]["parameters"][0]["schema"]
    assert token == {"type": "integer", "minimum": 0}
    client.force_login(viewer)
    assert client.get("/api/v1/tokens/-1/").status_code == 404
    assert client.get("/api/v1/systems/caf%C3%A9/").status_code == 404


def test_every_409_the_services_raise_is_documented(schema):
    for method in ("put", "patch"):
        # A threshold from stage 3 on; a retired version.
        assert "409" in responses(schema, method, "/api/v1/systems/{slug}/metric-specs/{key}/")
        assert "409" in responses(schema, method, "/api/v1/systems/{slug}/versions/{version}/")
    # Two reports of one key at the same moment: the loser is asked to send it again.
    assert "409" in responses(schema, "post", "/api/v1/systems/{slug}/escalations/")

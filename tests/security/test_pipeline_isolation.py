"""A pipeline token of one system reads and writes nothing of another system.

The loan classifier's pipeline token, and the token of the data source that
feeds it, are sent to every API route of the fraud screen that takes a system,
a data source or one of their objects, with every method the access table
lists: each is refused (403, or 404 where the portal hides what is out of
scope) and writes nothing. The lists answer them with their own items only,
and a body that names the other system's version or metric is refused too.
The world is the access matrix's, seeded once for the module.
"""

from __future__ import annotations

import pytest
from django.core.cache import cache

from governance.models import AuditEvent, ChangeRequest
from registry.models import MetricPoint
from tests.security.access_table import TABLE, Row
from tests.security.test_access_matrix import (
    recorded_writes,
    resolver_routes,
    seeded,
    send,
)

pytestmark = pytest.mark.django_db
CREDENTIALS = ("pipeline", "source pipeline")  # both of the loan classifier
OTHER_NAME = "Fraud screen"


def scoped(route: str) -> bool:
    """An API route that takes a system, a data source, or an object of one."""
    return route.startswith("api/v1/") and (
        "<slug:slug>" in route or route.startswith("api/v1/change-requests/<int:pk>")
    )


ROWS = [row for row in TABLE if scoped(row.route)]


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    with seeded(django_db_blocker) as built:
        yield built


def test_every_scoped_api_route_is_tried():
    assert {row.route for row in ROWS} == {route for route in resolver_routes() if scoped(route)}


@pytest.mark.parametrize("credential", CREDENTIALS)
@pytest.mark.parametrize(
    "row", ROWS, ids=[f"{row.method} {row.name} of fraud-screen" for row in ROWS]
)
def test_a_pipeline_of_one_system_is_refused_everything_of_another(client, world, row, credential):
    audit_before = AuditEvent.objects.count()
    with recorded_writes() as writes:
        response = send(client, world, row, credential, world.other_values)
    assert response.status_code in (403, 404), response.content[:300]
    assert OTHER_NAME not in response.content.decode()
    assert writes == []
    assert AuditEvent.objects.count() == audit_before


def results(client, world, path: str, credential: str) -> list:
    response = send(client, world, Row("GET", "list", "", path, frozenset()), credential)
    assert response.status_code == 200, response.content[:300]
    return response.json()["results"]


def test_the_lists_answer_a_pipeline_with_its_own_items_only(client, world):
    own = world.values
    assert [s["slug"] for s in results(client, world, "/api/v1/systems/", "pipeline")] == [
        own["system"]
    ]
    assert results(client, world, "/api/v1/systems/", "source pipeline") == []
    for credential in CREDENTIALS:
        sources = results(client, world, "/api/v1/sources/", credential)
        assert [source["slug"] for source in sources] == [own["source"]]
        other = "/api/v1/sources/?system=" + world.other_values["system"]
        assert results(client, world, other, credential) == []
    changes = results(client, world, "/api/v1/change-requests/", "pipeline")
    assert changes and {change["system"] for change in changes} == {own["system"]}
    other = "/api/v1/change-requests/?system=" + world.other_values["system"]
    assert results(client, world, other, "pipeline") == []


def test_a_cached_deployment_status_is_not_served_to_another_systems_pipeline(client, world):
    cache.clear()
    status = Row("GET", "status", "", "/api/v1/systems/{system}/rollout/", frozenset())
    assert send(client, world, status, "other pipeline", world.other_values).status_code == 200
    assert send(client, world, status, "pipeline", world.other_values).status_code == 403


def _post(client, world, path: str, body: dict):
    row = Row("POST", "cross", "api/v1/", path, frozenset(), data=body)
    with recorded_writes() as writes:
        response = send(client, world, row, "pipeline")
    return response, writes


def test_a_body_naming_the_other_systems_version_or_metric_writes_nothing(client, world):
    other = world.other_values
    before = (ChangeRequest.objects.count(), MetricPoint.objects.count())
    response, writes = _post(
        client,
        world,
        "/api/v1/systems/{system}/change-requests/",
        {
            "kind": "model_update",
            "title": "Ship the other system's model",
            "description": "d",
            "rationale": "r",
            "model_version": other["version"],
        },
    )
    assert response.status_code == 400 and writes == []
    response, writes = _post(
        client,
        world,
        "/api/v1/systems/{system}/metrics/",
        {"points": [{"metric": other["metric"], "value": 0.5, "at": "2026-11-25T11:00:00Z"}]},
    )
    assert response.status_code == 400 and writes == []
    assert (ChangeRequest.objects.count(), MetricPoint.objects.count()) == before

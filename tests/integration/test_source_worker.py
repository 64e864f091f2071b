"""Data-quality checks run in a real Celery worker on Redis, after the push's commit."""

from __future__ import annotations

import json
import time

import pytest

from governance.models import Escalation
from governance.services import ownership_assign
from registry.models import SourceCheck
from registry.services import api_token_create, data_source_create
from tests.registry.factories import AISystemFactory

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def wait_for(condition, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError("the worker did not get there in time")


def test_a_pushed_profile_is_checked_by_the_worker_and_a_failure_escalates(
    worker, client, director, owner
):
    system = AISystemFactory(slug="eta-predictor")
    ownership_assign(system=system, by=director, owner=owner, budget_authority="b", reason="r")
    source = data_source_create(
        by=director,
        slug="carrier-api",
        name="Carrier API",
        kind="api",
        owner=owner,
        expected_schema={"transit_hours": "float"},
        systems=[system],
    )
    token = api_token_create(by=director, name="carrier-etl", data_source=source)[1]
    body = {
        "rows": 1200,
        # A retyped field: the schema check fails, so the worker must open an escalation.
        "fields": [{"name": "transit_hours", "type": "string", "missing_share": 0.01}],
    }
    response = client.post(
        "/api/v1/sources/carrier-api/profiles/",
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 201, response.content

    schema = wait_for(lambda: SourceCheck.objects.filter(source=source, kind="schema").first())
    assert schema.status == "fail"
    assert "retyped transit_hours (float -> string)" in schema.detail
    assert SourceCheck.objects.get(source=source, kind="freshness").status == "ok"
    escalation = wait_for(lambda: Escalation.objects.filter(system=system).first())
    assert escalation.dedup_key == "data_quality:carrier-api:schema"
    assert escalation.assignee == owner

"""GET /api/v1/systems/{slug}/rollout/: what a traffic router reads, cached, with an ETag.

The loan classifier is in Stage 4 with 1.0.0 deployed and 2.0.0 approved (see
test_rollouts for how it is built). Its router reads the status with the
system's pipeline token; Vic views; Charlie has no role. The cache is Redis,
shared with other test runs, so each test uses its own slug and clears its key.
"""

import uuid
from datetime import UTC, datetime

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.core.cache import cache

from core.roles import Role
from registry.services import api_token_create
from rollout.selectors import status_cache_key
from rollout.services import (
    cohort_approve,
    rollout_evaluate,
    rollout_pause,
    rollout_plan,
    rollout_resume,
    rollout_roll_back,
    rollout_start,
)
from tests.registry.factories import AISystemFactory, ModelVersionFactory
from tests.rollout.test_rollouts import approved_version, feed, stage_4_system

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
STAMP = "2026-11-25T12:00:00+00:00"
HOUR = 3600


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def lead(django_user_model):
    bo = django_user_model.objects.create_user(
        username="bo", password="pw", first_name="Bo", last_name="Lead"
    )
    bo.groups.add(Group.objects.get_or_create(name=Role.BUSINESS_UNIT_LEAD.value)[0])
    return bo


@pytest.fixture
def system(director, owner, lead):
    system = stage_4_system(f"loans-{uuid.uuid4().hex[:10]}", "medium", director, owner, lead)
    cache.delete(status_cache_key(system.slug))
    yield system
    cache.delete(status_cache_key(system.slug))


@pytest.fixture
def candidate(system, owner, approver):
    return approved_version(system, owner, [approver])


@pytest.fixture
def router(system):
    return api_token_create(by=None, name="router", system=system)[1]


def status(client, system, secret=None, **headers):
    if secret:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    return client.get(f"/api/v1/systems/{system.slug}/rollout/", **headers)


def body(client, system, secret) -> dict:
    response = status(client, system, secret)
    assert response.status_code == 200, response.content
    return response.json()


def plan(system, candidate, director, **overrides):
    fields = {"cohorts": [10, 25, 50, 100], "observation_seconds": HOUR, "min_points": 5}
    return rollout_plan(system=system, candidate=candidate, by=director, **(fields | overrides))


def to_awaiting(rollout, clock):
    feed(rollout, 0.95)
    clock.shift(HOUR)
    assert rollout_evaluate(rollout_id=rollout.pk) == "pass"
    rollout.refresh_from_db()
    return rollout.steps.get(index=rollout.current_index)


# --- The shape in each state -------------------------------------------------------------------


def test_without_a_rollout_the_deployed_version_gets_all_traffic(client, system, router):
    response = status(client, system, router)
    assert response.status_code == 200
    assert response.json() == {
        "state": "none",
        "version": "1.0.0",
        "previous_version": None,
        "cohort_percent": 100,
        "updated_at": None,
    }
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["ETag"].startswith('"') and len(response.headers["ETag"]) == 34


def test_a_system_with_nothing_deployed_routes_nothing(client):
    system = AISystemFactory(slug=f"fresh-{uuid.uuid4().hex[:10]}")
    secret = api_token_create(by=None, name="router", system=system)[1]
    try:
        assert body(client, system, secret) == {
            "state": "none",
            "version": None,
            "previous_version": None,
            "cohort_percent": 0,
            "updated_at": None,
        }
    finally:
        cache.delete(status_cache_key(system.slug))


def test_a_planned_rollout_gives_the_candidate_nothing_yet(
    client, system, candidate, director, router
):
    plan(system, candidate, director)
    assert body(client, system, router) == {
        "state": "planned",
        "version": "2.0.0",
        "previous_version": "1.0.0",
        "cohort_percent": 0,
        "updated_at": STAMP,
    }


def test_a_running_rollout_gives_the_candidate_its_cohort(
    client, system, candidate, director, router, clock
):
    rollout = rollout_start(rollout=plan(system, candidate, director), by=director)
    assert body(client, system, router) == {
        "state": "running",
        "version": "2.0.0",
        "previous_version": "1.0.0",
        "cohort_percent": 10,
        "updated_at": STAMP,
    }
    step = to_awaiting(rollout, clock)
    cohort_approve(step=step, by=director)
    cache.delete(status_cache_key(system.slug))  # no commit in this test: drop it by hand
    assert body(client, system, router) == {
        "state": "running",
        "version": "2.0.0",
        "previous_version": "1.0.0",
        "cohort_percent": 25,
        "updated_at": "2026-11-25T13:00:00+00:00",
    }


def test_a_paused_rollout_holds_its_cohort(client, system, candidate, director, router, clock):
    rollout = rollout_start(rollout=plan(system, candidate, director), by=director)
    clock.shift(60)
    rollout_pause(rollout=rollout, by=director, reason="Complaints")
    assert body(client, system, router) == {
        "state": "paused",
        "version": "2.0.0",
        "previous_version": "1.0.0",
        "cohort_percent": 10,
        "updated_at": "2026-11-25T12:01:00+00:00",
    }


def test_a_completed_rollout_gives_the_candidate_everything(
    client, system, candidate, director, router, clock
):
    rollout = rollout_start(rollout=plan(system, candidate, director, cohorts=[100]), by=director)
    cohort_approve(step=to_awaiting(rollout, clock), by=director)
    assert body(client, system, router) == {
        "state": "completed",
        "version": "2.0.0",
        "previous_version": "1.0.0",
        "cohort_percent": 100,
        "updated_at": "2026-11-25T13:00:00+00:00",
    }


def test_a_rolled_back_rollout_gives_the_candidate_nothing(
    client, system, candidate, director, router
):
    rollout = rollout_start(rollout=plan(system, candidate, director), by=director)
    rollout_roll_back(rollout=rollout, by=director, reason="Complaints")
    assert body(client, system, router) == {
        "state": "rolled_back",
        "version": "2.0.0",
        "previous_version": "1.0.0",
        "cohort_percent": 0,
        "updated_at": STAMP,
    }


def test_a_rehearsal_never_reaches_the_router(client, system, director, router):
    rehearsal = plan(
        system, ModelVersionFactory(system=system, version="0.9.0"), director, is_rehearsal=True
    )
    rollout_start(rollout=rehearsal, by=director)
    assert body(client, system, router)["state"] == "none"
    assert body(client, system, router)["version"] == "1.0.0"


# --- ETag and cache ------------------------------------------------------------------------------


def test_the_etag_stays_the_same_while_nothing_changes(client, system, candidate, director, router):
    plan(system, candidate, director)
    first = status(client, system, router).headers["ETag"]
    assert status(client, system, router).headers["ETag"] == first
    cache.delete(status_cache_key(system.slug))  # computed again from the database
    assert status(client, system, router).headers["ETag"] == first


@pytest.mark.parametrize("template", ["{}", "W/{}", '"other", {}', "*"])
def test_a_matching_if_none_match_is_answered_304(client, system, router, template):
    etag = status(client, system, router).headers["ETag"]
    response = status(client, system, router, HTTP_IF_NONE_MATCH=template.format(etag))
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["ETag"] == etag


def test_a_stale_etag_gets_the_new_body(
    client, system, candidate, director, router, django_capture_on_commit_callbacks
):
    old = status(client, system, router).headers["ETag"]
    with django_capture_on_commit_callbacks(execute=True):
        plan(system, candidate, director)
    response = status(client, system, router, HTTP_IF_NONE_MATCH=old)
    assert response.status_code == 200
    assert response.json()["state"] == "planned"
    assert response.headers["ETag"] != old


def test_every_transition_drops_the_cached_status_once_committed(
    client, system, candidate, director, router, clock, django_capture_on_commit_callbacks
):
    served = []

    def read():
        answer = body(client, system, router)
        served.append((answer["state"], answer["cohort_percent"]))

    read()
    with django_capture_on_commit_callbacks(execute=True):
        rollout = plan(system, candidate, director, cohorts=[10, 100])
    read()
    with django_capture_on_commit_callbacks(execute=True):
        rollout_start(rollout=rollout, by=director)
    read()
    with django_capture_on_commit_callbacks(execute=True):
        step = to_awaiting(rollout, clock)
    read()
    with django_capture_on_commit_callbacks(execute=True):
        cohort_approve(step=step, by=director)
    read()
    with django_capture_on_commit_callbacks(execute=True):
        feed(rollout, 0.1)
        assert rollout_evaluate(rollout_id=rollout.pk) == "fail"
    read()
    with django_capture_on_commit_callbacks(execute=True):
        rollout_resume(rollout=rollout, by=director, root_cause="integration", note="Fixed")
    read()
    with django_capture_on_commit_callbacks(execute=True):
        rollout_pause(rollout=rollout, by=director, reason="Complaints")
    read()
    with django_capture_on_commit_callbacks(execute=True):
        rollout_roll_back(rollout=rollout, by=director, reason="Complaints")
    read()
    assert served == [
        ("none", 100),
        ("planned", 0),
        ("running", 10),
        ("running", 10),
        ("running", 100),
        ("paused", 100),
        ("running", 100),
        ("paused", 100),
        ("rolled_back", 0),
    ]


def test_the_cached_status_is_served_until_the_transition_commits(
    client, system, candidate, director, router
):
    rollout = plan(system, candidate, director)
    assert body(client, system, router)["state"] == "planned"
    rollout_start(rollout=rollout, by=director)  # its commit (and the cache drop) never comes
    assert body(client, system, router)["state"] == "planned"


# --- Who may read it ---------------------------------------------------------------------------


def test_the_systems_own_pipeline_token_reads_it(client, system, router):
    assert status(client, system, router).status_code == 200


def test_another_systems_token_is_refused(client, system):
    other = AISystemFactory(slug=f"fraud-{uuid.uuid4().hex[:10]}")
    secret = api_token_create(by=None, name="router", system=other)[1]
    response = status(client, system, secret)
    assert response.status_code == 403
    assert "state" not in response.json()


def test_a_viewer_reads_it(client, system, viewer):
    client.force_login(viewer)
    assert status(client, system).json()["state"] == "none"


def test_an_anonymous_caller_is_asked_to_authenticate(client, system):
    response = status(client, system)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_someone_without_a_role_is_refused(client, system, outsider):
    client.force_login(outsider)
    response = status(client, system)
    assert response.status_code == 403
    assert "state" not in response.json()


def test_an_unknown_system_is_not_found(client, router, system):
    response = client.get(
        "/api/v1/systems/no-such-system/rollout/", HTTP_AUTHORIZATION=f"Bearer {router}"
    )
    assert response.status_code == 404

"""The permission test generated from access_table.TABLE: one test per route, method and actor.

Dana directs operations; Omar owns the loan classifier (and holds a personal
token); Olga owns the fraud screen; Ada approves; Bo leads the loan
classifier's business unit; Vic only views; Charlie has no role; each system
has its pipeline token. The data is seeded once for the module, inside a
transaction that every test runs in (as a savepoint, rolled back after it), so
an allowed action changes nothing for the next test. The clock is frozen.

A refused request must write nothing: the SQL it runs is recorded, and any
INSERT, UPDATE or DELETE (the session table aside) fails the test.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.shortcuts import resolve_url
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse

from core.roles import Role
from governance import services as governance
from governance.models import AuditEvent
from governance.services import escalations, webhooks
from registry.models import ApiToken
from registry.services import api_token_create
from registry.validation import ValidPoint
from registry.writer import store_points
from rollout import services as rollout
from rollout.evidence import bundle_sha256
from rollout.models import EvidencePack
from tests.registry.factories import (
    AISystemFactory,
    DataSourceFactory,
    MetricSpecFactory,
    ModelVersionFactory,
)
from tests.security.access_table import (
    ACTORS,
    ADMIN_PREFIX,
    ALLOWED,
    ANONYMOUS,
    ANY_METHOD_ROUTES,
    DIRECTOR,
    FORBIDDEN,
    HIDDEN,
    LOGIN,
    OTHER_PIPELINE,
    OWNER,
    PEOPLE_BY_ACTOR,
    PERSONAL,
    PIPELINE,
    TABLE,
    TOKENS,
    UNAUTHORIZED,
    Row,
)

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# Statements that write; "SELECT ... FOR UPDATE" locks and is not one of them.
WRITES = (
    re.compile(r'\bINSERT\s+INTO\s+"?(\w+)', re.IGNORECASE),
    re.compile(r'\bDELETE\s+FROM\s+"?(\w+)', re.IGNORECASE),
    re.compile(r'\bUPDATE\s+"?(\w+)"?\s+SET\b', re.IGNORECASE),
)
IGNORED_TABLES = {"django_session"}  # a refused request may still touch its own session
# {name}: a placeholder of the table; a JSON object inside a form field is left alone.
PLACEHOLDER = re.compile(r"\{(\w+)\}")


# --- The seeded world -------------------------------------------------------------------------


@dataclass
class World:
    """What the table's placeholders stand for, and how each actor authenticates."""

    values: dict[str, object]  # the system under test (loan-classifier)
    other_values: dict[str, object]  # the other system (fraud-screen)
    sessions: dict[str, str] = field(default_factory=dict)  # actor -> session key
    tokens: dict[str, str] = field(default_factory=dict)  # actor (or name) -> bearer secret


def _person(username: str, full_name: str, role: Role | None):
    first, _, last = full_name.partition(" ")
    user = get_user_model().objects.create_user(
        username=username, password="pw", first_name=first, last_name=last
    )
    if role:
        # get_or_create: a transactional test before this module may have flushed the groups.
        user.groups.add(Group.objects.get_or_create(name=role.value)[0])
    return user


def _system_world(slug: str, *, name: str, owner, people, metric: str, version: str) -> tuple:
    """A system with its owner, a candidate version, a metric, a source feeding it, tokens,
    one change request in each state the actions start from, and a ready evidence pack."""
    dana, ada = people["dana"], people["ada"]
    system = AISystemFactory(
        slug=slug, name=name, risk_tier="medium", stage="evaluation_infrastructure"
    )
    spec = MetricSpecFactory(system=system, key=metric, name=metric.replace("_", " ").title())
    candidate = ModelVersionFactory(system=system, version=version)
    governance.ownership_assign(system=system, by=dana, owner=owner, budget_authority="HKD 1m")
    source = DataSourceFactory(slug=f"{slug}-feed", name=f"{name} feed", systems=[system])
    secrets = {
        "pipeline": api_token_create(by=owner, name="ci", system=system)[1],
        "source": api_token_create(by=owner, name="etl", data_source=source)[1],
    }
    spare_pipeline = api_token_create(by=owner, name="nightly", system=system)[0]
    spare_source = api_token_create(by=owner, name="backfill", data_source=source)[0]

    def change(*steps):
        opened = governance.change_request_open(
            system=system,
            by=owner,
            kind="parameter_change",
            title="Raise the warning level",
            description="Quality is steadier now",
            rationale="Fewer false alarms",
            parameters={"metric_spec": metric, "warning": 0.91},
        )
        for step in steps:
            opened = step(opened)
        return opened

    def submit(cr):
        return governance.change_request_submit(change=cr, by=owner)

    def approve(cr):
        return governance.change_request_approve(change=cr, by=ada)

    def deploy(cr):
        return governance.change_request_mark_deployed(change=cr, by=owner)

    bundle = {"system": slug, "generated_at": NOW.isoformat()}
    pack = EvidencePack.objects.create(
        system=system,
        requested_by=dana,
        requested_at=NOW,
        status=EvidencePack.Status.READY,
        finished_at=NOW,
        bundle=bundle,
        html="<!doctype html><title>Evidence</title>",
        sha256=bundle_sha256(bundle),
        language="en",
    )
    values = {
        "system": slug,
        "source": source.slug,
        "version": candidate.version,
        "version_id": candidate.pk,
        "artifact_uri": candidate.artifact_uri,
        "metric": spec.key,
        "pipeline_token": spare_pipeline.pk,
        "source_token": spare_source.pk,
        "cr_draft": change().pk,
        "cr_submitted": change(submit).pk,
        "cr_approved": change(submit, approve).pk,
        "cr_deployed": change(submit, approve, deploy).pk,
        "pack": pack.pk,
    }
    return system, spec, candidate, values, secrets


def _rehearsal(system, candidate, dana, *, started: bool):
    planned = rollout.rollout_plan(
        system=system,
        candidate=candidate,
        by=dana,
        cohorts=[10, 100],
        observation_seconds=3600,
        min_points=3,
        is_rehearsal=True,
    )
    if not started:
        return planned
    return rollout.rollout_start(rollout=planned, by=dana, now=NOW - timedelta(hours=2))


def build_world() -> World:
    """Seed both systems, the people and their sessions; return what the table refers to."""
    people = {
        "dana": _person("dana", "Dana Director", Role.OPERATIONS_DIRECTOR),
        "omar": _person("omar", "Omar Owner", Role.SYSTEM_OWNER),
        "olga": _person("olga", "Olga Owner", Role.SYSTEM_OWNER),
        "ada": _person("ada", "Ada Approver", Role.APPROVER),
        "bo": _person("bo", "Bo Lead", Role.BUSINESS_UNIT_LEAD),
        "vic": _person("vic", "Vic Viewer", Role.VIEWER),
        "charlie": _person("charlie", "Charlie Nobody", None),
        "mia": _person("mia", "Mia Ops", Role.VIEWER),  # on the AI-ops staff; not an actor
    }
    dana, omar = people["dana"], people["omar"]
    system, spec, candidate, values, secrets = _system_world(
        "loan-classifier",
        name="Loan classifier",
        owner=omar,
        people=people,
        metric="output_quality",
        version="2.0.0",
    )
    _other, _spec, _candidate, other_values, other_secrets = _system_world(
        "fraud-screen",
        name="Fraud screen",
        owner=people["olga"],
        people=people,
        metric="fraud_recall",
        version="7.0.0",
    )
    member = governance.ai_ops_member_add(system=system, by=dana, user=people["mia"])
    lead = governance.business_unit_lead_add(
        system=system, by=dana, user=people["bo"], business_unit="Retail banking"
    )
    escalation = escalations.escalation_raise(
        system=system,
        source="pipeline_report",
        severity="warning",
        title="Odd input",
        dedup_key="report:odd",
        now=NOW,
    )
    hook, _secret = webhooks.webhook_create(
        system=system, by=dana, url="https://hooks.example.com/loan"
    )
    item = governance.action_item_create(
        system=system,
        by=dana,
        cause="integration",
        title="Document the CRM schema",
        due_date=(NOW + timedelta(days=14)).date(),
        owner=omar,
    )
    personal_secret = api_token_create(by=omar, name="laptop", user=omar)[1]
    spare_personal = api_token_create(by=omar, name="old laptop", user=omar)[0]

    # Rollouts: one in flight per system, so the planned and the paused one have systems of
    # their own (the pages decide by role alone, whichever system a rollout is of).
    running = _rehearsal(system, candidate, dana, started=True)
    step = running.steps.get(index=0)
    store_points(
        system_id=system.pk,
        version_id=candidate.pk,
        points=[
            ValidPoint(spec.pk, step.started_at + timedelta(minutes=m + 1), 0.95) for m in range(3)
        ],
        received_at=NOW,
    )
    assert rollout.rollout_evaluate(rollout_id=running.pk, now=NOW) == "pass"
    planned_system = AISystemFactory(slug="credit-limits", name="Credit limits")
    MetricSpecFactory(system=planned_system)
    planned = _rehearsal(
        planned_system, ModelVersionFactory(system=planned_system), dana, started=False
    )
    paused_system = AISystemFactory(slug="churn-model", name="Churn model")
    MetricSpecFactory(system=paused_system)
    paused = rollout.rollout_pause(
        rollout=_rehearsal(
            paused_system, ModelVersionFactory(system=paused_system), dana, started=True
        ),
        by=dana,
        reason="Complaints",
    )
    # Used "now": a token's use within a minute writes nothing, so a refusal writes nothing.
    ApiToken.objects.update(last_used_at=NOW)

    values |= {
        "personal_token": spare_personal.pk,
        "member": member.pk,
        "lead": lead.pk,
        "escalation": escalation.pk,
        "webhook": hook.pk,
        "item": item.pk,
        "rollout_planned": planned.pk,
        "rollout_running": running.pk,
        "rollout_paused": paused.pk,
        "step": step.pk,
        "omar_id": omar.pk,
        "vic_id": people["vic"].pk,
    }
    world = World(values=values, other_values=other_values)
    for actor, username in PEOPLE_BY_ACTOR.items():
        browser = Client()
        browser.force_login(people[username])
        world.sessions[actor] = browser.cookies[settings.SESSION_COOKIE_NAME].value
    world.tokens = {
        PIPELINE: secrets["pipeline"],
        OTHER_PIPELINE: other_secrets["pipeline"],
        PERSONAL: personal_secret,
        "source pipeline": secrets["source"],
        "other source pipeline": other_secrets["source"],
    }
    return world


@contextmanager
def seeded(django_db_blocker) -> Iterator[World]:
    """The world, on a frozen clock, in a transaction rolled back when the module is done."""
    with (
        time_machine.travel(NOW, tick=False),
        django_db_blocker.unblock(),
        transaction.atomic(),
    ):
        yield build_world()
        transaction.set_rollback(True)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    with seeded(django_db_blocker) as built:
        yield built


# --- Requests ---------------------------------------------------------------------------------


def fill(template, values: dict):
    """A path or body with its {placeholders} filled in (strings inside dicts and lists too)."""
    if isinstance(template, str):
        return PLACEHOLDER.sub(lambda match: str(values[match.group(1)]), template)
    if isinstance(template, dict):
        return {key: fill(value, values) for key, value in template.items()}
    if isinstance(template, list):
        return [fill(value, values) for value in template]
    return template


def send(client, world: World, row: Row, actor: str, values: dict | None = None):
    """The row's request, as `actor` (a session cookie, a bearer token, or nothing)."""
    values = world.values if values is None else values
    client.cookies.clear()
    headers = {}
    if actor in world.sessions:
        client.cookies[settings.SESSION_COOKIE_NAME] = world.sessions[actor]
    elif actor in world.tokens:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {world.tokens[actor]}"
    path = fill(row.path, values)
    data = fill(row.data, values) if row.data is not None else None
    if row.method == "GET":
        return client.get(path, **headers)
    if row.is_api:
        body = json.dumps(data) if data is not None else ""
        return client.generic(row.method, path, body, content_type="application/json", **headers)
    if row.method == "POST":
        return client.post(path, data or {}, **headers)
    return client.generic(row.method, path, **headers)


@contextmanager
def recorded_writes() -> Iterator[list[str]]:
    """Every INSERT, UPDATE or DELETE run inside the block (but the session's), as SQL."""
    writes: list[str] = []

    def record(execute, sql, params, many, context):
        for pattern in WRITES:
            match = pattern.search(sql)
            if match and match.group(1) not in IGNORED_TABLES:
                writes.append(sql[:200])
                break
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield writes


def is_login_redirect(response) -> bool:
    """A redirect to a login page that will bring the visitor back ("next"): log in first.

    A redirect to the login page without "next" is where logging out ends, not a refusal.
    """
    if response.status_code != 302:
        return False
    location = urlsplit(response["Location"])
    login_pages = {resolve_url(settings.LOGIN_URL), reverse("admin:login")}
    return location.path in login_pages and "next" in parse_qs(location.query)


def outcome_of(response) -> str:
    """The outcome class of a response, in the table's terms."""
    if is_login_redirect(response):
        return LOGIN
    refusals = {401: UNAUTHORIZED, 403: FORBIDDEN, 404: HIDDEN}
    if response.status_code in refusals:
        return refusals[response.status_code]
    if response.status_code == 405 or response.status_code >= 500:
        return f"status {response.status_code}"
    return ALLOWED


def describe(response) -> str:
    body = b"" if getattr(response, "streaming", False) else response.content[:300]
    return f"{response.status_code} {response.get('Location', '')} {body!r}"


# --- The generated test -----------------------------------------------------------------------


def _cell_id(row: Row, actor: str) -> str:
    expected = row.outcome(actor)
    verdict = "allowed" if expected == ALLOWED else f"refused {expected}"
    return f"{row.method} {row.name} as {actor} -> {verdict}"


CELLS = [(row, actor) for row in TABLE for actor in ACTORS]


@pytest.mark.parametrize(("row", "actor"), CELLS, ids=[_cell_id(*cell) for cell in CELLS])
def test_access(client, world, row, actor):
    expected = row.outcome(actor)
    audit_before = AuditEvent.objects.count()
    with recorded_writes() as writes:
        response = send(client, world, row, actor)
    assert outcome_of(response) == expected, describe(response)
    if expected != ALLOWED:
        assert writes == [], f"a refused request wrote: {writes}"
        assert AuditEvent.objects.count() == audit_before


# --- The table against the resolver -----------------------------------------------------------


def resolver_routes(resolver=None, prefix: str = "") -> Iterator[str]:
    """Every route the URL resolver has, as the route strings the table uses."""
    resolver = resolver or get_resolver()
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            yield from resolver_routes(pattern, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


def test_every_route_of_the_portal_has_a_row():
    routes = set(resolver_routes())
    listed = {row.route for row in TABLE}
    missing = sorted(route for route in routes - listed if not route.startswith(ADMIN_PREFIX))
    assert missing == [], f"routes without a row in access_table.TABLE: {missing}"
    assert sorted(listed - routes) == [], "rows of routes that no longer exist"
    assert {ADMIN_PREFIX, ADMIN_PREFIX + "login/"} <= listed  # the admin's routes, as one


def test_every_row_is_unique_and_its_path_resolves_to_its_route(world):
    keys = [(row.method, row.name) for row in TABLE]
    assert len(keys) == len(set(keys))
    for row in TABLE:
        path = urlsplit(fill(row.path, world.values)).path
        assert resolve(path).route == row.route, row


def test_every_method_a_route_answers_has_a_row(client, world):
    """A method the table does not list for a route is not served (405) even to a director."""
    listed: dict[str, set[str]] = {}
    sample: dict[str, Row] = {}
    for row in TABLE:
        listed.setdefault(row.route, set()).add(row.method)
        sample.setdefault(row.route, row)
    unlisted = []
    for route, methods in listed.items():
        if route in ANY_METHOD_ROUTES:
            continue
        for method in sorted(set(METHODS) - methods):
            probe = Row(method, "probe", route, sample[route].path, frozenset(), data={})
            response = send(client, world, probe, DIRECTOR)
            if response.status_code != 405:
                unlisted.append(f"{method} {route} -> {response.status_code}")
    assert unlisted == []


def test_a_personal_token_is_its_person_on_the_api_and_every_token_is_anonymous_on_pages():
    for row in TABLE:
        if row.is_api:
            if (row.method, row.name) != ("POST", "api-personal-tokens"):  # rule 4's exception
                assert row.outcome(PERSONAL) == row.outcome(OWNER), row
        else:
            for token in TOKENS:
                assert row.outcome(token) == row.outcome(ANONYMOUS), (row, token)

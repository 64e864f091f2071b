"""Schemathesis fuzzes every operation of /api/schema/ against the portal, in-process.

Dana directs operations and approves changes; she scripts with a personal
token. The loan classifier's pipeline pushes with its pipeline token. Omar
owns the system, Ada approves, Bo leads the business unit. The data is seeded
through the real services: a Stage 4 system with a running rollout, a data
source with its checks, a change request waiting for each transition, a
ready evidence pack, and a bare Stage 1 system beside them. Path parameters
(and the body fields that must name an object) are steered to those objects
often enough that the happy paths run, not only 404s.

Every response must be no 5xx, have a documented status code and content
type, and match its schema. docs/fuzzing.md says how to run it deeper.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

import pytest
import schemathesis
import time_machine
from django.contrib.auth.models import Group
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.urls import Resolver404, resolve
from hypothesis import reject
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from werkzeug.test import Client as WsgiClient

from core.roles import Role
from governance.models import ChangeRequest
from governance.services import (
    change_request_approve,
    change_request_mark_deployed,
    change_request_open,
    change_request_submit,
)
from registry.models import ApiToken, DataSource, MetricSpec, ModelVersion
from registry.services import api_token_create
from rollout.evidence_services import evidence_pack_build, evidence_pack_request
from rollout.services import rollout_start
from tests.registry.factories import AISystemFactory, MetricSpecFactory, ModelVersionFactory
from tests.rollout.test_rollouts import approved_version, plan, stage_4_system

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "") or 5)
DEEP = os.environ.get("FUZZ_DEEP", "").strip().lower() in {"1", "true", "yes", "on"}
SEED = 20261125
STEERED = 0.8  # the share of generated values replaced by a seeded object's
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_every_operation_as_a_person(case, world):
    _call(case, world, "person")


@schema.parametrize()
def test_every_operation_as_a_pipeline(case, world):
    _call(case, world, "pipeline")


def _call(case, world, who):
    if case.method == "DELETE" and str(case.path_parameters.get("id")) in world["protected"]:
        reject()  # revoking the token the fuzzer signs in with would end the run in 401s
    headers = {"Authorization": f"Bearer {world['tokens'][who]}"}
    response = case.call(headers=headers)
    if _routes(response):
        case.validate_response(response, checks=CHECKS, headers=headers)
    else:
        # A path parameter that its route's converter refuses (the schema's pattern says
        # which): Django's own 404 page answers before any API code runs.
        assert response.status_code == 404, response.status_code


def _routes(response) -> bool:
    """Whether the path sent matches a route; one that does not never reaches the API."""
    try:
        resolve(unquote(urlsplit(response.request.url).path))
    except Resolver404:
        return False
    return True


# --- The schema, steered ------------------------------------------------------------------


@pytest.fixture
def api_schema(request, world, application):
    """The schema the portal serves, run in-process against its WSGI application."""
    # Schemathesis 4.32 names each operation's report through `node._nodeid`, which
    # pytest 9.2 no longer has (it is `_id` now); giving it one keeps the reports readable.
    request.node._nodeid = request.node.nodeid
    raw = _served_schema(application, world["names"])
    loaded = schemathesis.openapi.from_dict(raw, config=_config(raw, world["names"]))
    loaded.app = application  # what schemathesis.openapi.from_wsgi sets: in-process calls
    return loaded


def _served_schema(application, names) -> dict:
    """The schema at /api/schema/, with the seeded objects as its path parameters' examples."""
    # Werkzeug's client, as Schemathesis's: Django's would reconnect close_old_connections.
    response = WsgiClient(application).get("/api/schema/", headers={"Accept": "application/json"})
    assert response.status_code == 200, response.get_data()
    raw = json.loads(response.get_data())
    for path, operations in raw["paths"].items():
        kinds = _path_names(path)
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"] in kinds:
                    values = names[kinds[parameter["name"]]]
                    parameter["examples"] = {str(value): {"value": value} for value in values}
    return raw


def _config(raw, names) -> schemathesis.Config:
    """Bounded, seeded and derandomized, with the seeded objects as fuzz dictionaries."""
    operations = []
    for path, methods in raw["paths"].items():
        for method in methods:
            bindings = {f"path.{name}": kind for name, kind in _path_names(path).items()}
            bindings |= _body_names(method.upper(), path)
            if bindings:
                operations.append(
                    {
                        # One filter: include-path with include-method would match either.
                        "include-name": f"{method.upper()} {path}",
                        "parameters": {
                            key: {"dictionary": kind, "probability": STEERED}
                            for key, kind in bindings.items()
                        },
                    }
                )
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "max-examples": EXAMPLES,
                "deterministic": True,
                "database": "none",
                # The token is ours (see _call); a generated Authorization header is noise.
                "with-security-parameters": False,
            },
            "phases": {
                # Boundary values, and each field's invalid values one by one, are
                # thousands of requests: the deep run's job.
                "coverage": {"enabled": DEEP},
                "stateful": {"enabled": False},
            },
            "dictionaries": {kind: {"values": values} for kind, values in names.items()},
            "operations": operations,
        }
    )


def _path_names(path: str) -> dict[str, str]:
    """Which kind of seeded object each path parameter of an operation names."""
    names = {}
    if path.startswith("/api/v1/systems/{slug}/"):
        names["slug"] = "system"
    elif path.startswith("/api/v1/sources/{slug}/"):
        names["slug"] = "source"
    for segment, parameter, kind in (
        ("/versions/{version}/", "version", "version"),
        ("/metric-specs/{key}/", "key", "metric"),
        ("/metrics/{metric}/", "metric", "metric"),
        ("/evidence-packs/{id}/", "id", "pack"),
    ):
        if segment in path:
            names[parameter] = kind
    if "/tokens/{id}/" in path:
        names["id"] = {"system": "system-token", "source": "source-token"}.get(
            names.get("slug", ""), "personal-token"
        )
    if path.startswith("/api/v1/change-requests/{id}/"):
        action = path.removeprefix("/api/v1/change-requests/{id}/").strip("/")
        names["id"] = f"change-{action}" if action else "change"
    return names


def _body_names(method: str, path: str) -> dict[str, str]:
    """The body (and query) fields that must name a seeded object to get past validation."""
    names = {}
    if method in ("PUT", "PATCH") and path.count("/") == 5:  # /api/v1/<things>/{slug}/
        names["body.slug"] = _path_names(path)["slug"]  # a slug never changes
    if path.startswith("/api/v1/sources/") and method in ("POST", "PUT", "PATCH"):
        names |= {"body.systems[*]": "system", "body.owner": "person"}
    if method == "PUT" and path.endswith("/metric-specs/{key}/"):
        names["body.key"] = "metric"
    if method in ("PUT", "PATCH") and path.endswith("/versions/{version}/"):
        names["body.version"] = "version"
    if path.endswith("/metrics/"):
        names |= {"body.points[*].metric": "metric", "body.model_version": "version"}
    if method == "POST" and path.endswith("/change-requests/"):
        names["body.model_version"] = "version"
    if path.endswith("/series/"):
        names["query.version"] = "version"
    return names


# --- The portal, seeded -------------------------------------------------------------------


@pytest.fixture
def application(settings):
    # What django.test.Client does: a request must not close the test's connection.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    # Hundreds of requests a minute: 429 is not what this test is about.
    settings.API_TOKEN_RATE_LIMIT_PER_MINUTE = 1_000_000
    yield get_wsgi_application()
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def world(application, director, owner, approver, django_user_model):
    """The seeded portal, its two tokens, and the values that name its objects."""
    with time_machine.travel(NOW, tick=False):
        return _seed(director, owner, approver, django_user_model)


def _seed(director, owner, approver, django_user_model):
    lead = django_user_model.objects.create_user(username="bo", password="pw")
    lead.groups.add(Group.objects.get_or_create(name=Role.BUSINESS_UNIT_LEAD.value)[0])
    director.groups.add(Group.objects.get_or_create(name=Role.APPROVER.value)[0])
    system = stage_4_system("loan-classifier", "medium", director, owner, lead)
    candidate = approved_version(system, owner, [approver])
    rollout_start(rollout=plan(system, candidate, director), by=director)
    # The versions and the second system that the schema's own examples name; that
    # one is in Stage 1 with nothing deployed, so the empty branches answer too.
    for version in ("2.1.0", "2.2.0"):
        ModelVersionFactory(system=system, version=version)
    bare = AISystemFactory(slug="customer-service-assistant")
    ModelVersionFactory(system=bare, version="0.1.0")
    MetricSpecFactory(system=bare, key="resolution_rate")
    MetricSpecFactory(
        system=system,
        key="latency_ms",
        kind="latency",
        direction="lower_is_better",
        warning=800,
        critical=1500,
        aggregation="p95",
    )
    changes = _changes(system, director, owner, approver)
    pack = evidence_pack_request(system=system, by=director)
    evidence_pack_build(pack_id=pack.pk)
    source = DataSource.objects.get(systems=system)
    person = api_token_create(by=director, name="dana-scripts", user=director)[1]
    pipeline = api_token_create(by=director, name="loan-ci", system=system)[1]
    api_token_create(by=None, name="from-the-cli", system=system)
    for n in range(3):  # for DELETE to revoke: never a token the fuzzer signs in with
        api_token_create(by=director, name=f"spare-{n}", user=director)
        api_token_create(by=director, name=f"spare-{n}", system=system)
        api_token_create(by=director, name=f"spare-{n}", data_source=source)
    spare = ApiToken.objects.filter(name__startswith="spare-")
    return {
        "tokens": {"person": person, "pipeline": pipeline},
        "protected": {
            str(pk)
            for pk in ApiToken.objects.exclude(name__startswith="spare-").values_list(
                "pk", flat=True
            )
        },
        "names": {
            "system": [system.slug, bare.slug],
            "source": [source.slug],
            "person": [owner.username, director.username],
            "version": sorted(set(ModelVersion.objects.values_list("version", flat=True))),
            "metric": sorted(set(MetricSpec.objects.values_list("key", flat=True))),
            "change": sorted(ChangeRequest.objects.values_list("pk", flat=True)),
            **{f"change-{action}": [change.pk] for action, change in changes.items()},
            "pack": [pack.pk],
            "system-token": sorted(spare.filter(system=system).values_list("pk", flat=True)),
            "source-token": sorted(spare.filter(data_source=source).values_list("pk", flat=True)),
            "personal-token": sorted(spare.filter(user=director).values_list("pk", flat=True)),
        },
    }


def _changes(system, director, owner, approver) -> dict[str, ChangeRequest]:
    """A change request in the state each transition starts from, one per transition."""

    def opened(by, title):
        return change_request_open(
            system=system,
            by=by,
            kind="parameter_change",
            title=title,
            description="Raise the review threshold",
            rationale="Fewer borderline loans to review",
            parameters={"review_threshold": 0.72},
        )

    def submitted(title):
        return change_request_submit(change=opened(owner, title), by=owner)

    def approved(title):
        return change_request_approve(change=submitted(title), by=approver)

    return {
        "submit": opened(director, "Dana's draft"),
        "cancel": opened(director, "Dana's second thoughts"),
        "approve": submitted("For Dana to approve"),
        "reject": submitted("For Dana to reject"),
        "deploy": approved("Approved, waiting to go live"),
        "roll-back": change_request_mark_deployed(change=approved("Live"), by=owner),
    }

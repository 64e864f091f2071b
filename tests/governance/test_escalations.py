"""The escalation path on a frozen clock: dedup, silences, levels, alert rules, pages.

Omar owns the system (level 1), Dana directs (level 2), Ada is the named
level-3 person; Vic only views.
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail

from core.errors import ApplicationError
from governance import services
from governance.models import AlertRuleState, Escalation, Notification, RoutingPolicy
from governance.services import escalations
from registry.services import api_token_create
from registry.validation import ValidPoint
from registry.writer import store_points
from tests.registry.factories import AISystemFactory, MetricSpecFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def system(director, owner, approver, clock):
    system = AISystemFactory(slug="loan-classifier", name="Loan classifier", risk_tier="medium")
    owner.email = "omar@example.com"
    owner.save()
    services.ownership_assign(system=system, by=director, owner=owner, budget_authority="HKD 1m")
    policy = escalations.routing_for(system)
    policy.level3_user = approver
    policy.save()
    return system


def raise_one(system, **overrides):
    fields = {
        "system": system,
        "source": "pipeline_report",
        "severity": "warning",
        "title": "Odd input",
        "dedup_key": "report:odd",
    } | overrides
    return escalations.escalation_raise(**fields)


def test_an_escalation_goes_to_the_owner_in_the_inbox_and_by_mail(
    system, owner, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        escalation = raise_one(system)
    assert (escalation.level, escalation.assignee, escalation.state) == (1, owner, "open")
    assert escalation.next_escalation_at == T0 + timedelta(hours=4)  # medium tier
    assert Notification.objects.get().user == owner
    assert mail.outbox[0].to == ["omar@example.com"]
    assert "Odd input" in mail.outbox[0].subject


def test_the_default_timeout_follows_the_risk_tier(clock):
    for tier, minutes in [("critical", 15), ("high", 60), ("medium", 240), ("low", 1440)]:
        system = AISystemFactory(risk_tier=tier)
        assert escalations.routing_for(system).ack_timeout_minutes == minutes


def test_a_repeat_while_open_counts_and_does_not_open_another(system, clock):
    first = raise_one(system)
    clock.shift(timedelta(minutes=5))
    again = raise_one(system, severity="critical", details={"rows": 3})
    assert again.pk == first.pk
    assert (again.occurrences, again.severity, again.last_seen) == (
        2,
        "critical",
        T0 + timedelta(minutes=5),
    )
    assert Escalation.objects.count() == 1


def test_after_resolution_the_same_key_opens_a_new_escalation(system, owner):
    first = raise_one(system)
    escalations.escalation_resolve(
        escalation=first, by=owner, note="fixed feed", root_cause="integration"
    )
    assert raise_one(system).pk != first.pk


def test_a_silence_mutes_until_it_expires_by_itself(system, owner, clock):
    escalations.silence_create(
        system=system,
        by=owner,
        matcher="report:",
        reason="vendor maintenance",
        ends_at=T0 + timedelta(hours=2),
    )
    assert raise_one(system) is None
    clock.shift(timedelta(hours=2))
    assert raise_one(system) is not None


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"reason": ""}, "reason"),
        ({"matcher": " "}, "matcher"),
        ({"ends_at": T0 - timedelta(minutes=1)}, "ends_at"),
        ({"ends_at": T0 + timedelta(days=31)}, "ends_at"),
    ],
)
def test_a_silence_needs_a_matcher_reason_and_near_expiry(system, owner, fields, field):
    values = {"matcher": "x", "reason": "why", "ends_at": T0 + timedelta(hours=1)} | fields
    with pytest.raises(ApplicationError) as error:
        escalations.silence_create(system=system, by=owner, **values)
    assert error.value.field == field


def test_a_viewer_cannot_mute(system, viewer):
    with pytest.raises(ApplicationError) as error:
        escalations.silence_create(
            system=system, by=viewer, matcher="x", reason="y", ends_at=T0 + timedelta(hours=1)
        )
    assert error.value.status == 403


def test_levels_rise_on_timeout_and_notify_the_next_level(
    system, director, approver, clock, django_capture_on_commit_callbacks
):
    escalation = raise_one(system)
    clock.shift(timedelta(minutes=239))
    assert escalations.escalations_escalate_due() == 0
    clock.shift(timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert escalations.escalations_escalate_due() == 1
    escalation.refresh_from_db()
    assert escalation.level == 2
    assert escalation.assignee == director  # the one operations director
    assert Notification.objects.filter(user=director).exists()
    clock.shift(timedelta(hours=4))
    with django_capture_on_commit_callbacks(execute=True):
        escalations.escalations_escalate_due()
    escalation.refresh_from_db()
    assert (escalation.level, escalation.assignee, escalation.next_escalation_at) == (
        3,
        approver,
        None,
    )
    assert Notification.objects.filter(user=approver).exists()
    clock.shift(timedelta(days=2))
    assert escalations.escalations_escalate_due() == 0


def test_running_the_sweep_twice_raises_once(system, clock):
    escalation = raise_one(system)
    clock.shift(timedelta(hours=4))
    assert escalations.escalations_escalate_due() == 1
    assert escalations.escalations_escalate_due() == 0
    escalation.refresh_from_db()
    assert escalation.level == 2


def test_an_acknowledged_escalation_stops_rising(system, owner, clock):
    escalation = escalations.escalation_acknowledge(escalation=raise_one(system), by=owner)
    assert (escalation.state, escalation.next_escalation_at) == ("acknowledged", None)
    clock.shift(timedelta(days=1))
    assert escalations.escalations_escalate_due() == 0
    with pytest.raises(ApplicationError) as error:
        escalations.escalation_acknowledge(escalation=escalation, by=owner)
    assert error.value.status == 409


def test_only_people_on_the_path_handle_it(system, viewer):
    escalation = raise_one(system)
    with pytest.raises(ApplicationError) as error:
        escalations.escalation_acknowledge(escalation=escalation, by=viewer)
    assert error.value.status == 403


def test_resolving_needs_a_note_and_a_root_cause(system, owner):
    escalation = raise_one(system)
    with pytest.raises(ApplicationError, match="what was done"):
        escalations.escalation_resolve(
            escalation=escalation, by=owner, note=" ", root_cause="other"
        )
    with pytest.raises(ApplicationError, match="root cause"):
        escalations.escalation_resolve(
            escalation=escalation, by=owner, note="x", root_cause="bad luck"
        )
    done = escalations.escalation_resolve(
        escalation=escalation, by=owner, note="retrained", root_cause="training_data"
    )
    assert (done.state, done.root_cause) == ("resolved", "training_data")


# --- Alert rules from the metric specs -------------------------------------------------


@pytest.fixture
def spec(system):
    return MetricSpecFactory(
        system=system,
        key="output_quality",
        warning=0.9,
        critical=0.85,
        pending_seconds=1800,
        expected_interval_seconds=3600,
    )


def push(spec, at, value):
    store_points(
        system_id=spec.system_id,
        version_id=None,
        points=[ValidPoint(metric_id=spec.pk, at=at, value=value)],
        received_at=at,
    )


def test_a_breach_must_hold_for_the_pending_duration_before_it_escalates(spec, clock):
    push(spec, T0, 0.80)
    assert escalations.metric_alerts_evaluate(spec=spec)["threshold"] == "pending"
    assert not Escalation.objects.exists()
    clock.shift(timedelta(minutes=29))
    push(spec, T0 + timedelta(minutes=29), 0.80)
    assert escalations.metric_alerts_evaluate(spec=spec)["threshold"] == "pending"
    clock.shift(timedelta(minutes=1))
    assert escalations.metric_alerts_evaluate(spec=spec)["threshold"] == "firing"
    escalation = Escalation.objects.get()
    assert (escalation.source, escalation.severity, escalation.dedup_key) == (
        "threshold_breach",
        "critical",
        "threshold:output_quality",
    )
    # Still firing on the next sweep: no second escalation, no repeat count.
    escalations.metric_alerts_evaluate(spec=spec)
    assert Escalation.objects.get().occurrences == 1


def test_a_recovered_metric_resolves_its_rule(spec, clock):
    spec.pending_seconds = 0
    spec.save()
    push(spec, T0, 0.80)
    escalations.metric_alerts_evaluate(spec=spec)
    clock.shift(timedelta(hours=1))
    push(spec, T0 + timedelta(hours=1), 0.95)
    assert escalations.metric_alerts_evaluate(spec=spec)["threshold"] == "resolved"
    # The escalation waits for a person to say what was done.
    assert Escalation.objects.get().state == "open"


def test_a_metric_that_stops_arriving_fires_no_data(spec, clock):
    push(spec, T0, 0.95)
    clock.shift(timedelta(hours=2))
    assert escalations.metric_alerts_evaluate(spec=spec)["no_data"] == "inactive"
    clock.shift(timedelta(seconds=1))
    assert escalations.metric_alerts_evaluate(spec=spec)["no_data"] == "firing"
    assert Escalation.objects.get().dedup_key == "no_data:output_quality"
    assert AlertRuleState.objects.get(kind="no_data").status == "firing"


def test_an_ingested_batch_is_evaluated_at_once(
    client, spec, clock, django_capture_on_commit_callbacks
):
    spec.pending_seconds = 0
    spec.save()
    token = api_token_create(by=None, name="p", system=spec.system)[1]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/systems/loan-classifier/metrics/",
            {"points": [{"metric": "output_quality", "value": 0.5, "at": "2026-11-25T09:59:00Z"}]},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
    assert response.status_code == 201
    assert Escalation.objects.get().severity == "critical"


# --- Pages ---------------------------------------------------------------------------------


def test_the_queue_lists_open_escalations_and_filters(client, system, viewer):
    raise_one(system)
    raise_one(system, dedup_key="report:other", title="Other thing", severity="critical")
    client.force_login(viewer)
    page = client.get("/escalations/").content.decode()
    assert "Odd input" in page and "Other thing" in page
    critical = client.get("/escalations/?severity=critical").content.decode()
    assert "Other thing" in critical and "Odd input" not in critical


def test_the_filters_swap_the_queue_alone_and_an_acknowledgement_comes_back_to_it(
    client, system, owner
):
    raise_one(system)
    raise_one(system, dedup_key="report:other", title="Other thing", severity="critical")
    client.force_login(owner)

    swap = client.get("/escalations/?severity=critical", headers={"HX-Request": "true"})
    assert "HX-Request" in swap["Vary"]
    fragment = swap.content.decode()
    assert "<html" not in fragment and "<h1>" not in fragment
    assert "Other thing" in fragment and "Odd input" not in fragment
    assert 'hx-get="/escalations/" hx-target="#escalation-results"' in fragment
    # The buttons in the list post a full form and come back to the filtered queue.
    assert 'name="next" value="/escalations/?severity=critical"' in fragment

    page = client.get("/escalations/?severity=critical").content.decode()
    assert page.startswith("<!DOCTYPE html>") and "<h1>Escalations</h1>" in page


def test_an_empty_queue_says_what_happens_next_and_where_the_closed_ones_are(
    client, system, viewer
):
    client.force_login(viewer)
    quiet = client.get("/escalations/").content.decode()
    assert "No open escalation" in quiet
    assert 'href="/escalations/?state=resolved">See resolved escalations</a>' in quiet

    raise_one(system)
    filtered = client.get("/escalations/?severity=critical").content.decode()
    assert "No escalation matches these filters" in filtered
    assert 'href="/escalations/">Clear filters</a>' in filtered


def test_the_owner_acknowledges_and_resolves_in_the_browser(client, system, owner):
    escalation = raise_one(system)
    client.force_login(owner)
    assert "Acknowledge" in client.get(f"/escalations/{escalation.pk}/").content.decode()
    client.post(f"/escalations/{escalation.pk}/acknowledge/")
    bad = client.post(f"/escalations/{escalation.pk}/resolve/", {"note": "", "root_cause": "other"})
    assert bad.status_code == 400
    client.post(f"/escalations/{escalation.pk}/resolve/", {"note": "fixed", "root_cause": "other"})
    escalation.refresh_from_db()
    assert escalation.state == "resolved"


def test_a_viewer_sees_no_actions_and_a_forged_post_is_refused(client, system, viewer):
    escalation = raise_one(system)
    client.force_login(viewer)
    assert "Acknowledge" not in client.get(f"/escalations/{escalation.pk}/").content.decode()
    assert client.post(f"/escalations/{escalation.pk}/acknowledge/").status_code == 403
    escalation.refresh_from_db()
    assert escalation.state == "open"


def test_the_inbox_shows_and_clears_notifications(
    client, system, owner, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        raise_one(system)
    client.force_login(owner)
    home = client.get("/").content.decode()
    assert 'class="badge">1' in home
    assert "Odd input" in client.get("/inbox/").content.decode()
    client.post("/inbox/read/")
    # The inbox's unread badge is gone (the escalation itself still waits in "My work").
    assert "unread</span>" not in client.get("/").content.decode()


def test_pages_need_a_role(client, outsider, system):
    client.force_login(outsider)
    assert client.get("/escalations/").status_code == 403
    assert client.get("/inbox/").status_code == 403


def test_routing_policy_is_kept(system):
    assert RoutingPolicy.objects.get(system=system).ack_timeout_minutes == 240


# --- The pipeline report API ---------------------------------------------------------------


def report(client, token, body=None, raw=None):
    return client.post(
        "/api/v1/systems/loan-classifier/escalations/",
        raw if raw is not None else body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


REPORT = {"title": "Unreadable scans", "severity": "warning", "dedup_key": "ocr:branch-0412"}


def test_a_pipeline_reports_an_edge_case_and_a_repeat_counts(client, system, owner):
    token = api_token_create(by=None, name="p", system=system)[1]
    first = report(client, token, REPORT | {"details": {"documents": 17}})
    assert first.status_code == 201, first.content
    assert first.json() | {"id": 0} == {
        "id": 0,
        "state": "open",
        "level": 1,
        "occurrences": 1,
        "silenced": False,
    }
    again = report(client, token, REPORT)
    assert again.status_code == 200
    assert again.json()["occurrences"] == 2
    escalation = Escalation.objects.get()
    assert (escalation.source, escalation.assignee) == ("pipeline_report", owner)
    assert escalation.dedup_key == "report:ocr:branch-0412"


@pytest.mark.parametrize(
    "body",
    [
        REPORT | {"severity": "catastrophic"},
        REPORT | {"title": ""},
        REPORT | {"dedup_key": "has spaces"},
        REPORT | {"details": [1, 2]},
        REPORT | {"colour": "red"},
        {"title": "only a title"},
    ],
)
def test_a_bad_report_is_400_and_writes_nothing(client, system, body):
    token = api_token_create(by=None, name="p", system=system)[1]
    response = report(client, token, body)
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["message"]
    assert not Escalation.objects.exists()


@pytest.mark.parametrize("raw", ["[]", "not json", '"x"'])
def test_a_body_that_is_not_an_object_is_400(client, system, raw):
    token = api_token_create(by=None, name="p", system=system)[1]
    assert report(client, token, raw=raw).status_code == 400
    assert not Escalation.objects.exists()


def test_a_huge_report_is_413(client, system):
    token = api_token_create(by=None, name="p", system=system)[1]
    body = REPORT | {"details": {"blob": "x" * 300_000}}
    assert report(client, token, body).status_code == 413
    assert not Escalation.objects.exists()


def test_tokens_are_checked(client, system, viewer):
    other = api_token_create(by=None, name="o", system=AISystemFactory())[1]
    assert report(client, other, REPORT).status_code == 403
    assert report(client, "agp_unknown", REPORT).status_code == 401
    personal = api_token_create(by=viewer, name="v", user=viewer)[1]
    assert report(client, personal, REPORT).status_code == 403
    assert not Escalation.objects.exists()


def test_a_silenced_report_is_accepted_but_opens_nothing(client, system, owner):
    escalations.silence_create(
        system=system,
        by=owner,
        matcher="report:ocr",
        reason="known issue",
        ends_at=T0 + timedelta(hours=1),
    )
    token = api_token_create(by=None, name="p", system=system)[1]
    response = report(client, token, REPORT)
    assert response.status_code == 200
    assert response.json()["silenced"] is True
    assert not Escalation.objects.exists()


def test_the_owner_acknowledges_in_place_from_the_queue(client, system, owner, viewer):
    escalation = raise_one(system)
    client.force_login(viewer)
    assert "Acknowledge ESC" not in client.get("/escalations/").content.decode()
    client.force_login(owner)
    assert "Acknowledge ESC" in client.get("/escalations/").content.decode()
    response = client.post(
        f"/escalations/{escalation.pk}/acknowledge/", {"next": "/escalations/?severity=warning"}
    )
    assert response["Location"] == "/escalations/?severity=warning"
    escalation.refresh_from_db()
    assert escalation.state == "acknowledged"


def test_next_never_leaves_the_portal(client, system, owner):
    escalation = raise_one(system)
    client.force_login(owner)
    response = client.post(
        f"/escalations/{escalation.pk}/acknowledge/", {"next": "https://evil.example/"}
    )
    assert response["Location"] == f"/escalations/{escalation.pk}/"


def test_the_owner_resolves_in_place_from_the_queue(client, system, owner):
    escalation = raise_one(system)
    client.force_login(owner)
    assert "Resolve…" in client.get("/escalations/").content.decode()
    response = client.post(
        f"/escalations/{escalation.pk}/resolve/",
        {"note": "re-scanned", "root_cause": "integration", "next": "/escalations/"},
    )
    assert response["Location"] == "/escalations/"
    escalation.refresh_from_db()
    assert (escalation.state, escalation.root_cause) == ("resolved", "integration")


def test_the_owner_mutes_alerts_like_this_one_from_its_page(client, system, owner, clock):
    escalation = raise_one(system)
    client.force_login(owner)
    client.post(
        f"/escalations/{escalation.pk}/silence/",
        {"matcher": "report:", "reason": "vendor maintenance", "hours": 2},
    )
    assert "vendor maintenance" in client.get(f"/escalations/{escalation.pk}/").content.decode()
    assert raise_one(system, dedup_key="report:new") is None


def test_a_viewer_cannot_mute_in_the_browser(client, system, viewer):
    escalation = raise_one(system)
    client.force_login(viewer)
    response = client.post(
        f"/escalations/{escalation.pk}/silence/", {"matcher": "report:", "reason": "x", "hours": 2}
    )
    assert response.status_code == 403
    assert not system.silences.exists()

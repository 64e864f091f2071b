"""The rollout pages: stage and readiness, the rollout lists, a rollout and its decisions.

Dana directs operations; Omar owns the loan classifier; Ada approves changes;
Bo leads the business unit; Vic only views; Charlie has no role. Most rollouts
here are rehearsals (they route no traffic, so they start in any stage). The
clock is frozen; tests move it instead of waiting. Every refusal also proves
nothing was written: the audit trail, which every service appends to, does
not grow.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.roles import Role
from governance.models import AuditEvent, Escalation
from governance.services import (
    accountability_sign,
    ai_ops_member_add,
    briefing_attest,
    business_unit_lead_add,
    ownership_assign,
)
from governance.services.escalations import escalation_acknowledge
from registry.models import AISystem
from registry.services import data_source_evaluate, delivery_record, integration_run_record
from registry.validation import ValidPoint
from registry.writer import store_points
from rollout.models import CohortApproval, ManualIntervention, RollbackPlan, Rollout, Waiver
from rollout.services import (
    alert_test_send,
    cohort_approve,
    rollback_plan_save,
    rollout_evaluate,
    rollout_pause,
    rollout_plan,
    rollout_resume,
    rollout_start,
)
from tests.registry.factories import (
    AISystemFactory,
    DataSourceFactory,
    MetricSpecFactory,
    ModelVersionFactory,
)

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
HOUR = 3600
ROLLOUT_ACTIONS = {
    "start": {},
    "approve": {},  # the step is filled in by the test
    "pause": {"reason": "Call-centre complaints"},
    "resume": {"root_cause": "integration", "note": "CRM schema fixed"},
    "roll-back": {"reason": "Drill", "drill": "on", "outcome": "succeeded"},
}


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def fresh_cache():
    # The deployment status is cached by slug; systems of earlier tests share slugs.
    cache.clear()


@pytest.fixture
def lead(django_user_model):
    user = django_user_model.objects.create_user(
        username="bo", password="pw", first_name="Bo", last_name="Lead"
    )
    user.groups.add(Group.objects.get_or_create(name=Role.BUSINESS_UNIT_LEAD.value)[0])
    return user


def make_system(slug="loan-classifier", **fields):
    system = AISystemFactory(slug=slug, name="Loan classifier", risk_tier="medium", **fields)
    MetricSpecFactory(system=system, key="output_quality", name="Output quality")
    return system


@pytest.fixture
def system():
    return make_system()


@pytest.fixture
def candidate(system):
    return ModelVersionFactory(system=system, version="2.0.0")


def rehearsal(system, candidate, director, *, cohorts=(10, 25, 50, 100)) -> Rollout:
    return rollout_plan(
        system=system,
        candidate=candidate,
        by=director,
        cohorts=list(cohorts),
        observation_seconds=HOUR,
        min_points=3,
        is_rehearsal=True,
    )


@pytest.fixture
def planned(system, candidate, director):
    return rehearsal(system, candidate, director)


@pytest.fixture
def running(planned, director):
    return rollout_start(rollout=planned, by=director)


def current(rollout):
    rollout.refresh_from_db()
    return rollout.steps.get(index=rollout.current_index)


def feed(rollout, value, *, count=3):
    """`count` points of the candidate, one a minute from the current cohort's start."""
    since = current(rollout).started_at
    spec = rollout.system.metric_specs.get(key="output_quality")
    store_points(
        system_id=rollout.system_id,
        version_id=rollout.candidate_id,
        points=[ValidPoint(spec.pk, since + timedelta(minutes=m + 1), value) for m in range(count)],
        received_at=datetime.now(UTC),
    )


def make_awaiting(rollout, clock):
    """Good points for the current cohort, the observation lapses, the checkpoint passes."""
    feed(rollout, 0.95)
    clock.shift(HOUR)
    assert rollout_evaluate(rollout_id=rollout.pk) == "pass"
    return current(rollout)


@pytest.fixture
def awaiting(running, clock):
    return make_awaiting(running, clock)


def audit_count() -> int:
    return AuditEvent.objects.count()


def text(response) -> str:
    return response.content.decode()


def rollout_url(rollout, action=""):
    return f"/rollouts/{rollout.pk}/" + (f"{action}/" if action else "")


def readiness_url(system, action=""):
    return f"/systems/{system.slug}/readiness/" + (f"{action}/" if action else "")


# --- Who may read and who may act ---------------------------------------------------------


def page_urls(system, rollout):
    return [
        readiness_url(system),
        "/rollouts/",
        f"/systems/{system.slug}/rollouts/",
        rollout_url(rollout),
    ]


def test_a_viewer_reads_every_page_and_sees_no_action(client, viewer, awaiting):
    rollout = awaiting.rollout
    client.force_login(viewer)
    for url in page_urls(rollout.system, rollout):
        response = client.get(url)
        assert response.status_code == 200, url
        page = text(response)
        assert "What you can do" not in page
        assert '<form method="post" action="/systems/' not in page, url
        assert rollout_url(rollout, "approve") not in page
    detail = text(client.get(rollout_url(rollout)))
    assert "Awaiting approval" in detail and "0 of 1 needed" in detail
    readiness = text(client.get(readiness_url(rollout.system)))
    for action in ("advance", "step-back", "waiver", "test-alert", "intervention", "rollback-plan"):
        assert readiness_url(rollout.system, action) not in readiness
    assert "Plan a rollout" not in text(client.get(f"/systems/{rollout.system.slug}/rollouts/"))


@pytest.mark.parametrize("persona", ["viewer", "owner", "approver"])
@pytest.mark.parametrize("action", list(ROLLOUT_ACTIONS))
def test_only_directors_decide_on_rollouts_and_a_forged_post_is_403(
    client, request, persona, action, awaiting
):
    rollout = awaiting.rollout
    before = (audit_count(), CohortApproval.objects.count(), current(rollout).state)
    client.force_login(request.getfixturevalue(persona))
    page = text(client.get(rollout_url(rollout)))
    assert rollout_url(rollout, action) not in page
    assert client.get(rollout_url(rollout, action)).status_code == 403
    data = ROLLOUT_ACTIONS[action] | {"confirm": "1", "step": awaiting.pk}
    assert client.post(rollout_url(rollout, action), data).status_code == 403
    rollout.refresh_from_db()
    assert rollout.state == "running"
    assert (audit_count(), CohortApproval.objects.count(), current(rollout).state) == before


@pytest.mark.parametrize(
    ("action", "data"),
    [
        ("advance", {}),
        ("step-back", {"reason": "Redo the data flow"}),
        ("waiver", {"unmet": ["rollback"], "justification": "Drill on Monday"}),
        ("test-alert", {}),
        ("intervention", {"kind": "data_correction", "note": "Fixed by hand"}),
        ("rollback-plan", {"text": "Router to 0%"}),
    ],
)
def test_a_viewer_posting_a_readiness_decision_gets_403_and_nothing_changes(
    client, viewer, system, action, data
):
    AISystem.objects.filter(pk=system.pk).update(stage="evaluation_infrastructure")
    before = audit_count()
    client.force_login(viewer)
    assert client.post(readiness_url(system, action), data | {"confirm": "1"}).status_code == 403
    system.refresh_from_db()
    assert system.stage == "evaluation_infrastructure"
    assert audit_count() == before
    assert not Escalation.objects.exists()
    assert not Waiver.objects.exists() and not RollbackPlan.objects.exists()
    assert not ManualIntervention.objects.exists()


def test_a_viewer_posting_a_plan_gets_403_and_nothing_is_written(client, viewer, system, candidate):
    client.force_login(viewer)
    response = client.post(
        f"/systems/{system.slug}/rollouts/",
        {
            "candidate": candidate.pk,
            "cohorts": "10, 100",
            "observation_hours": "1",
            "min_points": 3,
        },
    )
    assert response.status_code == 403
    assert not Rollout.objects.exists()


def test_someone_without_a_role_gets_the_no_role_page(client, outsider, running):
    client.force_login(outsider)
    for url in [*page_urls(running.system, running), rollout_url(running, "pause")]:
        response = client.get(url)
        assert response.status_code == 403, url
        assert "You need a role" in text(response)
    assert client.post(
        rollout_url(running, "pause"), {"reason": "x", "confirm": "1"}
    ).status_code == (403)
    running.refresh_from_db()
    assert running.state == "running"


def test_anonymous_visitors_are_sent_to_log_in(client, running):
    for url in [*page_urls(running.system, running), rollout_url(running, "start")]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/")


def test_the_system_tabs_lead_to_stage_and_rollouts(client, viewer, system):
    client.force_login(viewer)
    page = text(client.get(f"/systems/{system.slug}/"))
    assert f'href="/systems/{system.slug}/readiness/"' in page
    assert f'href="/systems/{system.slug}/rollouts/"' in page
    assert "Stage and readiness" in page


# --- Stage and readiness ------------------------------------------------------------------


def test_the_readiness_page_shows_the_tracker_all_seven_indicators_and_the_verdict(
    client, viewer, system
):
    client.force_login(viewer)
    response = client.get(readiness_url(system))
    page = text(response)
    for key in (
        "pipeline_uptime",
        "output_quality",
        "integration_testing",
        "ownership",
        "monitoring",
        "rollback",
        "briefings",
    ):
        assert f'data-indicator="{key}"' in page
    assert len(response.context["indicators"]) == 7
    assert 'data-verdict="defer"' in page and "no waiver can override it" in page
    assert "Not met" in page and "Window" in page and "Threshold" in page
    # The tracker: stage 1 is current, the others not started, in words and icons.
    assert 'aria-current="step"' in page and "Current stage" in page and "Not started" in page
    assert "Data pipelines registered and delivering" in page
    assert 'href="/data-quality/"' in page


def test_advancing_asks_first_and_a_refusal_is_shown_as_a_message(client, director, system):
    client.force_login(director)
    page = text(client.get(readiness_url(system)))
    assert readiness_url(system, "advance") in page
    before = audit_count()
    confirm = client.get(readiness_url(system, "advance"))
    assert confirm.status_code == 200
    assert "Advance Loan classifier to 2 · Evaluation infrastructure?" in text(confirm)
    assert client.post(readiness_url(system, "advance")).status_code == 200  # still asking
    assert audit_count() == before

    response = client.post(readiness_url(system, "advance"), {"confirm": "1"})
    assert response.status_code == 409
    assert "Not every exit criterion holds" in text(response)
    system.refresh_from_db()
    assert system.stage == "operational_architecture"
    assert audit_count() == before


def test_a_director_steps_a_system_back_with_a_reason(client, director, system):
    AISystem.objects.filter(pk=system.pk).update(stage="evaluation_infrastructure")
    client.force_login(director)
    assert client.get(readiness_url(system, "step-back")).status_code == 200
    response = client.post(readiness_url(system, "step-back"), {"reason": " ", "confirm": "1"})
    assert response.status_code == 400 and "This field is required." in text(response)
    system.refresh_from_db()
    assert system.stage == "evaluation_infrastructure"

    response = client.post(
        readiness_url(system, "step-back"), {"reason": "Sources undocumented", "confirm": "1"}
    )
    assert response.status_code == 302
    system.refresh_from_db()
    assert system.stage == "operational_architecture"
    assert "Moved back one stage." in text(client.get(readiness_url(system)))
    # Stage 1 has nothing before it: said on the page, not a server error.
    response = client.get(readiness_url(system, "step-back"))
    assert response.status_code == 409 and "Stage 1 is the first stage." in text(response)


@pytest.fixture
def conditional(director, owner, lead):
    """Stage 4, every indicator met but the rollback drill: conditional, no waiver yet."""
    system = make_system("card-screener", stage="staged_rollout")
    quality = system.metric_specs.get()
    source = DataSourceFactory(systems=[system], owner=owner, expected_interval_seconds=30 * 86400)
    delivery_record(source=source, body={"at": "2026-10-27T12:00:00Z"}, by=None)
    integration_run_record(source=source, body={"passed": 500, "failed": 0}, by=None)
    data_source_evaluate(source_id=source.pk)
    store_points(
        system_id=system.pk,
        version_id=None,
        points=[ValidPoint(quality.pk, NOW - timedelta(days=d, hours=1), 0.95) for d in range(16)],
        received_at=NOW,
    )
    ownership_assign(system=system, by=director, owner=owner, budget_authority="EUR 250k")
    accountability_sign(system=system, by=owner)
    ai_ops_member_add(system=system, by=director, user=owner)
    escalation_acknowledge(escalation=alert_test_send(system=system, by=owner), by=owner)
    rollback_plan_save(system=system, by=owner, text="Set the router share to 0%.")
    bu_lead = business_unit_lead_add(system=system, by=director, user=lead, business_unit="Retail")
    briefing_attest(lead=bu_lead, by=lead)
    return system


def test_a_director_waives_a_conditional_verdict_ticking_each_unmet_indicator(
    client, director, conditional
):
    client.force_login(director)
    page = text(client.get(readiness_url(conditional)))
    assert 'data-verdict="conditional"' in page
    assert 'name="unmet" value="rollback"' in page
    assert "6. Rollback procedure documented and successfully tested" in page

    # Not ticked: refused in place, on the readiness page itself.
    response = client.post(readiness_url(conditional, "waiver"), {"justification": "Monday"})
    assert response.status_code == 400
    assert "This field is required." in text(response) and 'data-indicator="rollback"' in text(
        response
    )
    data = {"unmet": ["rollback"], "justification": "The drill runs on Monday."}
    confirm = client.post(readiness_url(conditional, "waiver"), data)
    assert confirm.status_code == 200
    assert "Grant a waiver for Loan classifier?" in text(confirm)
    assert not Waiver.objects.exists()

    response = client.post(readiness_url(conditional, "waiver"), data | {"confirm": "1"})
    assert response.status_code == 302
    waiver = Waiver.objects.get()
    assert (waiver.unmet, waiver.granted_by) == (["rollback"], director)
    page = text(client.get(readiness_url(conditional)))
    assert "Waiver recorded." in page and "A waiver naming exactly these indicators stands." in page


def test_no_waiver_form_on_a_defer_verdict_and_a_forged_one_is_refused(client, director, system):
    client.force_login(director)
    page = text(client.get(readiness_url(system)))
    assert readiness_url(system, "waiver") not in page
    response = client.get(readiness_url(system, "waiver"))
    assert response.status_code == 409 and "no waiver can override it" in text(response)
    response = client.post(
        readiness_url(system, "waiver"),
        {"unmet": ["rollback"], "justification": "Please", "confirm": "1"},
    )
    assert response.status_code == 409 and "no waiver can override it" in text(response)
    assert not Waiver.objects.exists()


def test_an_owner_sends_a_test_alert_through_the_confirmation_and_sees_it_pending(
    client, owner, system
):
    client.force_login(owner)
    assert "Send a test alert…" in text(client.get(readiness_url(system)))
    confirm = client.post(readiness_url(system, "test-alert"))
    assert confirm.status_code == 200 and "Send a test alert for Loan classifier?" in text(confirm)
    assert not Escalation.objects.exists()

    assert client.post(readiness_url(system, "test-alert"), {"confirm": "1"}).status_code == 302
    alert = Escalation.objects.get(is_test=True)
    page = text(client.get(readiness_url(system)))
    assert f"Test alert ESC-{alert.pk}" in page and "waits for its acknowledgement" in page
    assert "Send a test alert…" not in page
    response = client.post(readiness_url(system, "test-alert"), {"confirm": "1"})
    assert response.status_code == 409 and "still waits for its acknowledgement" in text(response)
    assert Escalation.objects.count() == 1


def test_an_owner_writes_the_rollback_plan_and_records_an_intervention(client, owner, system):
    client.force_login(owner)
    response = client.post(readiness_url(system, "rollback-plan"), {"text": "  "})
    assert response.status_code == 400 and "This field is required." in text(response)
    assert not RollbackPlan.objects.exists()
    response = client.post(readiness_url(system, "rollback-plan"), {"text": "Router to 0%."})
    assert response.status_code == 302
    assert RollbackPlan.objects.get().text == "Router to 0%."

    data = {"kind": "data_correction", "note": "Fixed 12 rows by hand"}
    confirm = client.post(readiness_url(system, "intervention"), data)
    assert "restarts the 14-day count" in text(confirm)
    assert not ManualIntervention.objects.exists()
    client.post(readiness_url(system, "intervention"), data | {"confirm": "1"})
    assert ManualIntervention.objects.get().note == "Fixed 12 rows by hand"
    assert "Fixed 12 rows by hand" in text(client.get(readiness_url(system)))


# --- Rollout lists and plans --------------------------------------------------------------


def test_directors_see_the_cohorts_awaiting_them_first(client, director, viewer, awaiting):
    client.force_login(director)
    page = text(client.get("/rollouts/"))
    assert "1 cohort awaits your approval" in page
    assert page.index("awaits your approval") < page.index("1 rollout, newest first")
    assert rollout_url(awaiting.rollout, "approve") in page
    client.force_login(viewer)
    assert "awaits your approval" not in text(client.get("/rollouts/"))


def test_the_list_filters_by_state_and_pages_by_25(client, viewer, director, candidate):
    system = candidate.system
    for number in range(26):
        rollout = rehearsal(system, candidate, director)
        Rollout.objects.filter(pk=rollout.pk).update(state="rolled_back" if number else "completed")
    client.force_login(viewer)
    first = client.get("/rollouts/")
    assert len(first.context["page"].object_list) == 25 and "page=2" in text(first)
    completed = client.get("/rollouts/?state=completed")
    assert completed.context["page"].paginator.count == 1
    assert client.get(f"/systems/{system.slug}/rollouts/?state=bogus").context["page"] is None


def test_the_state_filter_swaps_the_list_alone_and_the_same_url_is_the_page(
    client, director, awaiting
):
    client.force_login(director)
    swap = client.get("/rollouts/?state=running", headers={"HX-Request": "true"})
    assert "HX-Request" in swap["Vary"]
    fragment = swap.content.decode()
    assert "<html" not in fragment and "awaits your approval" not in fragment
    assert "1 rollout, newest first" in fragment
    assert 'hx-get="/rollouts/" hx-target="#rollout-results"' in fragment

    page = text(client.get("/rollouts/?state=running"))
    assert "1 cohort awaits your approval" in page and "1 rollout, newest first" in page


def plan_data(candidate, /, **overrides):
    return {
        "candidate": candidate.pk,
        "cohorts": "10, 25, 50, 100",
        "observation_hours": "2",
        "min_points": "5",
        "is_rehearsal": "on",
    } | overrides


def test_a_director_plans_a_rollout_with_the_tier_default_shown(client, director, candidate):
    system = candidate.system
    client.force_login(director)
    page = text(client.get(f"/systems/{system.slug}/rollouts/"))
    assert "Plan a rollout" in page and "The default for a medium-tier system is 72 hours." in page
    assert 'value="10, 25, 50, 100"' in page and "Output quality (≥ 0.8)" in page
    response = client.post(f"/systems/{system.slug}/rollouts/", plan_data(candidate))
    rollout = Rollout.objects.get()
    assert response.status_code == 302 and response["Location"] == rollout_url(rollout)
    assert (rollout.cohorts, rollout.observation_seconds, rollout.min_points) == (
        [10, 25, 50, 100],
        7200,
        5,
    )
    assert rollout.is_rehearsal and rollout.state == "planned"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"cohorts": "10, 5, 100"}, "Cohorts must strictly increase."),
        ({"cohorts": "10, 50"}, "The last cohort is 100% of traffic."),
        ({"cohorts": "ten, 100"}, "Give whole percentages separated by commas"),
        ({"observation_hours": "0"}, "greater than or equal to 0.01"),
        ({"min_points": "0"}, "greater than or equal to 1"),
        ({"candidate": ""}, "This field is required."),
        # Not a rehearsal, and no approved change request: refused by the service, in place.
        ({"is_rehearsal": ""}, "The candidate is not deployable"),
    ],
)
def test_bad_plan_input_is_shown_in_place_and_nothing_is_written(
    client, director, candidate, overrides, message
):
    system = candidate.system
    before = audit_count()
    client.force_login(director)
    response = client.post(f"/systems/{system.slug}/rollouts/", plan_data(candidate, **overrides))
    assert response.status_code in (400, 409)
    page = text(response)
    assert message in page and 'role="alert"' in page and "Plan a rollout" in page
    assert Rollout.objects.count() == 0
    assert audit_count() == before


def test_no_plan_form_while_a_rollout_is_in_flight(client, director, planned):
    client.force_login(director)
    page = text(client.get(f"/systems/{planned.system.slug}/rollouts/"))
    assert "one rollout is in flight at a time" in page
    assert 'name="cohorts"' not in page


# --- A rollout and its decisions ----------------------------------------------------------


def test_the_rollout_page_shows_the_ladder_the_checkpoint_and_what_routers_see(
    client, director, awaiting
):
    rollout = awaiting.rollout
    client.force_login(director)
    response = client.get(rollout_url(rollout))
    page = text(response)
    assert 'data-cohort="10" data-state="awaiting_approval"' in page
    assert 'data-cohort="25" data-state="pending"' in page
    assert "Awaiting approval" in page and "Pending" in page
    assert "0.95" in page and "≥ 0.8" in page and "Pass" in page
    assert "0 of 1 needed" in page
    assert "routes no real traffic" in page and "data-cohort-percent>0%" in page
    assert "Approve the 10% cohort…" in page and "Pause…" in page and "Roll back…" in page
    assert "Start…" not in page and "Resume…" not in page
    config = response.context["chart_config"]
    assert config["kind"] == "rollout"
    chart = config["charts"][0]
    assert chart["key"] == "output_quality" and chart["threshold"] == 0.8
    assert chart["mean"] == pytest.approx([0.95, 0.95, 0.95])
    assert [cohort["label"] for cohort in config["cohorts"]] == ["10%"]
    assert 'id="rollout-chart-config"' in page and "<script>" not in page


def test_the_observing_cohort_says_how_long_it_still_observes(client, viewer, running, clock):
    clock.shift(20 * 60)
    client.force_login(viewer)
    page = text(client.get(rollout_url(running)))
    assert "40\xa0minutes left of the minimum observation" in page


def test_a_director_approves_a_cohort_through_the_confirmation_and_it_moves_on(
    client, director, awaiting
):
    rollout = awaiting.rollout
    client.force_login(director)
    confirm = client.get(rollout_url(rollout, "approve"))
    assert confirm.status_code == 200
    page = text(confirm)
    assert "Approve the 10% cohort of 2.0.0 on Loan classifier?" in page
    assert f'name="step" value="{awaiting.pk}"' in page and "0.95" in page
    assert client.post(rollout_url(rollout, "approve"), {"step": awaiting.pk}).status_code == 200
    assert not CohortApproval.objects.exists()  # asking is not doing

    response = client.post(
        rollout_url(rollout, "approve"), {"step": awaiting.pk, "confirm": "1"}, follow=True
    )
    assert response.redirect_chain == [(rollout_url(rollout), 302)]
    page = text(response)
    assert "Cohort approved." in page
    assert 'data-cohort="10" data-state="approved"' in page
    assert 'data-cohort="25" data-state="observing"' in page
    assert CohortApproval.objects.get().approver == director
    assert current(rollout).percent == 25


def test_a_stale_approval_is_refused_with_a_message(client, director, awaiting):
    rollout = awaiting.rollout
    cohort_approve(step=awaiting, by=director)  # someone approved it in the meantime
    client.force_login(director)
    response = client.post(rollout_url(rollout, "approve"), {"step": awaiting.pk, "confirm": "1"})
    assert response.status_code == 409
    assert "This cohort is not awaiting approval." in text(response)
    assert CohortApproval.objects.count() == 1


@pytest.mark.parametrize(
    ("fixture", "action", "message"),
    [
        ("running", "start", "This rollout is running: that cannot be done now."),
        ("running", "resume", "This rollout is running: that cannot be done now."),
        ("running", "approve", "No cohort of this rollout is awaiting approval."),
        ("planned", "pause", "This rollout is planned: that cannot be done now."),
    ],
)
def test_a_wrong_state_action_is_a_message_on_the_page_not_an_error(
    client, request, director, fixture, action, message
):
    rollout = request.getfixturevalue(fixture)
    before = audit_count()
    client.force_login(director)
    response = client.get(rollout_url(rollout, action))
    assert response.status_code == 409
    assert message in text(response) and "Rollout of 2.0.0" in text(response)
    assert audit_count() == before


def test_a_wrong_state_post_shows_the_services_refusal(client, director, running):
    client.force_login(director)
    response = client.post(rollout_url(running, "start"))  # only asking: said at once
    assert response.status_code == 409
    assert "This rollout is running: that cannot be done now." in text(response)
    response = client.post(rollout_url(running, "start"), {"confirm": "1"})
    assert response.status_code == 409
    assert "A running rollout cannot be started." in text(response)
    response = client.post(
        rollout_url(running, "resume"),
        {"root_cause": "other", "note": "nothing", "confirm": "1"},
    )
    assert response.status_code == 409 and "cannot be resumed" in text(response)
    running.refresh_from_db()
    assert running.state == "running"


@pytest.mark.parametrize("action", ["start", "pause", "resume", "roll-back"])
def test_each_action_asks_first_and_asking_writes_nothing(client, request, director, action):
    rollout = request.getfixturevalue("planned" if action == "start" else "running")
    if action == "resume":
        rollout_pause(rollout=rollout, by=director, reason="Hold")
    state, before = Rollout.objects.get(pk=rollout.pk).state, audit_count()
    client.force_login(director)
    confirm = client.get(rollout_url(rollout, action))
    assert confirm.status_code == 200
    assert "Go back without changing anything" in text(confirm)
    assert 'name="confirm" value="1"' in text(confirm)
    data = ROLLOUT_ACTIONS[action]
    assert client.post(rollout_url(rollout, action), data).status_code == 200
    assert Rollout.objects.get(pk=rollout.pk).state == state
    assert audit_count() == before

    response = client.post(rollout_url(rollout, action), data | {"confirm": "1"})
    assert response.status_code == 302
    assert Rollout.objects.get(pk=rollout.pk).state != state


def test_resuming_needs_the_root_cause_and_the_pause_keeps_it(client, director, running):
    rollout_pause(rollout=running, by=director, reason="Complaints from branch staff")
    client.force_login(director)
    response = client.post(rollout_url(running, "resume"), {"note": "Fixed", "confirm": "1"})
    assert response.status_code == 400 and "This field is required." in text(response)
    running.refresh_from_db()
    assert running.state == "paused"
    client.post(
        rollout_url(running, "resume"),
        {"root_cause": "integration", "note": "CRM schema fixed", "confirm": "1"},
    )
    page = text(client.get(rollout_url(running)))
    assert "Complaints from branch staff" in page
    assert "Integration complexity with legacy systems" in page and "CRM schema fixed" in page


def test_a_rollback_drill_through_the_pages_records_its_outcome(client, director, running):
    client.force_login(director)
    client.post(
        rollout_url(running, "roll-back"),
        {"reason": "Quarterly drill", "drill": "on", "outcome": "succeeded", "confirm": "1"},
    )
    running.refresh_from_db()
    assert (running.state, running.rollback_is_drill, running.rollback_outcome) == (
        "rolled_back",
        True,
        "succeeded",
    )
    page = text(client.get(rollout_url(running)))
    assert "A drill" in page and "Quarterly drill" in page and "What you can do" not in page


def test_an_unknown_rollout_is_404(client, viewer):
    client.force_login(viewer)
    assert client.get("/rollouts/999/").status_code == 404
    assert client.get("/rollouts/999/pause/").status_code in (403, 404)


def rollout_with_history(slug, cohorts, director, clock) -> Rollout:
    """A rehearsal with an approved first cohort, a pause and a resume behind it."""
    system = make_system(slug)
    ModelVersionFactory(system=system, version="1.0.0")
    rollout = rehearsal(
        system, ModelVersionFactory(system=system, version="2.0.0"), director, cohorts=cohorts
    )
    rollout_start(rollout=rollout, by=director)
    cohort_approve(step=make_awaiting(rollout, clock), by=director)
    rollout_pause(rollout=rollout, by=director, reason="Hold")
    rollout_resume(rollout=rollout, by=director, root_cause="other", note="Checked")
    feed(rollout, 0.9)
    return rollout


def test_the_rollout_page_costs_the_same_queries_for_4_or_8_cohorts(
    client, director, clock, django_assert_max_num_queries
):
    four = rollout_with_history("four", [10, 25, 50, 100], director, clock)
    eight = rollout_with_history("eight", [1, 2, 5, 10, 25, 50, 75, 100], director, clock)
    client.force_login(director)

    def queries_for(rollout) -> int:
        cache.clear()
        with CaptureQueriesContext(connection) as captured:
            assert client.get(rollout_url(rollout)).status_code == 200
        return len(captured)

    assert queries_for(four) == queries_for(eight)
    cache.clear()
    with django_assert_max_num_queries(16):
        client.get(rollout_url(eight))

"""My work: what waits for the signed-in person, and the count on the navigation.

Dana and Dirk direct operations, Omar owns the systems, Ada and Abe approve
changes, Bo leads the business unit, Vic only views and Charlie has no role.
The credit-limits system (high risk, Stage 4) has a rollout whose first cohort
waits for two directors. The fraud screen (high risk) has just been given to
Omar, who has not signed; Bo has not attested its briefing; Omar asked for
version 2.0.0 of it, which Ada and Abe must both approve; and Omar owns an open
action. The clock is frozen; tests move it.
"""

import re
from datetime import UTC, date, datetime

import pytest
import time_machine
from django.contrib.auth.models import AnonymousUser, Group
from django.test import RequestFactory

from core.roles import Role
from governance.services import (
    accountability_sign,
    business_unit_lead_add,
    change_request_approve,
    ownership_assign,
)
from governance.services.assessment import action_item_create
from portal.context_processors import my_work_count
from rollout.services import cohort_approve, rollout_evaluate, rollout_plan, rollout_start
from tests.registry.factories import AISystemFactory
from tests.rollout.test_rollouts import approved_version, feed, stage_4_system

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
HOUR = 3600


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def cohort(director, owner, approver, abe, lead, clock):
    """The first cohort of credit-limits' rollout, awaiting approval."""
    system = stage_4_system("credit-limits", "high", director, owner, lead)
    candidate = approved_version(system, owner, [approver, abe])
    rollout = rollout_plan(
        system=system,
        candidate=candidate,
        by=director,
        cohorts=[10, 25, 50, 100],
        observation_seconds=HOUR,
        min_points=5,
    )
    rollout = rollout_start(rollout=rollout, by=director)
    feed(rollout, 0.95)
    clock.shift(HOUR)
    assert rollout_evaluate(rollout_id=rollout.pk) == "pass"
    return rollout.steps.get(index=0)


@pytest.fixture
def fraud(director, owner, lead):
    system = AISystemFactory(slug="fraud-screen", name="Fraud screen", risk_tier="high")
    ownership_assign(system=system, by=director, owner=owner, budget_authority="EUR 100k")
    business_unit_lead_add(system=system, by=director, user=lead, business_unit="Insurance")
    return system


@pytest.fixture
def change(fraud, owner):
    approved_version(fraud, owner, [], version="2.0.0")
    return fraud.change_requests.get()


@pytest.fixture
def action(fraud, director, owner):
    return action_item_create(
        system=fraud,
        by=director,
        cause="ownership",
        title="Agree the budget line",
        due_date=date(2026, 12, 9),
        owner=owner,
    )


def work_of(client, user) -> dict:
    client.force_login(user)
    response = client.get("/my-work/")
    assert response.status_code == 200
    return response.context["work"]


def kinds(work: dict) -> set[str]:
    return {kind for kind, items in work.items() if items}


def badge(client) -> int:
    match = re.search(r'data-my-work-count="(\d+)"', client.get("/my-work/").text)
    return int(match.group(1)) if match else 0


def test_a_director_sees_the_cohort_to_approve(client, director, cohort):
    work = work_of(client, director)
    assert work["cohorts"] == [cohort]
    assert kinds(work) == {"cohorts"}
    page = client.get("/my-work/").text
    assert f'href="/rollouts/{cohort.rollout_id}/"' in page
    assert "10% of traffic" in page


def test_a_director_who_approved_no_longer_sees_the_cohort_but_the_second_does(
    client, director, dirk, cohort
):
    cohort_approve(step=cohort, by=director)
    assert work_of(client, director)["cohorts"] == []
    assert work_of(client, dirk)["cohorts"] == [cohort]


def test_only_directors_see_cohorts(client, owner, approver, lead, viewer, cohort):
    for user in (owner, approver, lead, viewer):
        assert work_of(client, user)["cohorts"] == []


def test_an_approver_sees_a_change_to_review_until_they_approved_it(client, approver, abe, change):
    work = work_of(client, approver)
    assert work["changes"] == [change]
    assert kinds(work) == {"changes"}
    assert f'href="/changes/{change.pk}/"' in client.get("/my-work/").text
    change_request_approve(change=change, by=approver, comment="ok")  # high risk: two needed
    assert work_of(client, approver)["changes"] == []
    assert work_of(client, abe)["changes"] == [change]


def test_a_requester_who_approves_does_not_review_their_own_change(client, owner, change):
    owner.groups.add(Group.objects.get_or_create(name=Role.APPROVER.value)[0])
    assert work_of(client, owner)["changes"] == []


def test_only_approvers_see_changes(client, director, owner, lead, change):
    for user in (director, owner, lead):
        assert work_of(client, user)["changes"] == []


def test_the_owner_sees_the_signature_until_they_sign(client, owner, fraud):
    work = work_of(client, owner)
    assert [ownership.system for ownership in work["signatures"]] == [fraud]
    assert 'href="/systems/fraud-screen/ownership/"' in client.get("/my-work/").text
    accountability_sign(system=fraud, by=owner)
    assert work_of(client, owner)["signatures"] == []


def test_the_lead_sees_the_attestation_and_no_one_else(client, lead, director, owner, fraud):
    work = work_of(client, lead)
    assert [item.system for item in work["attestations"]] == [fraud]
    assert kinds(work) == {"attestations"}
    for user in (director, owner):
        assert work_of(client, user)["attestations"] == []


def test_the_owner_sees_escalations_of_their_systems_and_their_actions(
    client, owner, director, cohort, action
):
    work = work_of(client, owner)
    # The test alert of credit-limits is acknowledged, not resolved: it still waits.
    assert [escalation.system.slug for escalation in work["escalations"]] == ["credit-limits"]
    assert work["actions"] == [action]
    assert 'href="/systems/fraud-screen/assessment/"' in client.get("/my-work/").text
    assert work_of(client, director)["actions"] == []


@pytest.mark.parametrize("persona", ["director", "owner", "approver", "viewer", "outsider"])
def test_the_badge_equals_the_total_of_the_page(request, client, persona, cohort, change, action):
    user = request.getfixturevalue(persona)
    work = work_of(client, user)
    total = sum(len(items) for items in work.values())
    assert badge(client) == total
    assert client.get("/my-work/").context["total"] == total


def test_with_nothing_waiting_the_page_says_what_would_appear(client, viewer):
    client.force_login(viewer)
    page = client.get("/my-work/").text
    assert "Nothing waits for you." in page
    assert "cohorts to approve" in page
    assert "data-my-work-count" not in page


def test_my_work_is_in_the_navigation(client, owner, fraud):
    client.force_login(owner)
    page = client.get("/").text
    assert 'href="/my-work/"' in page
    assert 'data-my-work-count="1"' in page  # the signature


def test_an_anonymous_visitor_is_sent_to_login(client):
    response = client.get("/my-work/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_the_count_costs_no_query_when_signed_out(django_assert_num_queries):
    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    with django_assert_num_queries(0):
        assert my_work_count(request) == {"my_work_count": 0}


def test_the_count_costs_a_fixed_number_of_queries(
    django_assert_num_queries, director, owner, cohort, change, action
):
    for user in (director, owner):
        request = RequestFactory().get("/")
        request.user = type(user).objects.get(pk=user.pk)
        with django_assert_num_queries(1):
            my_work_count(request)


def test_each_list_is_paged_by_its_own_parameter(client, director, owner, fraud, change):
    for n in range(26):
        action_item_create(
            system=fraud,
            by=director,
            cause="ownership",
            title=f"Action {n:02d}",
            due_date=date(2026, 12, 1 + n),
            owner=owner,
        )
    client.force_login(owner)

    first = client.get("/my-work/", {"escalations_page": "1"}).text
    assert "27 items wait for you." in first  # the 26 actions and the signature
    assert first.count("Action ") == 25 and "Action 25" not in first
    assert 'aria-label="Pages of the action items"' in first
    # The link to the second page keeps the other lists' parameters.
    assert 'href="?escalations_page=1&amp;actions_page=2#work-actions"' in first

    second = client.get("/my-work/", {"actions_page": "2"}).text
    assert "Action 25" in second and "Action 00" not in second
    assert "Page 2 of 2" in second
    assert second.count('class="pagination"') == 1  # the one list that has two pages

"""Rollout transitions racing each other on a real PostgreSQL, in real transactions.

Two threads start together at a barrier, each on its own connection (closed
at the end), and the database is read afterwards. Dana and Dirk direct
operations; the systems are built as in test_rollouts. The clock is frozen,
so each service gets the time it acts at explicitly.
"""

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.db import connection, transaction

from core.errors import ApplicationError
from governance.models import AuditEvent
from registry.models import MetricRollup
from registry.validation import ValidPoint
from registry.writer import store_points
from rollout.models import CohortApproval, Pause
from rollout.services import (
    cohort_approve,
    rollout_evaluate,
    rollout_plan,
    rollout_roll_back,
    rollout_start,
)
from tests.rollout.test_rollouts import approved_version, stage_4_system

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
HOUR = 3600
APPROVE_AT = NOW + timedelta(seconds=HOUR + 60)
EVALUATE_AT = APPROVE_AT + timedelta(seconds=1)


@pytest.fixture(autouse=True)
def clock():
    # time-machine moves the clock of the whole process, so the threads share it.
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def race(*calls) -> list[tuple[str, object]]:
    """Run each call in its own thread, released together; ("ok", result) or ("refused", status)."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[tuple[str, object]] = [("not run", None)] * len(calls)

    def run(index, call):
        try:
            barrier.wait(timeout=10)
            outcomes[index] = ("ok", call())
        except ApplicationError as error:
            outcomes[index] = ("refused", error.status)
        except Exception as error:  # anything else is a bug: the assertions show it
            outcomes[index] = ("error", repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


def candidate_points(rollout, value, minutes):
    spec = rollout.system.metric_specs.get(key="output_quality")
    store_points(
        system_id=rollout.system_id,
        version_id=rollout.candidate_id,
        points=[ValidPoint(spec.pk, NOW + timedelta(minutes=m), value) for m in minutes],
        received_at=NOW,
    )


def awaiting_first_approval(system, candidate, director):
    """Started at NOW, five good points, observed for an hour: cohort 10% awaits approval."""
    rollout = rollout_plan(
        system=system,
        candidate=candidate,
        by=director,
        cohorts=[10, 25, 50, 100],
        observation_seconds=HOUR,
        min_points=5,
    )
    rollout_start(rollout=rollout, by=director, now=NOW)
    candidate_points(rollout, 0.95, range(1, 6))
    assert rollout_evaluate(rollout_id=rollout.pk, now=NOW + timedelta(seconds=HOUR)) == "pass"
    step = rollout.steps.get(index=0)
    assert step.state == "awaiting_approval"
    return rollout, step


def steps_of(rollout) -> list[str]:
    return list(rollout.steps.order_by("index").values_list("state", flat=True))


def again(user):
    """The same person as a separate object, as two requests would load them."""
    return get_user_model().objects.get(pk=user.pk)


def test_an_approval_racing_a_breach_ends_in_one_consistent_state(director, owner, approver, lead):
    system = stage_4_system("loan-classifier", "medium", director, owner, lead)
    for attempt in range(3):
        candidate = approved_version(system, owner, [approver], version=f"2.0.{attempt}")
        rollout, step = awaiting_first_approval(system, candidate, director)

        def breach(rollout=rollout):
            # Fresh bad points land (and commit), then their checkpoint is judged.
            candidate_points(rollout, 0.0, range(10, 30))
            return rollout_evaluate(rollout_id=rollout.pk, now=EVALUATE_AT)

        def approve(step=step):
            return cohort_approve(step=step, by=again(director), now=APPROVE_AT).state

        approval, evaluation = race(approve, breach)
        rollout.refresh_from_db()
        first, following = rollout.steps.get(index=0), rollout.steps.get(index=1)
        if rollout.state == "paused":
            # The breach was seen first: the cohort failed and nothing advanced.
            assert approval == ("refused", 409)
            assert evaluation == ("ok", "fail")
            assert steps_of(rollout) == ["failed", "pending", "pending", "pending"]
            assert rollout.current_index == 0
            assert not CohortApproval.objects.filter(step__rollout=rollout).exists()
            assert Pause.objects.get(rollout=rollout).step == first
        else:
            # The approval came first: the breach was judged on the next cohort's own points.
            assert rollout.state == "running"
            assert approval == ("ok", "approved")
            assert evaluation == ("ok", "insufficient_data")
            assert steps_of(rollout) == ["approved", "observing", "pending", "pending"]
            assert rollout.current_index == 1
            assert CohortApproval.objects.filter(step=first).count() == 1
            assert (first.verdict, following.started_at) == ("pass", APPROVE_AT)
            assert (following.verdict, following.evaluated_at) == (
                "insufficient_data",
                EVALUATE_AT,
            )
            assert not Pause.objects.filter(rollout=rollout).exists()
        # Never both: an approved cohort on a paused rollout with the next one observing.
        assert not (rollout.state == "paused" and first.state == "approved")
        rollout_roll_back(rollout=rollout, by=director, reason="Make room for the next attempt")


def test_an_approval_committed_while_the_breach_is_in_flight_leaves_it_to_the_next_cohort(
    director, owner, approver, lead
):
    system = stage_4_system("loan-classifier", "medium", director, owner, lead)
    rollout, step = awaiting_first_approval(
        system, approved_version(system, owner, [approver]), director
    )
    outcomes: dict[str, object] = {}

    def breach():
        try:
            candidate_points(rollout, 0.0, range(10, 30))
            outcomes["breach"] = rollout_evaluate(rollout_id=rollout.pk, now=EVALUATE_AT)
        finally:
            connection.close()

    def approve():
        try:
            outcomes["approval"] = cohort_approve(step=step, by=dana, now=APPROVE_AT).state
        finally:
            connection.close()

    dana = again(director)
    breaching, approving = threading.Thread(target=breach), threading.Thread(target=approve)
    with transaction.atomic():
        # Hold the hour's rollup row: the bad points cannot commit until this block ends.
        list(MetricRollup.objects.select_for_update().filter(version_key=rollout.candidate_id))
        breaching.start()
        approving.start()
        approving.join(timeout=60)
        assert outcomes == {"approval": "approved"}
        assert breaching.is_alive()  # still waiting for the rollup row
    breaching.join(timeout=60)
    assert not breaching.is_alive()
    assert outcomes == {"approval": "approved", "breach": "insufficient_data"}
    rollout.refresh_from_db()
    assert (rollout.state, rollout.current_index) == ("running", 1)
    assert steps_of(rollout) == ["approved", "observing", "pending", "pending"]
    following = rollout.steps.get(index=1)
    assert (following.verdict, following.evaluated_at) == ("insufficient_data", EVALUATE_AT)
    assert not Pause.objects.exists()


def test_two_directors_approving_a_high_tier_cohort_at_once_advance_it_once(
    director, dirk, owner, approver, abe, lead
):
    system = stage_4_system("credit-limits", "high", director, owner, lead)
    candidate = approved_version(system, owner, [approver, abe])
    rollout, step = awaiting_first_approval(system, candidate, director)
    dana, dirk_again = again(director), again(dirk)
    outcomes = race(
        lambda: cohort_approve(step=step, by=dana, now=APPROVE_AT).state,
        lambda: cohort_approve(step=step, by=dirk_again, now=APPROVE_AT).state,
    )
    assert sorted(outcomes) == [("ok", "approved"), ("ok", "awaiting_approval")]
    rollout.refresh_from_db()
    assert (rollout.state, rollout.current_index) == ("running", 1)
    assert steps_of(rollout) == ["approved", "observing", "pending", "pending"]
    assert sorted(
        CohortApproval.objects.filter(step=step).values_list("approver__username", flat=True)
    ) == ["dana", "dirk"]
    approvals = list(
        AuditEvent.objects.filter(action="rollout.approve", object_id=str(rollout.pk))
        .order_by("id")
        .values_list("after", flat=True)
    )
    assert [a["approvals"] for a in approvals] == [1, 2]
    assert [a.get("next_cohort") for a in approvals] == [None, 25]


def test_the_same_director_approving_twice_at_once_counts_once(
    director, owner, approver, abe, lead
):
    system = stage_4_system("credit-limits", "high", director, owner, lead)
    candidate = approved_version(system, owner, [approver, abe])
    rollout, step = awaiting_first_approval(system, candidate, director)
    first, second = again(director), again(director)
    outcomes = race(
        lambda: cohort_approve(step=step, by=first, now=APPROVE_AT).state,
        lambda: cohort_approve(step=step, by=second, now=APPROVE_AT).state,
    )
    assert sorted(outcomes) == [("ok", "awaiting_approval"), ("refused", 409)]
    assert CohortApproval.objects.filter(step=step).count() == 1
    rollout.refresh_from_db()
    assert (rollout.state, rollout.current_index) == ("running", 0)
    assert steps_of(rollout) == ["awaiting_approval", "pending", "pending", "pending"]
    assert AuditEvent.objects.filter(action="rollout.approve").count() == 1

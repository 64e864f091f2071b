"""The root-cause scores on fixed evidence, and the ordering of the action plan (no database)."""

from datetime import date, timedelta

import pytest

from governance import assessment as a

TODAY = date(2026, 12, 1)


def healthy(**changes) -> a.Evidence:
    """A system with no sign of any root cause; `changes` add one."""
    fields = {
        "stage": "staged_rollout",
        "sources": 2,
        "worst_integration_error_rate": 0.0,
        "quality_metrics": 1,
        "quality_cv": 0.0,
        "required_metrics": 4,
        "reporting_metrics": 4,
        "alert_tested": True,
        "sources_evaluated": 2,
        "owner": True,
        "signed": True,
        "budget_authority": True,
        "ai_ops": 1,
        "training_rows": 250_000,
        "labelled_share": 0.6,
        "worst_psi": 0.02,
    }
    return a.Evidence(**(fields | changes))


def by_cause(scored):
    return {s.cause: s for s in scored}


def test_a_healthy_system_scores_zero_on_every_cause_from_evidence_alone():
    scored = by_cause(a.scores(healthy(), {}))
    assert {cause: s.score for cause, s in scored.items()} == dict.fromkeys(a.CAUSES, 0)
    assert all(s.questionnaire is None for s in scored.values())
    assert scored["integration"].reasons[-1] == "questionnaire not answered: the evidence alone"


def test_the_integration_score_adds_error_rate_schema_changes_and_undocumented_sources():
    # 60 x (0.5% / 1%) = 30; a removed field +20; one of two sources without schema +10.
    evidence = healthy(
        worst_integration_error_rate=0.005, schema_failures=1, sources_without_schema=1
    )
    score, reasons = a.integration_evidence(evidence)
    assert score == 60
    assert reasons == [
        "worst integration error rate 0.50%",
        "1 source(s) with a removed or retyped field",
        "1 of 2 sources without a schema",
    ]


def test_no_source_at_all_is_a_high_integration_risk():
    assert a.integration_evidence(healthy(sources=0)) == (
        60,
        ["no data source is documented: the integration is unknown"],
    )


def test_rising_breaches_and_variance_raise_the_quality_score():
    # cv 2.5% of 5% -> 20; 6 breaches of 10 -> 24; rising (4 > 2) -> 20: 64.
    evidence = healthy(quality_cv=0.025, breaches_recent=4, breaches_before=2)
    score, reasons = a.output_quality_evidence(evidence)
    assert score == 64
    assert "breaches rising: 4 in the last 15 days, 2 in the 15 before" in reasons


def test_monitoring_counts_coverage_the_test_alert_and_unchecked_sources():
    # 50 x (1 - 1/4) = 37.5; no tested alert +30; 1 of 2 sources unchecked +10: 77.5 -> 78.
    evidence = healthy(reporting_metrics=1, alert_tested=False, sources_evaluated=1)
    assert a.monitoring_evidence(evidence)[0] == 78


def test_ownership_of_an_orphan_without_staff_is_capped_at_100():
    evidence = healthy(owner=False, signed=False, budget_authority=False, ai_ops=0, orphaned=True)
    assert a.ownership_evidence(evidence)[0] == 100


@pytest.mark.parametrize(
    ("rows", "share", "psi", "expected"),
    [
        (None, None, None, 50),
        (9_999, 0.6, 0.02, 40),
        (10_000, 0.6, 0.02, 20),
        (100_000, 0.19, 0.02, 30),
        (100_000, 0.2, 0.3, 45),
        (100_000, 0.5, 0.11, 15),
    ],
)
def test_training_data_scores_at_its_boundaries(rows, share, psi, expected):
    evidence = healthy(training_rows=rows, labelled_share=share, worst_psi=psi)
    assert a.training_data_evidence(evidence)[0] == expected


def test_the_score_is_the_mean_of_questionnaire_and_evidence():
    answers = {"o_owner": 0, "o_ops": 2, "o_handover": 4, "o_escalation": 2}  # mean 2 of 4
    ownership = by_cause(a.scores(healthy(ai_ops=0), answers))["ownership"]
    assert (ownership.questionnaire, ownership.evidence, ownership.score) == (50, 20, 35)
    assert (ownership.answered, ownership.questions) == (4, 4)


def test_an_answer_outside_the_scale_is_refused():
    with pytest.raises(ValueError, match="from 0 to 4"):
        a.questionnaire_risk("ownership", {"o_owner": 5})


def test_every_cause_has_three_to_five_questions():
    for cause in a.CAUSES:
        count = sum(q.cause == cause for q in a.QUESTIONS)
        assert 3 <= count <= 5, cause


def scored(**values):
    return [a.CauseScore(cause, values.get(cause, 0), None, 0, 0, 3) for cause in a.CAUSES]


def test_the_plan_takes_the_worst_causes_first_and_only_those_at_30_or_more():
    plan = a.action_plan(
        scored(ownership=45, monitoring=70, training_data=29), stage="production", today=TODAY
    )
    assert [(p.cause, p.priority) for p in plan] == [
        ("monitoring", 1),
        ("monitoring", 2),
        ("ownership", 3),
    ]
    assert plan[0].due == TODAY + timedelta(days=14)
    assert plan[2].due == TODAY + timedelta(days=30)


def test_between_equal_scores_the_stage_decides():
    equal = scored(integration=50, ownership=50)
    assert a.action_plan(equal, stage="ownership_governance", today=TODAY)[0].cause == "ownership"
    assert (
        a.action_plan(equal, stage="operational_architecture", today=TODAY)[0].cause
        == "integration"
    )


def test_a_system_without_problems_gets_no_plan():
    assert a.action_plan(scored(), stage="staged_rollout", today=TODAY) == []

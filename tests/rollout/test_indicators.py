"""The seven readiness indicators and the verdict, at their boundaries (no database)."""

from datetime import UTC, date, datetime, timedelta

import pytest

from rollout import indicators as ind

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
TODAY = NOW.date()


def quality(days_met: int, *, threshold=0.9, gap_at: int | None = None, higher=True):
    """Daily values meeting the threshold on the last `days_met` days up to yesterday."""
    good, bad = (0.95, 0.85) if higher else (0.85, 0.95)
    daily = {}
    for back in range(1, 40):
        day = TODAY - timedelta(days=back)
        daily[day] = good if back <= days_met else bad
    if gap_at is not None:
        del daily[TODAY - timedelta(days=gap_at)]
    return ind.QualitySeries("output_quality", higher, threshold, daily)


# 1. Pipeline uptime ------------------------------------------------------------------------


def test_uptime_of_exactly_99_5_percent_is_not_met():
    # 99.5% is not "above 99.5%": 199 of 200 intervals.
    result = ind.pipeline_uptime([ind.Pipeline("crm", 199, 200)])
    assert not result.met
    assert result.value == "lowest 99.50%"


def test_uptime_just_above_99_5_percent_is_met():
    assert ind.pipeline_uptime([ind.Pipeline("crm", 9951, 10000)]).met


def test_uptime_of_99_49_percent_is_not_met():
    assert not ind.pipeline_uptime([ind.Pipeline("crm", 9949, 10000)]).met


def test_every_pipeline_must_pass():
    result = ind.pipeline_uptime([ind.Pipeline("crm", 720, 720), ind.Pipeline("erp", 700, 720)])
    assert not result.met
    assert "erp: 700 of 720 intervals (97.22%)" in result.evidence


def test_no_pipeline_is_not_met():
    result = ind.pipeline_uptime([])
    assert (result.met, result.value) == (False, "no pipeline registered")


def test_a_pipeline_without_a_whole_interval_is_not_met():
    assert not ind.pipeline_uptime([ind.Pipeline("new", 0, 0)]).met


# 2. Output quality for 14 consecutive days ----------------------------------------------------


def test_13_consecutive_days_are_not_enough():
    result = ind.output_quality(metrics=[quality(13)], interventions=[], today=TODAY)
    assert (result.met, result.value) == (False, "13 consecutive days")


def test_14_consecutive_days_are_met():
    result = ind.output_quality(metrics=[quality(14)], interventions=[], today=TODAY)
    assert (result.met, result.value) == (True, "14 consecutive days")


def test_a_manual_intervention_on_day_7_of_14_restarts_the_count():
    intervention = TODAY - timedelta(days=7)
    result = ind.output_quality(metrics=[quality(30)], interventions=[intervention], today=TODAY)
    assert not result.met
    assert result.value == "6 consecutive days"
    assert f"manual interventions in the window: {intervention.isoformat()}" in result.evidence


def test_an_intervention_before_the_window_does_not_count():
    old = TODAY - timedelta(days=15)
    assert ind.output_quality(metrics=[quality(30)], interventions=[old], today=TODAY).met


def test_a_day_without_data_breaks_the_streak():
    assert ind.quality_streak(metrics=[quality(30, gap_at=5)], interventions=[], today=TODAY) == 4


def test_every_quality_metric_must_meet_its_threshold_each_day():
    metrics = [quality(30), quality(10)]
    assert ind.quality_streak(metrics=metrics, interventions=[], today=TODAY) == 10


def test_a_value_equal_to_the_threshold_meets_it():
    series = ind.QualitySeries("q", True, 0.9, {TODAY - timedelta(days=1): 0.9})
    assert ind.quality_streak(metrics=[series], interventions=[], today=TODAY) == 1


def test_lower_is_better_metrics_meet_at_or_below_their_threshold():
    assert (
        ind.quality_streak(metrics=[quality(20, higher=False)], interventions=[], today=TODAY) == 20
    )


def test_no_quality_metric_is_not_met():
    result = ind.output_quality(metrics=[], interventions=[], today=TODAY)
    assert (result.met, result.value) == (False, "no output-quality metric declared")


def test_today_is_not_counted_since_it_is_not_over():
    series = ind.QualitySeries("q", True, 0.9, {TODAY: 0.99})
    assert ind.quality_streak(metrics=[series], interventions=[], today=TODAY) == 0


# 3. Integration testing ------------------------------------------------------------------------


def test_an_error_rate_of_0_99_percent_is_met():
    assert ind.integration_testing([ind.SourceTests("crm", 9901, 99)]).met


def test_an_error_rate_of_1_00_percent_is_not_met():
    result = ind.integration_testing([ind.SourceTests("crm", 9900, 100)])
    assert (result.met, result.value) == (False, "highest 1.00%")


def test_a_source_without_a_run_is_not_met():
    result = ind.integration_testing([ind.SourceTests("crm", 100, 0), ind.SourceTests("erp", 0, 0)])
    assert not result.met
    assert "erp: 0 failed of 0 (no run)" in result.evidence


def test_no_source_is_not_met():
    assert not ind.integration_testing([]).met


# 4. Ownership ----------------------------------------------------------------------------------


def test_ownership_needs_a_signature_budget_authority_and_an_ai_ops_member():
    full = ind.ownership(owner="omar", signed=True, budget_authority="HKD 1m", ai_ops=["vic"])
    assert full.met
    unsigned = ind.ownership(owner="omar", signed=False, budget_authority="HKD 1m", ai_ops=["vic"])
    assert not unsigned.met and "has not signed" in unsigned.value
    no_budget = ind.ownership(owner="omar", signed=True, budget_authority="", ai_ops=["vic"])
    assert not no_budget.met and "no budget authority" in no_budget.value
    unstaffed = ind.ownership(owner="omar", signed=True, budget_authority="HKD 1m", ai_ops=[])
    assert not unstaffed.met and "no AI-operations member" in unstaffed.value
    nobody = ind.ownership(owner=None, signed=False, budget_authority="", ai_ops=[])
    assert nobody.value.startswith("no owner named")


# 5. Monitoring -------------------------------------------------------------------------------


@pytest.mark.parametrize(("days", "met"), [(29, True), (30, True), (31, False)])
def test_a_test_alert_acknowledged_29_or_30_days_ago_counts_31_does_not(days, met):
    result = ind.monitoring(
        metrics={"output_quality": NOW - timedelta(hours=1)},
        alert_acknowledged_at=NOW - timedelta(days=days),
        now=NOW,
    )
    assert result.met is met


def test_a_required_metric_silent_for_over_24_hours_is_not_met():
    result = ind.monitoring(
        metrics={
            "quality": NOW - timedelta(hours=24),
            "latency": NOW - timedelta(hours=24, seconds=1),
        },
        alert_acknowledged_at=NOW,
        now=NOW,
    )
    assert not result.met
    assert result.value == "no data in 24 h: latency"


def test_monitoring_without_a_test_alert_or_metrics_is_not_met():
    assert (
        "no test alert acknowledged"
        in ind.monitoring(metrics={"q": NOW}, alert_acknowledged_at=None, now=NOW).value
    )
    assert not ind.monitoring(metrics={}, alert_acknowledged_at=NOW, now=NOW).met


# 6. Rollback ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("days", "met"), [(89, True), (90, True), (91, False)])
def test_a_rollback_drill_89_or_90_days_ago_counts_91_does_not(days, met):
    result = ind.rollback(plan_written=True, drill_succeeded_at=NOW - timedelta(days=days), now=NOW)
    assert result.met is met


def test_rollback_needs_a_written_plan_and_a_drill():
    assert not ind.rollback(plan_written=False, drill_succeeded_at=NOW, now=NOW).met
    assert ind.rollback(plan_written=True, drill_succeeded_at=None, now=NOW).value == (
        "no successful rollback drill"
    )


# 7. Briefings --------------------------------------------------------------------------------


def test_every_named_lead_must_attest():
    assert ind.briefings({"bo": True, "li": True}).met
    waiting = ind.briefings({"bo": True, "li": False})
    assert (waiting.met, waiting.value) == (False, "waiting for li")
    assert not ind.briefings({}).met


# The verdict --------------------------------------------------------------------------------


def indicators(unmet: int) -> list[ind.Indicator]:
    return [ind.Indicator(n, f"i{n}", n > unmet, "", "", "") for n in range(1, 8)]


@pytest.mark.parametrize(
    ("unmet", "verdict"),
    [(0, "ready"), (1, "conditional"), (2, "conditional"), (3, "defer"), (7, "defer")],
)
def test_the_verdict_counts_the_unmet_indicators(unmet, verdict):
    assert ind.verdict(indicators(unmet)) == verdict


def test_the_quality_window_names_whole_days():
    result = ind.output_quality(metrics=[quality(20)], interventions=[], today=date(2026, 11, 25))
    assert result.window == "14 days up to yesterday (UTC)"

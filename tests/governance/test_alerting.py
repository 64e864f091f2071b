"""Alert rules on plain data: pending duration, resolution, no data (a frozen clock)."""

from datetime import UTC, datetime, timedelta

import pytest

from governance.alerting import RuleState, breach_severity, no_data_step, threshold_step

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
INACTIVE = RuleState("inactive")


@pytest.mark.parametrize(
    ("direction", "value", "expected"),
    [
        ("higher_is_better", 0.95, ""),
        ("higher_is_better", 0.90, ""),
        ("higher_is_better", 0.899, "warning"),
        ("higher_is_better", 0.85, "warning"),
        ("higher_is_better", 0.849, "critical"),
        ("lower_is_better", 800, ""),
        ("lower_is_better", 801, "warning"),
        ("lower_is_better", 1501, "critical"),
    ],
)
def test_breach_severity_at_the_thresholds(direction, value, expected):
    thresholds = (0.90, 0.85) if direction == "higher_is_better" else (800, 1500)
    warning, critical = thresholds
    assert breach_severity(
        direction=direction, warning=warning, critical=critical, value=value
    ) == (expected)


def test_a_breach_fires_only_after_the_pending_duration():
    state = threshold_step(INACTIVE, severity="warning", pending_seconds=900, now=T0)
    assert (state.status, state.since) == ("pending", T0)
    almost = threshold_step(
        state, severity="warning", pending_seconds=900, now=T0 + timedelta(seconds=899)
    )
    assert almost.status == "pending"
    fired = threshold_step(
        almost, severity="critical", pending_seconds=900, now=T0 + timedelta(seconds=900)
    )
    assert (fired.status, fired.severity) == ("firing", "critical")


def test_a_zero_pending_duration_fires_at_once():
    assert (
        threshold_step(INACTIVE, severity="critical", pending_seconds=0, now=T0).status == "firing"
    )


def test_a_pending_breach_that_clears_goes_back_to_inactive():
    pending = threshold_step(INACTIVE, severity="warning", pending_seconds=900, now=T0)
    assert threshold_step(pending, severity="", pending_seconds=900, now=T0).status == "inactive"


def test_a_firing_rule_that_clears_resolves_then_rests():
    firing = RuleState("firing", "warning", T0)
    resolved = threshold_step(firing, severity="", pending_seconds=0, now=T0 + timedelta(hours=1))
    assert resolved.status == "resolved"
    assert threshold_step(resolved, severity="", pending_seconds=0, now=T0).status == "inactive"


def test_a_resolved_rule_breaching_again_starts_pending_anew():
    resolved = RuleState("resolved", "warning", T0)
    later = T0 + timedelta(hours=2)
    assert threshold_step(resolved, severity="warning", pending_seconds=60, now=later) == RuleState(
        "pending", "warning", later
    )


def test_no_data_fires_after_twice_the_expected_interval():
    last = T0
    ok = no_data_step(
        INACTIVE, last_at=last, expected_interval_seconds=3600, now=T0 + timedelta(hours=2)
    )
    assert ok.status == "inactive"
    silent = no_data_step(
        INACTIVE,
        last_at=last,
        expected_interval_seconds=3600,
        now=T0 + timedelta(hours=2, seconds=1),
    )
    assert silent.status == "firing"
    back = no_data_step(
        silent,
        last_at=T0 + timedelta(hours=3),
        expected_interval_seconds=3600,
        now=T0 + timedelta(hours=3),
    )
    assert back.status == "resolved"


def test_a_metric_that_never_reported_is_no_data():
    assert (
        no_data_step(INACTIVE, last_at=None, expected_interval_seconds=60, now=T0).status
        == "firing"
    )

"""Alert rules as pure functions: a threshold rule with a pending duration, and no-data.

Like Prometheus alerting rules with `for:`: a breach first makes the rule
pending; it fires only when the breach has held for the metric's pending
duration; a rule that stops breaching resolves (if it fired) or goes back to
inactive (if it was only pending).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from governance.choices import AlertStatus, Severity
from registry.choices import Direction


@dataclass(frozen=True)
class RuleState:
    """A rule's status, the severity it is at, and since when it has been pending or firing."""

    status: str
    severity: str = ""
    since: datetime | None = None


def breach_severity(*, direction: str, warning: float, critical: float, value: float) -> str:
    """ "critical", "warning" or "" for a value against the two thresholds."""
    worse = (
        (lambda v, t: v < t) if direction == Direction.HIGHER_IS_BETTER else (lambda v, t: v > t)
    )
    if worse(value, critical):
        return Severity.CRITICAL
    if worse(value, warning):
        return Severity.WARNING
    return ""


def threshold_step(
    previous: RuleState,
    *,
    severity: str,
    pending_seconds: int,
    now: datetime,
) -> RuleState:
    """The rule's next state given the current breach severity ("" for none)."""
    if not severity:
        if previous.status in (AlertStatus.FIRING,):
            return RuleState(AlertStatus.RESOLVED, previous.severity, now)
        return RuleState(AlertStatus.INACTIVE)
    if previous.status == AlertStatus.FIRING:
        return RuleState(AlertStatus.FIRING, severity, previous.since)
    since = previous.since if previous.status == AlertStatus.PENDING else now
    if now - since >= timedelta(seconds=pending_seconds):
        return RuleState(AlertStatus.FIRING, severity, now)
    return RuleState(AlertStatus.PENDING, severity, since)


def no_data_step(
    previous: RuleState,
    *,
    last_at: datetime | None,
    expected_interval_seconds: int,
    now: datetime,
) -> RuleState:
    """Firing when nothing arrived for twice the expected interval (or ever); else resolved."""
    silent = last_at is None or now - last_at > timedelta(seconds=2 * expected_interval_seconds)
    if silent:
        since = previous.since if previous.status == AlertStatus.FIRING else now
        return RuleState(AlertStatus.FIRING, Severity.WARNING, since)
    if previous.status == AlertStatus.FIRING:
        return RuleState(AlertStatus.RESOLVED, Severity.WARNING, now)
    return RuleState(AlertStatus.INACTIVE)

"""The seven readiness indicators of DOMAIN.md and the verdict, as pure functions.

Each takes plain data (no database, no clock: callers pass `now` or `today`)
and returns an `Indicator` with its measured value, threshold, window and
evidence in words, because the readiness page prints them beside each other.

Boundaries, as DOMAIN.md writes them:
1. uptime strictly above 99.5% for every pipeline, over 30 days;
2. 14 consecutive whole days (UTC) on which every quality metric's daily value
   meets its threshold, counted back from yesterday, restarted by a manual
   intervention (the day of the intervention does not count);
3. every data source's integration error rate strictly below 1%;
4. a named owner signed, with budget authority, and an AI-ops member;
5. every required metric reported within the last 24 hours, and a test alert
   acknowledged at most 30 days ago;
6. a rollback plan written, and a successful rollback drill at most 90 days ago;
7. every named business-unit lead attested the briefing.
An indicator with nothing to measure (no pipeline, no quality metric, no lead)
is unmet: readiness is shown, never assumed.

The words are translated into the active language (gettext needs no database),
so a page shows them in its reader's language.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.utils.translation import gettext as _

UPTIME_TARGET = 0.995
QUALITY_DAYS = 14
ERROR_RATE_LIMIT = 0.01
MONITORING_FRESH = timedelta(hours=24)
ALERT_TEST_VALID = timedelta(days=30)
ROLLBACK_DRILL_VALID = timedelta(days=90)
WINDOW_DAYS = 30

READY = "ready"
CONDITIONAL = "conditional"
DEFER = "defer"


@dataclass(frozen=True)
class Indicator:
    """One readiness indicator: met or not, and what it was measured on."""

    number: int
    key: str
    met: bool
    value: str
    threshold: str
    window: str
    evidence: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Pipeline:
    """A pipeline with an expected interval: intervals with data / expected intervals."""

    name: str
    up: int
    expected: int

    @property
    def share(self) -> float | None:
        return self.up / self.expected if self.expected else None


def pipeline_uptime(pipelines: Sequence[Pipeline]) -> Indicator:
    """Indicator 1: every pipeline's uptime strictly above 99.5% over the trailing 30 days."""
    evidence = [
        (
            _("%(name)s: %(up)s of %(expected)s intervals (%(share)s)")
            if p.share is not None
            else _("%(name)s: %(up)s of %(expected)s intervals (no whole interval)")
        )
        % {"name": p.name, "up": p.up, "expected": p.expected, "share": _percent(p.share)}
        for p in pipelines
    ]
    shares = [p.share for p in pipelines]
    met = bool(pipelines) and all(s is not None and s > UPTIME_TARGET for s in shares)
    known = [s for s in shares if s is not None]
    if not pipelines:
        value = _("no pipeline registered")
    elif known:
        value = _("lowest %(share)s") % {"share": _percent(min(known))}
    else:
        value = _("no whole interval yet")
    return Indicator(
        1,
        "pipeline_uptime",
        met,
        value,
        _("every pipeline above 99.5%"),
        _("30 days"),
        evidence,
    )


@dataclass(frozen=True)
class QualitySeries:
    """A quality metric's daily values and the threshold each must meet."""

    name: str
    higher_is_better: bool
    threshold: float
    daily: Mapping[date, float]

    def meets(self, day: date) -> bool:
        value = self.daily.get(day)
        if value is None:
            return False
        return value >= self.threshold if self.higher_is_better else value <= self.threshold


def quality_streak(
    *, metrics: Sequence[QualitySeries], interventions: Iterable[date], today: date
) -> int:
    """Whole days, back from yesterday, on which every metric met its threshold.

    A day without a value for some metric ends the streak; so does the latest
    manual intervention (its own day included).
    """
    if not metrics:
        return 0
    last_intervention = max(interventions, default=None)
    streak = 0
    day = today - timedelta(days=1)
    while (last_intervention is None or day > last_intervention) and all(
        metric.meets(day) for metric in metrics
    ):
        streak += 1
        day -= timedelta(days=1)
        if streak >= 366:  # a year is enough to know; stop walking
            break
    return streak


def output_quality(
    *, metrics: Sequence[QualitySeries], interventions: Iterable[date], today: date
) -> Indicator:
    """Indicator 2: 14 consecutive whole days above threshold, no manual intervention."""
    interventions = sorted(interventions)
    streak = quality_streak(metrics=metrics, interventions=interventions, today=today)
    evidence = [
        _("%(name)s: threshold %(threshold)s") % {"name": m.name, "threshold": f"{m.threshold:g}"}
        for m in metrics
    ]
    window_start = today - timedelta(days=QUALITY_DAYS)
    recent = [d for d in interventions if d >= window_start]
    if recent:
        evidence.append(
            _("manual interventions in the window: %(days)s")
            % {"days": ", ".join(d.isoformat() for d in recent)}
        )
    return Indicator(
        2,
        "output_quality",
        bool(metrics) and streak >= QUALITY_DAYS,
        _("%(days)s consecutive days") % {"days": streak}
        if metrics
        else _("no output-quality metric declared"),
        _("%(days)s consecutive days, no manual intervention") % {"days": QUALITY_DAYS},
        _("%(days)s days up to yesterday (UTC)") % {"days": QUALITY_DAYS},
        evidence,
    )


@dataclass(frozen=True)
class SourceTests:
    """A data source's integration checks over the window."""

    name: str
    passed: int
    failed: int

    @property
    def rate(self) -> float | None:
        total = self.passed + self.failed
        return self.failed / total if total else None


def integration_testing(sources: Sequence[SourceTests]) -> Indicator:
    """Indicator 3: every production data source's integration error rate strictly below 1%."""
    rates = [s.rate for s in sources]
    met = bool(sources) and all(r is not None and r < ERROR_RATE_LIMIT for r in rates)
    evidence = [
        (
            _("%(name)s: %(failed)s failed of %(total)s (%(rate)s)")
            if s.rate is not None
            else _("%(name)s: %(failed)s failed of %(total)s (no run)")
        )
        % {
            "name": s.name,
            "failed": s.failed,
            "total": s.passed + s.failed,
            "rate": _percent(s.rate),
        }
        for s in sources
    ]
    known = [r for r in rates if r is not None]
    untested = [s.name for s in sources if s.rate is None]
    if not sources:
        value = _("no data source registered")
    elif untested:
        value = _("no integration run: %(sources)s") % {"sources": ", ".join(untested)}
    else:
        value = _("highest %(rate)s") % {"rate": _percent(max(known))}
    return Indicator(
        3,
        "integration_testing",
        met,
        value,
        _("every source below 1%"),
        _("30 days"),
        evidence,
    )


def ownership(
    *, owner: str | None, signed: bool, budget_authority: str, ai_ops: Sequence[str]
) -> Indicator:
    """Indicator 4: a named owner signed, with budget authority, and an AI-ops member."""
    missing = []
    if not owner:
        missing.append(_("no owner named"))
    elif not signed:
        missing.append(_("the owner has not signed (or the signature lapsed)"))
    if not budget_authority:
        missing.append(_("no budget authority recorded"))
    if not ai_ops:
        missing.append(_("no AI-operations member assigned"))
    evidence = [
        _("owner: %(name)s") % {"name": owner or "—"},
        _("budget authority: %(name)s") % {"name": budget_authority or "—"},
        _("AI-ops: %(names)s") % {"names": ", ".join(ai_ops) if ai_ops else "—"},
    ]
    return Indicator(
        4,
        "ownership",
        not missing,
        "; ".join(missing) if missing else _("signed, resourced"),
        _("signed by a named owner with budget authority; an AI-ops member"),
        _("the signature in force"),
        evidence,
    )


def monitoring(
    *,
    metrics: Mapping[str, datetime | None],
    alert_acknowledged_at: datetime | None,
    now: datetime,
) -> Indicator:
    """Indicator 5: every required metric reported in 24 h; a test alert acknowledged in 30 days."""
    stale = sorted(
        name for name, last in metrics.items() if last is None or now - last > MONITORING_FRESH
    )
    problems = []
    if not metrics:
        problems.append(_("no required metric declared"))
    if stale:
        problems.append(_("no data in 24 h: %(metrics)s") % {"metrics": ", ".join(stale)})
    if alert_acknowledged_at is None:
        problems.append(_("no test alert acknowledged"))
    elif now - alert_acknowledged_at > ALERT_TEST_VALID:
        problems.append(
            _("the test alert was acknowledged %(days)s days ago")
            % {"days": (now - alert_acknowledged_at).days}
        )
    evidence = [
        (
            _("%(name)s: last point %(at)s") % {"name": name, "at": last.isoformat()}
            if last
            else _("%(name)s: last point never") % {"name": name}
        )
        for name, last in sorted(metrics.items())
    ]
    if alert_acknowledged_at is not None:
        evidence.append(
            _("test alert acknowledged %(at)s") % {"at": alert_acknowledged_at.isoformat()}
        )
    return Indicator(
        5,
        "monitoring",
        not problems,
        "; ".join(problems) if problems else _("live, alert tested"),
        _("data from every required metric within 24 h; a test alert acknowledged within 30 days"),
        _("24 h / 30 days"),
        evidence,
    )


def rollback(
    *, plan_written: bool, drill_succeeded_at: datetime | None, now: datetime
) -> Indicator:
    """Indicator 6: a rollback plan, and a successful rollback drill at most 90 days ago."""
    problems = []
    if not plan_written:
        problems.append(_("no rollback plan written"))
    if drill_succeeded_at is None:
        problems.append(_("no successful rollback drill"))
    elif now - drill_succeeded_at > ROLLBACK_DRILL_VALID:
        problems.append(
            _("the last successful drill was %(days)s days ago")
            % {"days": (now - drill_succeeded_at).days}
        )
    evidence = [_("plan: written") if plan_written else _("plan: missing")]
    if drill_succeeded_at is not None:
        evidence.append(_("drill succeeded %(at)s") % {"at": drill_succeeded_at.isoformat()})
    return Indicator(
        6,
        "rollback",
        not problems,
        "; ".join(problems) if problems else _("documented, drilled"),
        _("a written plan and a successful drill within 90 days"),
        _("90 days"),
        evidence,
    )


def briefings(leads: Mapping[str, bool]) -> Indicator:
    """Indicator 7: every named business-unit lead attested the change-management briefing."""
    waiting = sorted(name for name, attested in leads.items() if not attested)
    if not leads:
        value = _("no business-unit lead named")
    elif waiting:
        value = _("waiting for %(names)s") % {"names": ", ".join(waiting)}
    else:
        value = _("all %(count)s attested") % {"count": len(leads)}
    return Indicator(
        7,
        "briefings",
        bool(leads) and not waiting,
        value,
        _("every named lead attested"),
        _("the attestations in force"),
        [
            (_("%(name)s: attested") if ok else _("%(name)s: not yet")) % {"name": name}
            for name, ok in sorted(leads.items())
        ],
    )


def _percent(share: float | None) -> str:
    """A share as a percentage with two decimals, e.g. 0.99734 -> "99.73%"."""
    return "" if share is None else f"{share:.2%}"


def verdict(indicators: Sequence[Indicator]) -> str:
    """All met: ready; one or two unmet: conditional (a waiver may proceed); more: defer."""
    unmet = sum(not indicator.met for indicator in indicators)
    if unmet == 0:
        return READY
    return CONDITIONAL if unmet <= 2 else DEFER

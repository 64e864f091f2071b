"""Stage exit criteria and the readiness indicators of one system, from plain facts.

`SystemFacts` is what the selectors gather (in a fixed number of queries for
any number of systems); everything here is pure, so the gates are tested on
plain data and the beat cycle spends its time in a few large queries. Labels and
evidence are in the active language (gettext), as the pages show them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.utils.translation import gettext as _

from registry.choices import Stage
from rollout import indicators as ind
from rollout.choices import Verdict

ALERT_TEST_VALID = ind.ALERT_TEST_VALID
MONITORING_FRESH = ind.MONITORING_FRESH


@dataclass(frozen=True)
class SourceFacts:
    """What the gates need to know of one data source feeding the system."""

    name: str
    slug: str
    has_owner: bool
    has_schema: bool
    evaluated: bool
    freshness: str
    uptime_up: int
    uptime_expected: int
    tests_passed: int
    tests_failed: int


@dataclass
class SystemFacts:
    """Everything the exit criteria and the seven indicators are computed from."""

    slug: str
    stage: str
    sources: list[SourceFacts] = field(default_factory=list)
    required_metrics: dict[str, datetime | None] = field(default_factory=dict)
    quality: list[ind.QualitySeries] = field(default_factory=list)
    interventions: list[date] = field(default_factory=list)
    alert_acknowledged_at: datetime | None = None
    alert_pending: bool = False
    owner: str | None = None
    signed: bool = False
    budget_authority: str = ""
    ai_ops: list[str] = field(default_factory=list)
    leads: dict[str, bool] = field(default_factory=dict)
    level3_configured: bool = False
    approvers_exist: bool = False
    rollback_plan: bool = False
    drill_succeeded_at: datetime | None = None
    completed_rollout: bool = False
    waiver_unmet: list[str] | None = None


@dataclass(frozen=True)
class Criterion:
    """One exit criterion: met or not, why, and where it is fixed (a URL name taking the slug)."""

    key: str
    label: str
    met: bool
    evidence: str
    fix: str

    def as_dict(self) -> dict:
        return {
            "key": self.key,
            "label": self.label,
            "met": self.met,
            "evidence": self.evidence,
            "fix": self.fix,
        }


def readiness(facts: SystemFacts, *, now: datetime) -> list[ind.Indicator]:
    """The seven indicators of DOMAIN.md for one system."""
    return [
        ind.pipeline_uptime(
            [ind.Pipeline(s.name, s.uptime_up, s.uptime_expected) for s in facts.sources]
        ),
        ind.output_quality(
            metrics=facts.quality, interventions=facts.interventions, today=now.date()
        ),
        ind.integration_testing(
            [ind.SourceTests(s.name, s.tests_passed, s.tests_failed) for s in facts.sources]
        ),
        ind.ownership(
            owner=facts.owner,
            signed=facts.signed,
            budget_authority=facts.budget_authority,
            ai_ops=facts.ai_ops,
        ),
        ind.monitoring(
            metrics=facts.required_metrics,
            alert_acknowledged_at=facts.alert_acknowledged_at,
            now=now,
        ),
        ind.rollback(
            plan_written=facts.rollback_plan, drill_succeeded_at=facts.drill_succeeded_at, now=now
        ),
        ind.briefings(facts.leads),
    ]


def waiver_covers(waiver_unmet: list[str] | None, indicators: list[ind.Indicator]) -> bool:
    """A waiver stands for a conditional verdict when it names exactly the indicators unmet now."""
    unmet = sorted(i.key for i in indicators if not i.met)
    return waiver_unmet is not None and sorted(waiver_unmet) == unmet


def _alert_tested(facts: SystemFacts, now: datetime) -> tuple[bool, str]:
    at = facts.alert_acknowledged_at
    if at is not None and now - at <= ALERT_TEST_VALID:
        return True, _("test alert acknowledged %(at)s UTC") % {"at": f"{at:%Y-%m-%d %H:%M}"}
    if facts.alert_pending:
        return False, _("a test alert was sent and waits for its acknowledgement")
    return False, _("no test alert acknowledged in the last 30 days")


def exit_criteria(facts: SystemFacts, *, now: datetime) -> list[Criterion]:
    """What must hold before the system leaves its current stage (none in production)."""
    stage = facts.stage
    if stage == Stage.OPERATIONAL_ARCHITECTURE:
        sources = facts.sources
        undocumented = [s.name for s in sources if not (s.has_owner and s.has_schema)]
        unevaluated = [s.name for s in sources if not s.evaluated]
        silent = [s.name for s in sources if s.freshness in ("fail", "")]
        return [
            Criterion(
                "data_flow_documented",
                _("Every system the AI touches is documented, with its owner and schema"),
                bool(sources) and not undocumented,
                _("no data source registered")
                if not sources
                else (
                    _("missing owner or schema: %(sources)s") % {"sources": ", ".join(undocumented)}
                    if undocumented
                    else _("%(count)s sources, each with owner and schema")
                    % {"count": len(sources)}
                ),
                "registry:quality_dashboard",
            ),
            Criterion(
                "quality_gaps_identified",
                _("Data-quality gaps identified (every source's checks evaluated)"),
                bool(sources) and not unevaluated,
                _("not evaluated yet: %(sources)s") % {"sources": ", ".join(unevaluated)}
                if unevaluated
                else (_("every source evaluated") if sources else _("no data source registered")),
                "registry:quality_dashboard",
            ),
            Criterion(
                "pipelines_delivering",
                _("Data pipelines registered and delivering"),
                bool(sources) and not silent,
                _("not delivering: %(sources)s") % {"sources": ", ".join(silent)}
                if silent
                else (_("every source delivering") if sources else _("no data source registered")),
                "registry:quality_dashboard",
            ),
        ]
    if stage == Stage.EVALUATION_INFRASTRUCTURE:
        quality_defined = bool(facts.quality)
        stale = sorted(
            key
            for key, last in facts.required_metrics.items()
            if last is None or now - last > MONITORING_FRESH
        )
        tested, tested_evidence = _alert_tested(facts, now)
        return [
            Criterion(
                "thresholds_defined",
                _("Performance thresholds defined for every required metric"),
                quality_defined,
                _("%(count)s required metrics with thresholds")
                % {"count": len(facts.required_metrics)}
                if quality_defined
                else _("no required output-quality metric declared"),
                "registry:system_detail",
            ),
            Criterion(
                "monitoring_instrumented",
                _("Monitoring instrumented: every required metric reported in the last 24 h"),
                bool(facts.required_metrics) and not stale,
                _("silent: %(metrics)s") % {"metrics": ", ".join(stale)}
                if stale
                else _("every required metric reporting"),
                "registry:system_detail",
            ),
            Criterion(
                "alerting_tested",
                _("Alerting in place and tested (a test alert acknowledged)"),
                tested,
                tested_evidence,
                "rollout:readiness",
            ),
        ]
    if stage == Stage.OWNERSHIP_GOVERNANCE:
        indicators = readiness(facts, now=now)
        verdict = ind.verdict(indicators)
        unmet = [i.key for i in indicators if not i.met]
        waived = verdict == ind.CONDITIONAL and waiver_covers(facts.waiver_unmet, indicators)
        return [
            Criterion(
                "owner_signed",
                _("A named owner with budget authority has signed off"),
                bool(facts.owner) and facts.signed and bool(facts.budget_authority),
                _("owner %(name)s, signed") % {"name": facts.owner}
                if facts.signed
                else _("not signed"),
                "governance:ownership",
            ),
            Criterion(
                "ai_ops_function",
                _("An AI-operations function exists (a named member)"),
                bool(facts.ai_ops),
                ", ".join(facts.ai_ops) or _("no AI-operations member"),
                "governance:ownership",
            ),
            Criterion(
                "change_protocol",
                _("Change management configured: a business-unit lead named, approvers exist"),
                bool(facts.leads) and facts.approvers_exist,
                "; ".join(
                    part
                    for part in (
                        "" if facts.leads else _("no business-unit lead named"),
                        "" if facts.approvers_exist else _("nobody holds the Approver role"),
                    )
                    if part
                )
                or _("%(count)s leads, approvers in place") % {"count": len(facts.leads)},
                "governance:ownership",
            ),
            Criterion(
                "escalation_path",
                _("Escalation path configured (a level-3 person or group)"),
                facts.level3_configured,
                _("level 3 named") if facts.level3_configured else _("no level-3 person or group"),
                "governance:system_changes",
            ),
            Criterion(
                "readiness",
                _("Readiness verdict: ready, or conditional with a director's waiver"),
                verdict == ind.READY or waived,
                str(Verdict(verdict).label)
                + (_("; unmet: %(keys)s") % {"keys": ", ".join(unmet)} if unmet else "")
                + (_("; waived") if waived else ""),
                "rollout:readiness",
            ),
        ]
    if stage == Stage.STAGED_ROLLOUT:
        return [
            Criterion(
                "rollout_completed",
                # xgettext:no-python-format
                _("A staged rollout reached 100% of traffic"),
                facts.completed_rollout,
                _("completed") if facts.completed_rollout else _("no rollout has completed"),
                "rollout:rollout_list",
            )
        ]
    return []


NEXT_STAGE = {
    Stage.OPERATIONAL_ARCHITECTURE: Stage.EVALUATION_INFRASTRUCTURE,
    Stage.EVALUATION_INFRASTRUCTURE: Stage.OWNERSHIP_GOVERNANCE,
    Stage.OWNERSHIP_GOVERNANCE: Stage.STAGED_ROLLOUT,
    Stage.STAGED_ROLLOUT: Stage.PRODUCTION,
}
PREVIOUS_STAGE = {after: before for before, after in NEXT_STAGE.items()}


def quality_days_window(today: date) -> date:
    """The first day whose daily values indicator 2 may need (a little more than 14)."""
    return today - timedelta(days=ind.QUALITY_DAYS + 26)

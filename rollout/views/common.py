"""The rollout app's browser pages: a system's stage and readiness, rollouts and their cohorts.

Every decision goes through a confirmation page: GET (or a POST without
`confirm`) shows what will happen and writes nothing; a POST with `confirm`
calls the service, which has the last word. A forbidden action is a 403; an
action the state no longer allows is shown as a message on the page (409).

`common` holds what both pages share; `readiness` a system's stage and
readiness; `rollouts` the rollout lists, plans and one rollout's page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.forms import Form
from django.shortcuts import get_object_or_404
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy

from core.roles import Role, has_role
from registry.choices import Stage
from registry.models import AISystem
from rollout import indicators as ind

ROLLOUTS_PER_PAGE = 25
# Buckets per checkpoint chart: enough to see a trend, few enough that a long
# rollout is read from hourly or daily rollups, never from every raw point.
CHART_BUCKETS = 200
STAGES = (
    Stage.OPERATIONAL_ARCHITECTURE,
    Stage.EVALUATION_INFRASTRUCTURE,
    Stage.OWNERSHIP_GOVERNANCE,
    Stage.STAGED_ROLLOUT,
)

INDICATOR_LABELS = {
    # xgettext:no-python-format (a percent sign, not a placeholder)
    "pipeline_uptime": gettext_lazy("Data pipeline uptime above 99.5% over 30 days"),
    "output_quality": gettext_lazy(
        "Output quality above threshold for 14 consecutive days without manual intervention"
    ),
    "integration_testing": gettext_lazy(
        "Integration testing across all production data sources passes with error rate below 1%"
    ),
    "ownership": gettext_lazy("Ownership documented, signed off and resourced"),
    "monitoring": gettext_lazy("Monitoring dashboards live and alerting tested"),
    "rollback": gettext_lazy("Rollback procedure documented and successfully tested"),
    "briefings": gettext_lazy("Business unit leads completed change-management briefings"),
}
VERDICT_LABELS = {
    ind.READY: gettext_lazy("Ready"),
    ind.CONDITIONAL: gettext_lazy("Conditional"),
    ind.DEFER: gettext_lazy("Defer"),
}

# Strings drawn by static/rollout/rollout.js, translated here since the JS has no gettext.
CHART_LABELS = {
    "no_library": gettext_lazy("Charts are unavailable (the chart library did not load)."),
    "unavailable": gettext_lazy("The chart could not be drawn. The table below has the values."),
    "no_points": gettext_lazy("No point from the candidate yet."),
    "day": gettext_lazy("Day (UTC)"),
    "time": gettext_lazy("Time (UTC)"),
    "met": gettext_lazy("Indicators met (of 7)"),
    "ready": gettext_lazy("Ready"),
    "conditional": gettext_lazy("Conditional"),
    "defer": gettext_lazy("Defer"),
    "all_met": gettext_lazy("7: ready"),
    "conditional_from": gettext_lazy("5: conditional"),
    "mean": gettext_lazy("Candidate (mean per bucket)"),
    "range": gettext_lazy("Min to max"),
    "threshold": gettext_lazy("Threshold"),
    "pause": gettext_lazy("Paused"),
}


def _is_director(user) -> bool:
    return has_role(user, Role.OPERATIONS_DIRECTOR)


def _is_steward(user) -> bool:
    """Directors and system owners: who write plans, record interventions, send test alerts."""
    return _is_director(user) or has_role(user, Role.SYSTEM_OWNER)


@dataclass(frozen=True)
class _Action:
    """A decision of the pages: who may ask for it, its form, its service call and its wording."""

    form: type[Form]
    allowed: Callable[[object], bool]
    run: Callable[..., object]
    question: Promise
    explain: Promise
    button: Promise
    done: Promise
    danger: bool = False


def system_or_404(slug: str) -> AISystem:
    """The system of a page's URL, with its deployed version."""
    return get_object_or_404(AISystem.objects.select_related("deployed_version"), slug=slug)

"""Rollouts: the lists, planning one, and one rollout's page with its decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_http_methods

from core.errors import ApplicationError
from core.htmx import htmx_render
from registry.choices import VersionStatus
from registry.models import AISystem
from registry.selectors import metric_series, system_versions
from registry.views import role_required_to_read
from rollout import selectors, services
from rollout.choices import RolloutState, StepState
from rollout.forms import (
    ApproveForm,
    ConfirmForm,
    ReasonForm,
    ResumeForm,
    RollBackForm,
    RolloutFilterForm,
    RolloutPlanForm,
)
from rollout.models import (
    OBSERVATION_BY_TIER,
    CohortStep,
    Rollout,
)
from rollout.views.common import (
    CHART_BUCKETS,
    CHART_LABELS,
    ROLLOUTS_PER_PAGE,
    _Action,
    _is_director,
    system_or_404,
)

# --- Rollout lists and plans -----------------------------------------------------------------


def _awaiting_approval() -> list[CohortStep]:
    """The cohorts waiting for a director, with their approvals so far and how many are needed."""
    steps = list(selectors.steps_awaiting_approval().annotate(approval_count=Count("approvals")))
    for step in steps:
        step.approvals_needed = services.approvals_needed(step.rollout.system)
    return steps


def _rollout_list(
    request: HttpRequest, system: AISystem | None, *, plan_form=None, status: int = 200
) -> HttpResponse:
    """All rollouts, or one system's, newest first, 25 to a page, filtered by state (htmx swaps)."""
    bound = bool(request.GET.get("state"))
    form = RolloutFilterForm(request.GET if bound else None)
    page = None
    if not bound or form.is_valid():
        rollouts = selectors.rollouts_list(system=system)
        if bound and form.cleaned_data["state"]:
            rollouts = rollouts.filter(state=form.cleaned_data["state"])
        page = Paginator(rollouts, ROLLOUTS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    director = _is_director(request.user)
    context = {
        "system": system,
        "current": "rollouts",
        "form": form,
        "page": page,
        "filtered": bound,
        "query": query.urlencode(),
        "clear_url": reverse("rollout:system_rollouts", args=[system.slug])
        if system
        else reverse("rollout:rollout_list"),
        "awaiting": _awaiting_approval() if director and system is None else [],
        "may_plan": director and system is not None,
    }
    if system is not None:
        active = selectors.active_rollout(system)
        context["active"] = active
        if director and active is None:
            context["plan_form"] = plan_form or _plan_form(system)
            context["checkpoint_metrics"] = services.default_checkpoint_metrics(system)
    return htmx_render(
        request,
        "rollout/rollout_list.html",
        "rollout/_rollout_results.html",
        context,
        status=status,
    )


def _plan_form(system: AISystem, data=None) -> RolloutPlanForm:
    versions = system_versions(system).exclude(status=VersionStatus.RETIRED)
    if system.deployed_version_id:
        versions = versions.exclude(pk=system.deployed_version_id)
    return RolloutPlanForm(
        data,
        versions=versions,
        default_hours=Decimal(OBSERVATION_BY_TIER[system.risk_tier]) / 3600,
        tier_label=system.get_risk_tier_display().lower(),
    )


@require_GET
@role_required_to_read
def rollout_list(request: HttpRequest) -> HttpResponse:
    """Every rollout in the portfolio; directors see the cohorts waiting for them first."""
    return _rollout_list(request, None)


@require_http_methods(["GET", "POST"])
@role_required_to_read
def system_rollouts(request: HttpRequest, slug: str) -> HttpResponse:
    """One system's rollouts, and (directors) the form that plans the next one."""
    system = system_or_404(slug)
    if request.method == "GET":
        return _rollout_list(request, system)
    if not _is_director(request.user):
        raise PermissionDenied(_("Only operations directors plan rollouts."))
    form = _plan_form(system, request.POST)
    if not form.is_valid():
        return _rollout_list(request, system, plan_form=form, status=400)
    data = form.cleaned_data
    try:
        rollout = services.rollout_plan(
            system=system,
            candidate=data["candidate"],
            by=request.user,
            cohorts=data["cohorts"],
            observation_seconds=form.observation_seconds(),
            min_points=data["min_points"],
            is_rehearsal=data["is_rehearsal"],
        )
    except ApplicationError as exc:
        if exc.status == 403:
            raise PermissionDenied(exc.message) from None
        field = {"observation_seconds": "observation_hours"}.get(exc.field, exc.field)
        form.add_error(field if field in form.fields else None, exc.message)
        return _rollout_list(request, system, plan_form=form, status=exc.status)
    messages.success(request, _("Rollout planned. Start it from this page when you are ready."))
    return redirect("rollout:rollout_detail", pk=rollout.pk)


# --- One rollout -----------------------------------------------------------------------------


def _duration(seconds: int) -> str:
    """A whole number of days, hours, minutes or seconds, in words."""
    if seconds % 86400 == 0:
        count = seconds // 86400
        return ngettext("%(count)d day", "%(count)d days", count) % {"count": count}
    if seconds % 3600 == 0:
        count = seconds // 3600
        return ngettext("%(count)d hour", "%(count)d hours", count) % {"count": count}
    if seconds % 60 == 0:
        count = seconds // 60
        return ngettext("%(count)d minute", "%(count)d minutes", count) % {"count": count}
    return ngettext("%(count)d second", "%(count)d seconds", seconds) % {"count": seconds}


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


RESOLUTIONS = {
    "raw": gettext_lazy("raw points"),
    "hour": gettext_lazy("hourly"),
    "day": gettext_lazy("daily"),
}


def _rollout_charts(rollout: Rollout, metrics, steps, pauses, now: datetime) -> tuple[dict, list]:
    """Each checkpoint metric's candidate values over the rollout, with threshold and cohorts.

    Returns the JSON-ready config static/rollout/rollout.js draws and, per
    metric, the same buckets for the table beside each chart. One series query
    per checkpoint metric (not per cohort), read from rollups over long windows,
    so the page's cost does not grow with the rollout's length or its cohorts.
    """
    config = {"kind": "rollout", "charts": [], "cohorts": [], "pauses": [], "labels": CHART_LABELS}
    tables: list[dict] = []
    if rollout.started_at is None:
        return config, tables
    start = rollout.started_at
    end = max(rollout.ended_at or now, start + timedelta(minutes=1))
    config.update(start=_iso(start), end=_iso(end))
    config["cohorts"] = [
        {"at": _iso(step.started_at), "label": f"{step.percent}%"}
        for step in steps
        if step.started_at is not None and step.state != StepState.PENDING
    ]
    config["pauses"] = [{"at": _iso(pause.at)} for pause in pauses if pause.at >= start]
    for checkpoint in metrics:
        spec = checkpoint.metric
        resolution, buckets = metric_series(
            metric=spec, start=start, end=end, buckets=CHART_BUCKETS, version=rollout.candidate
        )
        higher = spec.direction == "higher_is_better"
        config["charts"].append(
            {
                "key": spec.key,
                "name": spec.name,
                "unit": spec.unit,
                "threshold": checkpoint.threshold,
                "higher_is_better": higher,
                "x": [_iso(bucket.start) for bucket in buckets],
                "mean": [bucket.mean for bucket in buckets],
                "min": [bucket.min for bucket in buckets],
                "max": [bucket.max for bucket in buckets],
            }
        )
        tables.append(
            {
                "spec": spec,
                "threshold": checkpoint.threshold,
                "comparison": "≥" if higher else "≤",
                "resolution": RESOLUTIONS.get(resolution, resolution),
                "buckets": buckets,
            }
        )
    return config, tables


def _checks(step: CohortStep, specs: dict) -> list[dict]:
    """A cohort's checkpoint, metric by metric, with the names and directions the page prints."""
    rows = []
    for row in step.verdict_detail or []:
        spec = specs.get(row.get("metric"))
        rows.append(
            row
            | {
                "name": spec.name if spec else row.get("metric"),
                "unit": spec.unit if spec else "",
                "comparison": "≥" if spec is None or spec.direction == "higher_is_better" else "≤",
            }
        )
    return rows


def _rollout_actions(user, rollout: Rollout, current: CohortStep | None) -> set[str]:
    """The decisions this person may ask for now; the services refuse the others."""
    if not _is_director(user):
        return set()
    actions = {
        action
        for action in ROLLOUT_ACTIONS
        if _rollout_unavailable(action, rollout, current) is None
    }
    if "approve" in actions and any(a.approver_id == user.pk for a in current.approvals.all()):
        actions.discard("approve")
    return actions


def _rollout_context(request: HttpRequest, rollout: Rollout) -> dict:
    now = timezone.now()
    system = rollout.system
    steps = list(rollout.steps.all())
    metrics = list(rollout.checkpoint_metrics.all())
    specs = {checkpoint.metric.key: checkpoint.metric for checkpoint in metrics}
    current = next((step for step in steps if step.index == rollout.current_index), None)
    needed = services.approvals_needed(system)
    pauses = selectors.rollout_pauses(rollout)
    ladder = []
    for step in steps:
        ends = (
            step.started_at + timedelta(seconds=rollout.observation_seconds)
            if step.started_at
            else None
        )
        approvals = list(step.approvals.all())
        ladder.append(
            {
                "step": step,
                "is_current": step is current
                and rollout.state
                in (
                    RolloutState.RUNNING,
                    RolloutState.PAUSED,
                ),
                "checks": _checks(step, specs),
                "approvals": approvals,
                "observation_ends": ends,
                "observing_left": ends is not None
                and step.state == StepState.OBSERVING
                and ends > now,
            }
        )
    status, _etag = selectors.deployment_status(system)
    chart_config, charts = _rollout_charts(rollout, metrics, steps, pauses, now)
    current_row = next((row for row in ladder if row["step"] is current), None)
    approved_by_me = bool(current_row) and any(
        approval.approver_id == request.user.pk for approval in current_row["approvals"]
    )
    return {
        "rollout": rollout,
        "system": system,
        "steps": ladder,
        "current_step": current,
        "current_row": current_row,
        "next_step": next((s for s in steps if current and s.index == current.index + 1), None),
        "metrics": metrics,
        "approvals_needed": needed,
        "approved_by_me": approved_by_me,
        "pauses": pauses,
        "status": status,
        "actions": _rollout_actions(request.user, rollout, current),
        "observation": _duration(rollout.observation_seconds),
        "chart_config": chart_config,
        "charts": charts,
        "now": now,
    }


def _rollout(pk: int) -> Rollout:
    rollout = selectors.rollout_detail(pk)
    if rollout is None:
        raise Http404(_("No such rollout."))
    return rollout


def _rollout_page(request: HttpRequest, rollout: Rollout, *, status: int = 200) -> HttpResponse:
    return render(
        request, "rollout/rollout_detail.html", _rollout_context(request, rollout), status=status
    )


@require_GET
@role_required_to_read
def rollout_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A rollout: its cohort ladder and checkpoints, approvals, pauses, charts and actions."""
    return _rollout_page(request, _rollout(pk))


def _step_to_approve(rollout: Rollout, data: dict) -> CohortStep:
    """The cohort the confirmation page showed; a stale one is refused by the service (409)."""
    step = CohortStep.objects.filter(rollout=rollout, pk=data["step"]).first()
    if step is None:
        raise ApplicationError(_("This cohort is not awaiting approval."), status=409)
    step.rollout = rollout
    return step


ROLLOUT_ACTIONS = {
    "start": _Action(
        ConfirmForm,
        _is_director,
        lambda rollout, by, data: services.rollout_start(rollout=rollout, by=by),
        gettext_lazy("Start the rollout of %(version)s on %(system)s?"),
        gettext_lazy(
            "The first cohort starts observing the candidate now and traffic routers send it "
            "that share of traffic. The portal checks the system is in Stage 4 and that "
            "readiness is not defer (conditional needs a waiver) and refuses otherwise."
        ),
        gettext_lazy("Start the rollout"),
        gettext_lazy("Rollout started: the first cohort is observing."),
    ),
    "approve": _Action(
        ApproveForm,
        _is_director,
        lambda rollout, by, data: services.cohort_approve(
            step=_step_to_approve(rollout, data), by=by
        ),
        gettext_lazy("Approve the %(percent)s%% cohort of %(version)s on %(system)s?"),
        gettext_lazy(
            "Your approval records the checkpoint below as the evidence you decided on. Once "
            "enough operations directors have approved, the next cohort starts observing; "
            "after 100% the rollout completes and the candidate becomes the deployed version."
        ),
        gettext_lazy("Approve this cohort"),
        gettext_lazy("Cohort approved."),
    ),
    "pause": _Action(
        ReasonForm,
        _is_director,
        lambda rollout, by, data: services.rollout_pause(
            rollout=rollout, by=by, reason=data["reason"]
        ),
        gettext_lazy("Pause the rollout of %(version)s on %(system)s?"),
        gettext_lazy(
            "The rollout holds at its current cohort: routers keep its share of traffic, no "
            "cohort advances, and it resumes only when a director records the root cause."
        ),
        gettext_lazy("Pause the rollout"),
        gettext_lazy("Rollout paused."),
        danger=True,
    ),
    "resume": _Action(
        ResumeForm,
        _is_director,
        lambda rollout, by, data: services.rollout_resume(
            rollout=rollout, by=by, root_cause=data["root_cause"], note=data["note"]
        ),
        gettext_lazy("Resume the rollout of %(version)s on %(system)s?"),
        gettext_lazy(
            "The rollout runs again. A cohort that failed its checkpoint observes again from "
            "now, on fresh points, and its approvals are cleared."
        ),
        gettext_lazy("Resume the rollout"),
        gettext_lazy("Rollout resumed."),
    ),
    "roll_back": _Action(
        RollBackForm,
        _is_director,
        lambda rollout, by, data: services.rollout_roll_back(
            rollout=rollout,
            by=by,
            reason=data["reason"],
            drill=data["drill"],
            succeeded=data["outcome"] == "succeeded",
        ),
        gettext_lazy("Roll back %(version)s on %(system)s?"),
        gettext_lazy(
            "The candidate's share of traffic goes to 0% now and the rollout ends; it cannot be "
            "resumed. A drill that succeeded counts for readiness indicator 6."
        ),
        gettext_lazy("Roll back now"),
        gettext_lazy("Rolled back: the candidate gets no traffic."),
        danger=True,
    ),
}


def _rollout_unavailable(action: str, rollout: Rollout, current: CohortStep | None) -> str | None:
    """Why this decision cannot be asked for in the rollout's state (the service says 409)."""
    state = rollout.get_state_display().lower()
    allowed = {
        "start": {RolloutState.PLANNED},
        "approve": {RolloutState.RUNNING},
        "pause": {RolloutState.RUNNING},
        "resume": {RolloutState.PAUSED},
        "roll_back": {RolloutState.RUNNING, RolloutState.PAUSED},
    }[action]
    if rollout.state not in allowed:
        return _("This rollout is %(state)s: that cannot be done now.") % {"state": state}
    if action == "approve" and (current is None or current.state != StepState.AWAITING_APPROVAL):
        return _("No cohort of this rollout is awaiting approval.")
    return None


def _rollout_confirm(request, rollout, action, form, *, status=200) -> HttpResponse:
    transition = ROLLOUT_ACTIONS[action]
    context = _rollout_context(request, rollout)
    current = context["current_step"]
    facts = [
        (_("System"), rollout.system.name),
        (_("Candidate"), rollout.candidate.version),
        (_("State"), rollout.get_state_display()),
    ]
    if current is not None and rollout.state != RolloutState.PLANNED:
        facts.append((_("Current cohort"), f"{current.percent}% · {current.get_state_display()}"))
    if action == "approve":
        facts.append(
            (
                _("Approvals"),
                _("%(given)s of %(needed)s given")
                % {
                    "given": len(context["current_row"]["approvals"]),
                    "needed": context["approvals_needed"],
                },
            )
        )
        if context["next_step"] is not None:
            facts.append((_("Next cohort"), f"{context['next_step'].percent}%"))
    if rollout.is_rehearsal:
        facts.append((_("Rehearsal"), _("Yes: it routes no real traffic.")))
    context.update(
        action=action,
        transition=transition,
        form=form,
        question=transition.question
        % {
            "version": rollout.candidate.version,
            "system": rollout.system.name,
            "percent": current.percent if current else "",
        },
        facts=facts,
        checkpoint=context["current_row"] if action == "approve" else None,
        form_url=reverse(f"rollout:rollout_{action}", args=[rollout.pk]),
        back_url=reverse("rollout:rollout_detail", args=[rollout.pk]),
    )
    return render(request, "rollout/confirm.html", context, status=status)


@require_http_methods(["GET", "POST"])
@role_required_to_read
def rollout_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """GET (or a POST without `confirm`) asks for confirmation; POST with `confirm` does it."""
    transition = ROLLOUT_ACTIONS[action]
    rollout = _rollout(pk)
    if not transition.allowed(request.user):
        raise PermissionDenied(_("Only operations directors decide on rollouts."))
    confirmed = request.method == "POST" and request.POST.get("confirm") == "1"
    if not confirmed:
        # Only asking: say at once when the state does not allow it. A confirmed POST
        # goes to the service, which decides under its row lock (and says why).
        current = next(
            (step for step in rollout.steps.all() if step.index == rollout.current_index), None
        )
        unavailable = _rollout_unavailable(action, rollout, current)
        if unavailable:
            messages.error(request, unavailable)
            return _rollout_page(request, rollout, status=409)
    if request.method == "GET":
        initial = {"step": current.pk} if action == "approve" and current else None
        return _rollout_confirm(request, rollout, action, transition.form(initial=initial))
    form = transition.form(request.POST)
    if not form.is_valid():
        return _rollout_confirm(request, rollout, action, form, status=400)
    if not confirmed:
        return _rollout_confirm(request, rollout, action, form)
    try:
        transition.run(rollout, request.user, form.cleaned_data)
    except ApplicationError as exc:
        if exc.status == 403:
            raise PermissionDenied(exc.message) from None
        if exc.status == 400 and exc.field in form.fields:
            form.add_error(exc.field, exc.message)
            return _rollout_confirm(request, rollout, action, form, status=400)
        messages.error(request, exc.message)
        return _rollout_page(request, _rollout(pk), status=exc.status)
    messages.success(request, transition.done)
    return redirect("rollout:rollout_detail", pk=rollout.pk)

"""A system's stage and readiness: exit criteria, the seven indicators, waivers, drills."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import ApplicationError
from registry.choices import Stage
from registry.models import AISystem
from registry.views import role_required_to_read
from rollout import indicators as ind
from rollout import selectors, services
from rollout.criteria import NEXT_STAGE, PREVIOUS_STAGE, waiver_covers
from rollout.forms import (
    ConfirmForm,
    InterventionForm,
    ReasonForm,
    RollbackPlanForm,
    WaiverForm,
)
from rollout.views.common import (
    CHART_LABELS,
    INDICATOR_LABELS,
    STAGES,
    VERDICT_LABELS,
    _Action,
    _is_director,
    _is_steward,
    system_or_404,
)

# --- Stage and readiness ---------------------------------------------------------------------


def _stage_tracker(stage: str) -> list[dict]:
    """The four stages, each done, current or to come (production: all four done)."""
    position = len(STAGES) if stage == Stage.PRODUCTION else STAGES.index(stage)
    return [
        {
            "number": number,
            "label": Stage(key).label,
            "status": "done" if index < position else "current" if index == position else "todo",
        }
        for index, (number, key) in enumerate(enumerate(STAGES, start=1))
    ]


def _indicator_fix_url(key: str, slug: str) -> str:
    """Where an unmet indicator is worked on."""
    if key in ("pipeline_uptime", "integration_testing"):
        return reverse("registry:quality_dashboard")
    if key in ("output_quality", "monitoring"):
        return reverse("registry:system_detail", args=[slug])
    if key in ("ownership", "briefings"):
        return reverse("governance:ownership", args=[slug])
    return "#rollback-plan"


def _unmet_choices(indicators) -> list[tuple[str, str]]:
    return [
        (indicator.key, f"{indicator.number}. {INDICATOR_LABELS.get(indicator.key, indicator.key)}")
        for indicator in indicators
        if not indicator.met
    ]


def _readiness_chart(history) -> dict:
    """What static/rollout/rollout.js needs for the readiness history (JSON-ready)."""
    return {
        "kind": "readiness",
        "days": [snapshot.day.isoformat() for snapshot in history],
        "met": [snapshot.indicators_met for snapshot in history],
        "verdicts": [snapshot.verdict for snapshot in history],
        "labels": CHART_LABELS,
    }


def _readiness_state(system: AISystem) -> dict:
    """The gates computed now, and what the page and its confirmations say about them."""
    gates = selectors.system_gates(system)
    indicators = gates["indicators"]
    verdict = gates["verdict"]
    return gates | {
        "unmet_choices": _unmet_choices(indicators),
        "verdict_label": VERDICT_LABELS[verdict],
        "next_stage": NEXT_STAGE.get(system.stage),
        "previous_stage": PREVIOUS_STAGE.get(system.stage),
    }


def _readiness_actions(user, system: AISystem, state: dict) -> set[str]:
    """The readiness decisions this person may ask for now (the services decide)."""
    actions = set()
    if _is_director(user):
        if state["next_stage"]:
            actions.add("advance")
        if state["previous_stage"]:
            actions.add("step_back")
        if state["verdict"] == ind.CONDITIONAL:
            actions.add("waiver")
    if _is_steward(user):
        actions.update({"rollback_plan", "intervention"})
        if not state["facts"].alert_pending:
            actions.add("test_alert")
    return actions


def _readiness_page(
    request: HttpRequest,
    system: AISystem,
    *,
    forms: dict | None = None,
    status: int = 200,
    state: dict | None = None,
) -> HttpResponse:
    """The stage and readiness page, with any bound forms (carrying their errors) in place."""
    state = state or _readiness_state(system)
    forms = forms or {}
    indicators = state["indicators"]
    waiver = selectors.latest_waiver(system)
    plan = selectors.rollback_plan(system)
    history = list(selectors.gate_history(system))
    stages = dict(Stage.choices)
    for snapshot in history:
        snapshot.stage_label = stages.get(snapshot.stage, snapshot.stage)
    context = {
        "system": system,
        "current": "stage",
        "state": state,
        "tracker": _stage_tracker(system.stage),
        "in_production": system.stage == Stage.PRODUCTION,
        "next_stage_label": Stage(state["next_stage"]).label if state["next_stage"] else "",
        "previous_stage_label": Stage(state["previous_stage"]).label
        if state["previous_stage"]
        else "",
        "indicators": [
            {
                "indicator": indicator,
                "label": INDICATOR_LABELS.get(indicator.key, indicator.key),
                "fix_url": _indicator_fix_url(indicator.key, system.slug),
            }
            for indicator in indicators
        ],
        "unmet_count": len(state["unmet"]),
        "met_count": len(indicators) - len(state["unmet"]),
        "waiver": waiver,
        "waiver_stands": waiver is not None
        and state["verdict"] == ind.CONDITIONAL
        and waiver_covers(waiver.unmet, indicators),
        "pending_alert": selectors.pending_test_alert(system)
        if state["facts"].alert_pending
        else None,
        "plan": plan,
        "interventions": selectors.recent_interventions(system),
        "actions": _readiness_actions(request.user, system, state),
        "waiver_form": forms.get("waiver") or WaiverForm(unmet=state["unmet_choices"]),
        "plan_form": forms.get("rollback_plan")
        or RollbackPlanForm(initial={"text": plan.text if plan else ""}),
        "intervention_form": forms.get("intervention") or InterventionForm(),
        "history": history,
        "chart_config": _readiness_chart(history),
    }
    return render(request, "rollout/readiness.html", context, status=status)


@require_GET
@role_required_to_read
def readiness(request: HttpRequest, slug: str) -> HttpResponse:
    """A system's stage, its exit criteria, the seven indicators, the verdict and the drills."""
    return _readiness_page(request, system_or_404(slug))


READINESS_ACTIONS = {
    "advance": _Action(
        ConfirmForm,
        _is_director,
        lambda system, by, data: services.stage_advance(system=system, by=by),
        gettext_lazy("Advance %(system)s to %(stage)s?"),
        gettext_lazy(
            "The portal checks every exit criterion of the current stage again and moves the "
            "system on only if all of them hold. The step is recorded in the audit trail."
        ),
        gettext_lazy("Advance to the next stage"),
        gettext_lazy("Advanced to the next stage."),
    ),
    "step_back": _Action(
        ReasonForm,
        _is_director,
        lambda system, by, data: services.stage_step_back(
            system=system, by=by, reason=data["reason"]
        ),
        gettext_lazy("Move %(system)s back to %(stage)s?"),
        gettext_lazy(
            "The system returns to the previous stage and must meet that stage's exit criteria "
            "again to come back. Not possible while a rollout is in flight. Say why."
        ),
        gettext_lazy("Step back"),
        gettext_lazy("Moved back one stage."),
        danger=True,
    ),
    "waiver": _Action(
        WaiverForm,
        _is_director,
        lambda system, by, data: services.waiver_grant(
            system=system, by=by, unmet=data["unmet"], justification=data["justification"]
        ),
        gettext_lazy("Grant a waiver for %(system)s?"),
        gettext_lazy(
            "Stage 4 may then start on this conditional verdict. The waiver names the unmet "
            "indicators below and stands only while exactly these are unmet; it is recorded "
            "with your name and justification in the audit trail."
        ),
        gettext_lazy("Grant the waiver"),
        gettext_lazy("Waiver recorded."),
    ),
    "test_alert": _Action(
        ConfirmForm,
        _is_steward,
        lambda system, by, data: services.alert_test_send(system=system, by=by),
        gettext_lazy("Send a test alert for %(system)s?"),
        gettext_lazy(
            "A test alert goes through the system's real escalation route: the owner is "
            "notified and must acknowledge it. Its acknowledgement proves alerting works "
            "(readiness indicator 5) for 30 days."
        ),
        gettext_lazy("Send the test alert"),
        gettext_lazy("Test alert sent. It counts once it is acknowledged."),
    ),
    "intervention": _Action(
        InterventionForm,
        _is_steward,
        lambda system, by, data: services.intervention_record(
            system=system, by=by, kind=data["kind"], note=data["note"]
        ),
        gettext_lazy("Record a manual intervention on %(system)s?"),
        gettext_lazy(
            "A manual intervention restarts the 14-day count of readiness indicator 2 "
            "(output quality without manual intervention) from tomorrow."
        ),
        gettext_lazy("Record the intervention"),
        gettext_lazy("Intervention recorded; the 14-day count restarts."),
        danger=True,
    ),
}


def _readiness_unavailable(action: str, state: dict) -> str | None:
    """Why this decision cannot be asked for now, in words (the service would say 409)."""
    if action == "advance" and not state["next_stage"]:
        return _("A system in production has no further stage.")
    if action == "step_back" and not state["previous_stage"]:
        return _("Stage 1 is the first stage.")
    if action == "waiver" and state["verdict"] == ind.DEFER:
        return _("The verdict is defer: no waiver can override it.")
    if action == "waiver" and state["verdict"] == ind.READY:
        return _("Every indicator is met: there is nothing to waive.")
    if action == "test_alert" and state["facts"].alert_pending:
        return _("A test alert still waits for its acknowledgement.")
    return None


def _readiness_form(action: str, state: dict, data=None) -> Form:
    if action == "waiver":
        return WaiverForm(data, unmet=state["unmet_choices"])
    return READINESS_ACTIONS[action].form(data)


def _readiness_confirm(request, system, action, form, state, *, status=200) -> HttpResponse:
    transition = READINESS_ACTIONS[action]
    stage = state["next_stage"] if action == "advance" else state["previous_stage"]
    facts = [
        (_("System"), system.name),
        (_("Stage now"), Stage(system.stage).label),
    ]
    if action in ("advance", "step_back") and stage:
        facts.append((_("Stage after"), Stage(stage).label))
    if action == "waiver":
        facts.append((_("Readiness verdict"), state["verdict_label"]))
    context = {
        "system": system,
        "action": action,
        "transition": transition,
        "form": form,
        "question": transition.question
        % {"system": system.name, "stage": Stage(stage).label if stage else ""},
        "facts": facts,
        "criteria": state["criteria"] if action == "advance" else None,
        "unmet_choices": state["unmet_choices"] if action == "waiver" else None,
        "form_url": reverse(f"rollout:{action}", args=[system.slug]),
        "back_url": reverse("rollout:readiness", args=[system.slug]),
    }
    return render(request, "rollout/confirm.html", context, status=status)


@require_http_methods(["GET", "POST"])
@role_required_to_read
def readiness_action(request: HttpRequest, slug: str, action: str) -> HttpResponse:
    """GET (or a POST without `confirm`) asks for confirmation; POST with `confirm` does it."""
    transition = READINESS_ACTIONS[action]
    system = system_or_404(slug)
    if not transition.allowed(request.user):
        raise PermissionDenied(_("Your role may not do this."))
    state = _readiness_state(system)
    unavailable = _readiness_unavailable(action, state)
    if unavailable:
        # Said before the form is judged: a waiver's checkboxes mean nothing on a defer verdict.
        messages.error(request, unavailable)
        return _readiness_page(request, system, status=409, state=state)
    if request.method == "GET":
        return _readiness_confirm(request, system, action, _readiness_form(action, state), state)
    form = _readiness_form(action, state, request.POST)
    if not form.is_valid():
        if action in ("waiver", "intervention") and "confirm" not in request.POST:
            # The form on the readiness page itself: its errors go back beside its fields.
            return _readiness_page(request, system, forms={action: form}, status=400, state=state)
        return _readiness_confirm(request, system, action, form, state, status=400)
    if request.POST.get("confirm") != "1":
        return _readiness_confirm(request, system, action, form, state)
    try:
        transition.run(system, request.user, form.cleaned_data)
    except ApplicationError as exc:
        if exc.status == 403:
            raise PermissionDenied(exc.message) from None
        if exc.status == 400:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            return _readiness_confirm(request, system, action, form, state, status=400)
        messages.error(request, exc.message)
        return _readiness_page(request, system, status=exc.status)
    messages.success(request, transition.done)
    return redirect("rollout:readiness", slug=system.slug)


@require_POST
@role_required_to_read
def rollback_plan_save(request: HttpRequest, slug: str) -> HttpResponse:
    """Directors and owners write the rollback procedure (no gate moves, so no confirmation)."""
    system = system_or_404(slug)
    if not _is_steward(request.user):
        raise PermissionDenied(_("Only operations directors and system owners write the plan."))
    form = RollbackPlanForm(request.POST)
    if form.is_valid():
        try:
            services.rollback_plan_save(
                system=system, by=request.user, text=form.cleaned_data["text"]
            )
        except ApplicationError as exc:
            if exc.status == 403:
                raise PermissionDenied(exc.message) from None
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, _("Rollback plan saved."))
            return redirect(reverse("rollout:readiness", args=[system.slug]) + "#rollback-plan")
    return _readiness_page(request, system, forms={"rollback_plan": form}, status=400)

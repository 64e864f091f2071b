"""The root-cause assessment pages: one system's scores, questionnaire and action plan, and the
portfolio's heat map.

Scores, evidence and permissions come from governance.assessment, the selectors and
the services; this module only lays them out and turns ApplicationError into pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from core.errors import ApplicationError
from governance import assessment, selectors, services
from governance.choices import RootCause
from governance.forms import (
    ActionDoneForm,
    ActionDropForm,
    ActionItemForm,
    AssessmentForm,
    ConfirmForm,
)
from governance.models import ActionItem
from registry.models import AISystem
from registry.views import role_required_to_read

SYSTEMS_PER_PAGE = 25
CAUSE_SHORT = {
    assessment.INTEGRATION: gettext_lazy("1 · Integration"),
    assessment.OUTPUT_QUALITY: gettext_lazy("2 · Output quality"),
    assessment.MONITORING: gettext_lazy("3 · Monitoring"),
    assessment.OWNERSHIP: gettext_lazy("4 · Ownership"),
    assessment.TRAINING_DATA: gettext_lazy("5 · Training data"),
}
BANDS = {
    "low": gettext_lazy("low"),
    "medium": gettext_lazy("medium"),
    "high": gettext_lazy("high"),
    "none": gettext_lazy("not assessed"),
}


def _band(score: int | None) -> str:
    """The risk band of a score, by the plan's own levels (medium from 30, high from 60)."""
    if score is None:
        return "none"
    if score >= assessment.HIGH_LEVEL:
        return "high"
    return "medium" if score >= assessment.ACTION_LEVEL else "low"


def _score_rows(scores) -> list[dict]:
    return [
        {
            "cause": score.cause,
            "short": CAUSE_SHORT[score.cause],
            "label": RootCause(score.cause).label,
            "score": score.score,
            "band": _band(score.score),
            "band_label": BANDS[_band(score.score)],
            "questionnaire": score.questionnaire,
            "evidence": score.evidence,
            "answered": score.answered,
            "questions": score.questions,
            "reasons": score.reasons,
        }
        for score in scores
    ]


def _today() -> date:
    # The plan's due dates are UTC days (action_plan_generate uses now.date()).
    return timezone.now().date()


def _forbid(exc: ApplicationError) -> None:
    if exc.status == 403:
        raise PermissionDenied(exc.message) from None


def _system_url(system: AISystem, anchor: str = "") -> str:
    return reverse("governance:assessment", args=[system.slug]) + anchor


# --- One system ------------------------------------------------------------------------------


def _answer_rows(answers: dict[str, int]) -> list[dict]:
    """The questionnaire as read by someone who may not answer: text and the answer's label."""
    scale = dict(assessment.SCALE)
    return [
        {
            "cause": cause,
            "label": RootCause(cause).label,
            "questions": [
                {
                    "text": question.text,
                    "value": answers.get(question.key),
                    "answer": scale.get(answers.get(question.key)),
                }
                for question in assessment.QUESTIONS
                if question.cause == cause
            ],
        }
        for cause in assessment.CAUSES
    ]


def _assessment_page(
    request: HttpRequest, system: AISystem, *, form: AssessmentForm | None = None, status=200
) -> HttpResponse:
    state = selectors.system_assessment(system)
    user = request.user
    may_assess = services.may_assess(system, user)
    items = state["items"]
    open_items = [item for item in items if item.status == ActionItem.Status.OPEN]
    context = {
        "system": system,
        "current": "assessment",
        "scores": _score_rows(state["scores"]),
        "may_assess": may_assess,
        "form": (form or AssessmentForm(initial=state["answers"])) if may_assess else None,
        "answer_rows": _answer_rows(state["answers"]),
        "answered": len(state["answers"]),
        "question_count": len(assessment.QUESTIONS),
        "open_items": open_items,
        "closed_items": [item for item in items if item.status != ActionItem.Status.OPEN],
        "may_close": {item.pk for item in open_items if services.may_close_action(item, user)},
        "today": _today(),
        "action_level": assessment.ACTION_LEVEL,
        "high_level": assessment.HIGH_LEVEL,
    }
    return render(request, "governance/assessment.html", context, status=status)


@require_http_methods(["GET", "POST"])
@role_required_to_read
def assessment_page(request: HttpRequest, slug: str) -> HttpResponse:
    """A system's five root causes with their reasons, the questionnaire and the action plan."""
    system = get_object_or_404(AISystem, slug=slug)
    if request.method == "GET":
        return _assessment_page(request, system)
    if not services.may_assess(system, request.user):
        raise PermissionDenied(_("You may read this assessment but not answer it."))
    form = AssessmentForm(request.POST)
    if not form.is_valid():
        return _assessment_page(request, system, form=form, status=400)
    try:
        changed = services.assessment_answers_save(
            system=system, by=request.user, answers=form.answers()
        )
    except ApplicationError as exc:
        _forbid(exc)
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return _assessment_page(request, system, form=form, status=400)
    if changed:
        messages.success(
            request,
            _("Saved %(count)s answer(s); the scores are updated.") % {"count": len(changed)},
        )
    else:
        messages.info(request, _("No answer changed."))
    return redirect(_system_url(system, "#questionnaire-title"))


# --- The action plan -------------------------------------------------------------------------


def _plan_confirm(request, system, form, *, status=200) -> HttpResponse:
    state = selectors.system_assessment(system)
    preview = selectors.action_plan_preview(system, state, today=_today())
    context = {
        "system": system,
        "form": form,
        "question": _("Generate the action plan of %(name)s from its scores?")
        % {"name": system.name},
        "explain": _(
            "Every cause scoring %(action)s or more gets an action (two from %(high)s), "
            "worst first, owned by the system's owner. An action proposed before, even one "
            "done or dropped, is not proposed again."
        )
        % {"action": assessment.ACTION_LEVEL, "high": assessment.HIGH_LEVEL},
        "button": _("Add these actions") if preview else None,
        "preview": [
            {"action": action, "cause": RootCause(action.cause).label} for action in preview
        ],
        "scores": _score_rows(state["scores"]),
        "kind": "plan",
    }
    return render(request, "governance/assessment_confirm.html", context, status=status)


@require_http_methods(["GET", "POST"])
@role_required_to_read
def plan_generate(request: HttpRequest, slug: str) -> HttpResponse:
    """GET shows what the plan would add; POST adds it through the service."""
    system = get_object_or_404(AISystem, slug=slug)
    if not services.may_assess(system, request.user):
        raise PermissionDenied(_("You may read the action plan but not change it."))
    if request.method == "GET":
        return _plan_confirm(request, system, ConfirmForm())
    form = ConfirmForm(request.POST)
    if not form.is_valid():
        return _plan_confirm(request, system, form, status=400)
    try:
        created = services.action_plan_generate(system=system, by=request.user)
    except ApplicationError as exc:
        _forbid(exc)
        messages.error(request, exc.message)
    else:
        if created:
            messages.success(
                request, _("Added %(count)s action(s) to the plan.") % {"count": len(created)}
            )
        else:
            messages.info(request, _("The scores call for no action that was not proposed before."))
    return redirect(_system_url(system, "#plan-title"))


def _item(slug: str, pk: int) -> ActionItem:
    return get_object_or_404(
        ActionItem.objects.select_related("system", "owner"), pk=pk, system__slug=slug
    )


def _closed_already(request: HttpRequest, item: ActionItem) -> HttpResponse:
    messages.error(
        request,
        _("This action is %(status)s already; it cannot change.")
        % {"status": item.get_status_display().lower()},
    )
    return redirect(_system_url(item.system, "#plan-title"))


def _item_page(request, item, form, *, status=200) -> HttpResponse:
    context = {"system": item.system, "item": item, "form": form, "today": _today()}
    return render(request, "governance/assessment_item.html", context, status=status)


@require_http_methods(["GET", "POST"])
@role_required_to_read
def item_edit(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Change an open action's title, owner, due date and priority."""
    item = _item(slug, pk)
    if not services.may_assess(item.system, request.user):
        raise PermissionDenied(_("You may read the action plan but not change it."))
    if item.status != ActionItem.Status.OPEN:
        return _closed_already(request, item)
    initial = {
        "title": item.title,
        "owner": item.owner_id,
        "due_date": item.due_date,
        "priority": item.priority,
    }
    if request.method == "GET":
        return _item_page(
            request, item, ActionItemForm(initial=initial, current_owner_id=item.owner_id)
        )
    form = ActionItemForm(request.POST, initial=initial, current_owner_id=item.owner_id)
    if not form.is_valid():
        return _item_page(request, item, form, status=400)
    # Only what changed goes to the service, so the audit trail records only that.
    changes = {name: form.cleaned_data[name] for name in form.changed_data}
    if not changes:
        messages.info(request, _("Nothing changed."))
        return redirect(_system_url(item.system, "#plan-title"))
    try:
        services.action_item_update(item=item, by=request.user, **changes)
    except ApplicationError as exc:
        _forbid(exc)
        if exc.status == 409:
            messages.error(request, exc.message)
            return redirect(_system_url(item.system, "#plan-title"))
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return _item_page(request, item, form, status=400)
    messages.success(request, _("Action saved."))
    return redirect(_system_url(item.system, "#plan-title"))


@dataclass(frozen=True)
class _Closing:
    """How an action closes on the pages: its form and its wording."""

    form: type[Form]
    question: str
    explain: str
    button: str
    done: str
    danger: bool = False


CLOSINGS = {
    ActionItem.Status.DONE: _Closing(
        ActionDoneForm,
        gettext_lazy("Mark “%(title)s” as done?"),
        gettext_lazy(
            "The action closes for good and the audit trail records who closed it. "
            "The scores move when the evidence or the answers do."
        ),
        gettext_lazy("Mark as done"),
        gettext_lazy("Marked as done."),
    ),
    ActionItem.Status.DROPPED: _Closing(
        ActionDropForm,
        gettext_lazy("Drop “%(title)s”?"),
        gettext_lazy(
            "The action closes for good and is not proposed again. Say why, for the audit trail."
        ),
        gettext_lazy("Drop the action"),
        gettext_lazy("Dropped."),
        danger=True,
    ),
}


def _close_confirm(request, item, status_to, form, *, status=200) -> HttpResponse:
    closing = CLOSINGS[status_to]
    context = {
        "system": item.system,
        "item": item,
        "form": form,
        "question": closing.question % {"title": item.title},
        "explain": closing.explain,
        "button": closing.button,
        "danger": closing.danger,
        "today": _today(),
        "kind": "close",
    }
    return render(request, "governance/assessment_confirm.html", context, status=status)


@require_http_methods(["GET", "POST"])
@role_required_to_read
def item_close(request: HttpRequest, slug: str, pk: int, status: str) -> HttpResponse:
    """GET asks for confirmation; POST closes the action through the service (done or dropped)."""
    item = _item(slug, pk)
    closing = CLOSINGS[status]
    if not services.may_close_action(item, request.user):
        raise PermissionDenied(_("Only those who plan, or the action's owner, may close it."))
    if item.status != ActionItem.Status.OPEN:
        return _closed_already(request, item)
    if request.method == "GET":
        return _close_confirm(request, item, status, closing.form())
    form = closing.form(request.POST)
    if not form.is_valid():
        return _close_confirm(request, item, status, form, status=400)
    try:
        services.action_item_close(
            item=item, by=request.user, status=status, note=form.cleaned_data["note"]
        )
    except ApplicationError as exc:
        _forbid(exc)
        if exc.status == 400:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            return _close_confirm(request, item, status, form, status=400)
        messages.error(request, exc.message)
    else:
        messages.success(request, closing.done)
    return redirect(_system_url(item.system, "#plan-title"))


# --- The portfolio ---------------------------------------------------------------------------


@require_GET
@role_required_to_read
def portfolio(request: HttpRequest) -> HttpResponse:
    """Every system's five root causes: a heat map, and the same scores as a table.

    Both show one page of systems, 25 at a time, so that the heat map stays readable.
    """
    page = Paginator(selectors.portfolio_assessment(), SYSTEMS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    rows = []
    for system, scores in page.object_list:
        rows.append({"system": system, "url": _system_url(system), "cells": _score_rows(scores)})
    causes = [{"cause": cause, "short": CAUSE_SHORT[cause]} for cause in assessment.CAUSES]
    chart_config = {
        "causes": [str(CAUSE_SHORT[cause]) for cause in assessment.CAUSES],
        "systems": [row["system"].name for row in rows],
        "z": [[cell["score"] for cell in row["cells"]] for row in rows],
        "text": [
            [
                f"{cell['score']} · {cell['band_label']}"
                if cell["score"] is not None
                else str(cell["band_label"])
                for cell in row["cells"]
            ]
            for row in rows
        ],
        "urls": [[row["url"]] * len(assessment.CAUSES) for row in rows],
        "levels": {"medium": assessment.ACTION_LEVEL, "high": assessment.HIGH_LEVEL},
        "labels": {
            "score": _("Risk score (0-100)"),
            "no_library": _("The chart library did not load; the table below has every score."),
            "unavailable": _("The heat map could not be drawn; the table below has every score."),
        },
    }
    context = {
        "rows": rows,
        "page": page,
        "causes": causes,
        "chart_config": chart_config,
        "action_level": assessment.ACTION_LEVEL,
        "high_level": assessment.HIGH_LEVEL,
    }
    return render(request, "governance/assessment_portfolio.html", context)

"""The escalation queue, one escalation's page, the personal inbox, and webhooks.

Kept apart from governance/views.py (audit, ownership, change requests) so
that each page family has one module; both are routed by governance/urls.py.
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import ApplicationError
from core.htmx import htmx_render
from governance.choices import EscalationState, RootCause, Severity
from governance.models import AuditEvent, Escalation, Notification, Webhook, WebhookDelivery
from governance.services import escalations as service
from governance.services import webhooks
from registry.models import AISystem
from registry.views import role_required_to_read

PER_PAGE = 25


class QueueFilterForm(forms.Form):
    """Filters of the escalation queue (all optional)."""

    state = forms.ChoiceField(
        label=gettext_lazy("State"),
        required=False,
        choices=[("", gettext_lazy("Open or acknowledged")), *EscalationState.choices],
    )
    severity = forms.ChoiceField(
        label=gettext_lazy("Severity"), required=False, choices=[("", "—"), *Severity.choices]
    )
    system = forms.ModelChoiceField(
        label=gettext_lazy("System"),
        required=False,
        queryset=AISystem.objects.order_by("name"),
        to_field_name="slug",
    )
    mine = forms.BooleanField(label=gettext_lazy("Assigned to me"), required=False)


class ResolveForm(forms.Form):
    """What was done, and which root cause it was."""

    note = forms.CharField(
        label=gettext_lazy("What was done"), widget=forms.Textarea(attrs={"rows": 3})
    )
    root_cause = forms.ChoiceField(label=gettext_lazy("Root cause"), choices=RootCause.choices)


@require_GET
@role_required_to_read
def escalation_queue(request: HttpRequest) -> HttpResponse:
    """Escalations, open ones first by default, filterable by state, severity, system, assignee.

    The filters and the pager swap the list alone (htmx).
    """
    form = QueueFilterForm(request.GET or None)
    rows = Escalation.objects.select_related("system", "assignee").order_by("-last_seen")
    if form.is_valid():
        data = form.cleaned_data
        rows = (
            rows.filter(state=data["state"])
            if data["state"]
            else rows.exclude(state=EscalationState.RESOLVED)
        )
        if data["severity"]:
            rows = rows.filter(severity=data["severity"])
        if data["system"]:
            rows = rows.filter(system=data["system"])
        if data["mine"]:
            rows = rows.filter(assignee=request.user)
    else:
        rows = rows.exclude(state=EscalationState.RESOLVED)
    page = Paginator(rows, PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    handled = {
        escalation.pk: escalation.state
        for escalation in page.object_list
        if escalation.state != EscalationState.RESOLVED
        and service.may_handle(escalation, request.user)
    }
    return htmx_render(
        request,
        "governance/escalation_queue.html",
        "governance/_escalation_results.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "filtered": bool(query),
            "may_acknowledge": {pk for pk, state in handled.items() if state == "open"},
            "may_resolve": set(handled),
            "root_causes": RootCause.choices,
            "here": request.get_full_path(),
        },
    )


@require_GET
@role_required_to_read
def escalation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One escalation: what happened, who has it, its history, and the actions allowed."""
    return _detail(request, get_object_or_404(Escalation.objects.select_related("system"), pk=pk))


def _detail(request, escalation, *, resolve_form=None, status=200):
    history = AuditEvent.objects.filter(
        object_type="governance.escalation", object_id=str(escalation.pk)
    ).order_by("id")
    may_handle = service.may_handle(escalation, request.user)
    return render(
        request,
        "governance/escalation_detail.html",
        {
            "escalation": escalation,
            "history": history,
            "may_handle": may_handle,
            "resolve_form": resolve_form or ResolveForm(),
            "silence_form": SilenceForm(initial={"matcher": escalation.dedup_key}),
            "silences": escalation.system.silences.filter(
                ends_at__gt=timezone.now(), ended_at__isnull=True
            ),
        },
        status=status,
    )


def _act(request, escalation, action, done: str) -> HttpResponse:
    try:
        action()
    except ApplicationError as exc:
        if exc.status == 403:
            raise PermissionDenied(exc.message) from None
        messages.error(request, exc.message)
    else:
        messages.success(request, done)
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        return redirect(back)
    return redirect("governance:escalation_detail", pk=escalation.pk)


@require_POST
@role_required_to_read
def escalation_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    """Take the escalation: its level stops rising."""
    escalation = get_object_or_404(Escalation, pk=pk)
    return _act(
        request,
        escalation,
        lambda: service.escalation_acknowledge(escalation=escalation, by=request.user),
        _("Acknowledged: the escalation is yours and its level stops rising."),
    )


@require_POST
@role_required_to_read
def escalation_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    """Close the escalation with what was done and the root cause."""
    escalation = get_object_or_404(Escalation.objects.select_related("system"), pk=pk)
    form = ResolveForm(request.POST)
    if not form.is_valid():
        return _detail(request, escalation, resolve_form=form, status=400)
    return _act(
        request,
        escalation,
        lambda: service.escalation_resolve(
            escalation=escalation,
            by=request.user,
            note=form.cleaned_data["note"],
            root_cause=form.cleaned_data["root_cause"],
        ),
        _("Resolved."),
    )


@require_GET
@role_required_to_read
def inbox(request: HttpRequest) -> HttpResponse:
    """The signed-in person's notifications, unread first."""
    rows = Notification.objects.filter(user=request.user).order_by("read_at", "-created_at")
    page = Paginator(rows, PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "governance/inbox.html", {"page": page})


@require_POST
@role_required_to_read
def inbox_read(request: HttpRequest) -> HttpResponse:
    """Mark all of the person's notifications read."""
    Notification.objects.filter(user=request.user, read_at__isnull=True).update(
        read_at=timezone.now()
    )
    return redirect("governance:inbox")


# --- Webhooks -------------------------------------------------------------------------------


class WebhookForm(forms.Form):
    """A receiver's URL."""

    url = forms.URLField(
        label=gettext_lazy("URL"),
        assume_scheme="https",
        max_length=500,
        help_text=gettext_lazy("Receives a signed POST for each new or escalated escalation."),
    )


def _webhook_page(request, system, *, form=None, secret=None, status=200):
    hooks = list(system.webhooks.order_by("url"))
    deliveries = Paginator(
        WebhookDelivery.objects.filter(webhook__system=system)
        .select_related("webhook")
        .order_by("-created_at", "-pk"),
        PER_PAGE,
    ).get_page(request.GET.get("page"))
    response = render(
        request,
        "governance/webhooks.html",
        {
            "system": system,
            "current": "webhooks",
            "hooks": hooks,
            "deliveries": deliveries,
            "form": form or WebhookForm(),
            "new_secret": secret,
        },
        status=status,
    )
    response["Cache-Control"] = "no-store"  # may show a secret
    return response


def _require_webhook_manager(request, system) -> None:
    if not webhooks.may_manage(system, request.user):
        raise PermissionDenied


@require_http_methods(["GET", "POST"])
@role_required_to_read
def webhook_settings(request: HttpRequest, slug: str) -> HttpResponse:
    """A system's webhooks and their delivery log; directors and the owner add them."""
    system = get_object_or_404(AISystem, slug=slug)
    _require_webhook_manager(request, system)
    if request.method == "GET":
        return _webhook_page(request, system)
    form = WebhookForm(request.POST)
    if not form.is_valid():
        return _webhook_page(request, system, form=form, status=400)
    try:
        _hook, secret = webhooks.webhook_create(
            system=system, by=request.user, url=form.cleaned_data["url"]
        )
    except ApplicationError as exc:
        form.add_error("url", exc.message)
        return _webhook_page(request, system, form=form, status=400)
    return _webhook_page(request, system, secret=secret)


@require_POST
@role_required_to_read
def webhook_toggle(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Pause or resume one webhook."""
    hook = get_object_or_404(Webhook.objects.select_related("system"), pk=pk, system__slug=slug)
    _require_webhook_manager(request, hook.system)
    webhooks.webhook_set_enabled(webhook=hook, by=request.user, enabled=not hook.enabled)
    return redirect("governance:webhooks", slug=slug)


# --- Silences --------------------------------------------------------------------------------


class SilenceForm(forms.Form):
    """Mute alerts whose key starts with `matcher`, for a while, saying why."""

    matcher = forms.CharField(label=gettext_lazy("Mute keys starting with"), max_length=200)
    reason = forms.CharField(label=gettext_lazy("Reason"), widget=forms.Textarea(attrs={"rows": 2}))
    hours = forms.IntegerField(
        label=gettext_lazy("For how many hours"), min_value=1, max_value=720, initial=4
    )


@require_POST
@role_required_to_read
def silence_create(request: HttpRequest, pk: int) -> HttpResponse:
    """Mute alerts like this escalation's, with a reason and an expiry."""
    escalation = get_object_or_404(Escalation.objects.select_related("system"), pk=pk)
    form = SilenceForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("A silence needs what to mute, a reason and 1 to 720 hours."))
        return redirect("governance:escalation_detail", pk=pk)
    data = form.cleaned_data
    return _act(
        request,
        escalation,
        lambda: service.silence_create(
            system=escalation.system,
            by=request.user,
            matcher=data["matcher"],
            reason=data["reason"],
            ends_at=timezone.now() + timedelta(hours=data["hours"]),
        ),
        _("Muted. The silence ends by itself when it expires."),
    )

"""The governance app's browser pages: the audit trail, ownership and sign-off, change requests."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.forms import Form
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import ApplicationError
from core.htmx import htmx_render
from core.roles import Role, has_role
from governance import permissions, selectors, services
from governance.audit import change_summary
from governance.choices import VERSION_KINDS, ChangeState
from governance.forms import (
    ApproveForm,
    AuditFilterForm,
    ChangeFilterForm,
    ChangeRequestForm,
    ConfirmForm,
    LeadForm,
    MemberForm,
    OptionalReasonForm,
    OwnerForm,
    ReasonForm,
    SignForm,
    StatementForm,
)
from governance.models import AiOpsMember, BusinessUnitLead, ChangeRequest
from registry.models import AISystem, ModelVersion
from registry.selectors import system_metric_specs, system_versions
from registry.views import role_required_to_read

EVENTS_PER_PAGE = 50
EXPORT_CHUNK_SIZE = 2000
FILTER_FIELDS = ("system", "actor", "action", "date_from", "date_to")
CSV_COLUMNS = (
    "id",
    "at",
    "actor_kind",
    "actor_label",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "system_slug",
    "before",
    "after",
    "reason",
    "prev_hash",
    "hash",
)
# Free text a spreadsheet would run as a formula if it started with one of these.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
TEXT_COLUMNS = {"actor_label", "object_type", "object_id", "object_repr", "reason", "action"}


def _filter_form(request: HttpRequest) -> AuditFilterForm:
    """The filter form, bound when any filter is in the query string."""
    bound = any(request.GET.get(field) for field in FILTER_FIELDS)
    return AuditFilterForm(
        request.GET if bound else None,
        systems=selectors.audit_systems(),
        actions=selectors.audit_actions(),
    )


def _filters(form: AuditFilterForm) -> dict | None:
    """The cleaned filters ({} when none were given), or None when they are invalid."""
    if not form.is_bound:
        return {}
    return form.cleaned_data if form.is_valid() else None


@require_GET
@role_required_to_read
def audit_list(request: HttpRequest) -> HttpResponse:
    """The audit trail, newest first, 50 to a page, filtered by system, actor, action and days.

    The filters and the pager swap the list alone (htmx).
    """
    form = _filter_form(request)
    filters = _filters(form)
    page = None
    if filters is not None:
        page = Paginator(selectors.audit_events(filters), EVENTS_PER_PAGE).get_page(
            request.GET.get("page")
        )
        for event in page.object_list:
            event.changes = change_summary(event.before, event.after)
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "filtered": bool(filters) and any(filters.values()),
        "query": query.urlencode(),
    }
    return htmx_render(
        request, "governance/audit_list.html", "governance/_audit_results.html", context
    )


class _Echo:
    """A file-like object whose write returns the line, so csv.writer can feed a stream."""

    def write(self, value: str) -> str:
        return value


def _csv_cell(column: str, value) -> str:
    if value is None:
        return ""
    if column in ("before", "after"):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    if column == "at":
        return value.isoformat()
    text = str(value)
    if column in TEXT_COLUMNS and text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def _csv_lines(events) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for event in events.iterator(chunk_size=EXPORT_CHUNK_SIZE):
        yield writer.writerow([_csv_cell(column, event[column]) for column in CSV_COLUMNS])


@require_GET
@role_required_to_read
def audit_export(request: HttpRequest) -> HttpResponse:
    """The filtered audit trail as CSV, oldest first (chain order), streamed."""
    form = _filter_form(request)
    filters = _filters(form)
    if filters is None:
        errors = "; ".join(str(error) for errors in form.errors.values() for error in errors)
        return HttpResponse(errors, status=400, content_type="text/plain; charset=utf-8")
    events = selectors.audit_events(filters).order_by("id").values(*CSV_COLUMNS)
    response = StreamingHttpResponse(_csv_lines(events), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    return response


# --- Ownership and accountability -----------------------------------------------------


def _may_direct(user) -> bool:
    return has_role(user, Role.OPERATIONS_DIRECTOR)


def _ownership_page(request: HttpRequest, system: AISystem, *, forms=None, status=200):
    """The ownership page, with any bound forms (carrying their errors) put back in place."""
    state = selectors.ownership_status(system)
    user = request.user
    is_owner = state.ownership.owner_id == user.pk
    may_edit = _may_direct(user) or is_owner
    forms = forms or {}
    context = {
        "system": system,
        "current": "ownership",
        "state": state,
        "is_owner": is_owner,
        "may_assign": _may_direct(user),
        "may_edit": may_edit,
        "owner_form": forms.get("owner")
        or OwnerForm(
            initial={
                "owner": state.ownership.owner_id,
                "budget_authority": state.ownership.budget_authority,
            }
        ),
        "statement_form": forms.get("statement")
        or StatementForm(initial={"statement": state.ownership.statement}),
        "sign_form": forms.get("sign") or SignForm(),
        "member_form": forms.get("member") or MemberForm(),
        "lead_form": forms.get("lead") or LeadForm(),
        "my_leads": [lead for lead in state.leads if lead.user_id == user.pk],
    }
    return render(request, "governance/ownership.html", context, status=status)


def _run(request: HttpRequest, system: AISystem, action, *, form_key=None, form=None, done=None):
    """Call a service; on success redirect back (saying `done`), on a broken rule show why."""
    try:
        action()
    except ApplicationError as exc:
        if exc.status == 403:
            raise PermissionDenied(exc.message) from None
        if form is not None and form_key:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            return _ownership_page(request, system, forms={form_key: form}, status=400)
        messages.error(request, exc.message)
    else:
        messages.success(request, done or _("Saved."))
    return redirect("governance:ownership", slug=system.slug)


@require_GET
@role_required_to_read
def ownership(request: HttpRequest, slug: str) -> HttpResponse:
    """Who is accountable for a system: owner, signature, AI-ops staff, business-unit leads."""
    return _ownership_page(request, get_object_or_404(AISystem, slug=slug))


@require_POST
@role_required_to_read
def ownership_assign(request: HttpRequest, slug: str) -> HttpResponse:
    """An operations director names the owner and records their budget authority."""
    system = get_object_or_404(AISystem, slug=slug)
    if not _may_direct(request.user):
        raise PermissionDenied
    form = OwnerForm(request.POST)
    if not form.is_valid():
        return _ownership_page(request, system, forms={"owner": form}, status=400)
    data = form.cleaned_data
    return _run(
        request,
        system,
        lambda: services.ownership_assign(
            system=system,
            by=request.user,
            owner=data["owner"],
            budget_authority=data["budget_authority"],
            reason=data["reason"],
        ),
        form_key="owner",
        form=form,
    )


@require_POST
@role_required_to_read
def statement_update(request: HttpRequest, slug: str) -> HttpResponse:
    """A director or the owner changes the statement (which voids the signature in force)."""
    system = get_object_or_404(AISystem, slug=slug)
    form = StatementForm(request.POST)
    if not form.is_valid():
        return _ownership_page(request, system, forms={"statement": form}, status=400)
    return _run(
        request,
        system,
        lambda: services.accountability_statement_update(
            system=system, by=request.user, statement=form.cleaned_data["statement"]
        ),
        form_key="statement",
        form=form,
    )


@require_POST
@role_required_to_read
def sign(request: HttpRequest, slug: str) -> HttpResponse:
    """The named owner signs the statement shown on the page."""
    system = get_object_or_404(AISystem, slug=slug)
    form = SignForm(request.POST)
    if not form.is_valid():
        return _ownership_page(request, system, forms={"sign": form}, status=400)
    return _run(
        request,
        system,
        lambda: services.accountability_sign(system=system, by=request.user),
        done=_(
            "Signed. The signature is valid until it expires or the owner or statement changes."
        ),
    )


@require_POST
@role_required_to_read
def member_add(request: HttpRequest, slug: str) -> HttpResponse:
    """Add a person to the system's AI-operations function."""
    system = get_object_or_404(AISystem, slug=slug)
    form = MemberForm(request.POST)
    if not form.is_valid():
        return _ownership_page(request, system, forms={"member": form}, status=400)
    return _run(
        request,
        system,
        lambda: services.ai_ops_member_add(
            system=system, by=request.user, user=form.cleaned_data["user"]
        ),
        form_key="member",
        form=form,
    )


@require_POST
@role_required_to_read
def member_remove(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Remove a person from the AI-operations function."""
    member = get_object_or_404(AiOpsMember, pk=pk, system__slug=slug)
    return _run(
        request,
        member.system,
        lambda: services.ai_ops_member_remove(member=member, by=request.user),
    )


@require_POST
@role_required_to_read
def lead_add(request: HttpRequest, slug: str) -> HttpResponse:
    """Name a business-unit lead for the system."""
    system = get_object_or_404(AISystem, slug=slug)
    form = LeadForm(request.POST)
    if not form.is_valid():
        return _ownership_page(request, system, forms={"lead": form}, status=400)
    data = form.cleaned_data
    return _run(
        request,
        system,
        lambda: services.business_unit_lead_add(
            system=system, by=request.user, user=data["user"], business_unit=data["business_unit"]
        ),
        form_key="lead",
        form=form,
    )


@require_POST
@role_required_to_read
def lead_remove(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Remove a business-unit lead from the system."""
    lead = get_object_or_404(BusinessUnitLead, pk=pk, system__slug=slug)
    return _run(
        request, lead.system, lambda: services.business_unit_lead_remove(lead=lead, by=request.user)
    )


@require_POST
@role_required_to_read
def briefing_attest(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """A business-unit lead attests, for themselves, that the briefing was completed."""
    lead = get_object_or_404(BusinessUnitLead, pk=pk, system__slug=slug)
    return _run(
        request,
        lead.system,
        lambda: services.briefing_attest(lead=lead, by=request.user),
        done=_("Briefing attested for %(unit)s.") % {"unit": lead.business_unit},
    )


# --- Change requests -----------------------------------------------------------------------

CHANGES_PER_PAGE = 25


def _with_needed(changes) -> None:
    """Give each listed request its approvals_needed, for "1 of 2" in the table."""
    for change in changes:
        change.approvals_needed = services.approvals_required(change.risk_tier)


def _change_list(request: HttpRequest, system: AISystem | None) -> HttpResponse:
    """All change requests, or one system's, newest first, 25 to a page, filtered (htmx swaps)."""
    systems = None if system else selectors.audit_systems()
    bound = any(request.GET.get(field) for field in ("state", "system"))
    form = ChangeFilterForm(request.GET if bound else None, systems=systems)
    filters = _filters(form)
    page = None
    if filters is not None:
        changes = selectors.change_requests(
            state=filters.get("state", ""),
            system=filters.get("system", ""),
            system_id=system.pk if system else None,
        )
        page = Paginator(changes, CHANGES_PER_PAGE).get_page(request.GET.get("page"))
        _with_needed(page.object_list)
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "system": system,
        "current": "changes",
        "form": form,
        "page": page,
        "filtered": bool(filters) and any(filters.values()),
        "query": query.urlencode(),
        "may_open": system is not None and permissions.can_open_change(request.user, system),
    }
    return htmx_render(
        request, "governance/change_list.html", "governance/_change_results.html", context
    )


@require_GET
@role_required_to_read
def change_list(request: HttpRequest) -> HttpResponse:
    """Every change request in the portfolio, filtered by state and system."""
    return _change_list(request, None)


@require_GET
@role_required_to_read
def system_changes(request: HttpRequest, slug: str) -> HttpResponse:
    """One system's change requests (a tab of the system's pages)."""
    return _change_list(request, get_object_or_404(AISystem, slug=slug))


def _change_new_page(request, system, form, *, status=200) -> HttpResponse:
    return render(
        request,
        "governance/change_new.html",
        {
            "system": system,
            "current": "changes",
            "form": form,
            "metrics": system_metric_specs(system),
        },
        status=status,
    )


def _threshold_change_initial(system: AISystem, key: str) -> dict | None:
    """A parameter change pre-filled with a metric's current thresholds (the easy path)."""
    spec = system_metric_specs(system).filter(key=key).first()
    if spec is None:
        return None
    parameters = {"metric_spec": spec.key, "warning": spec.warning, "critical": spec.critical}
    return {
        "kind": "parameter_change",
        "parameters": json.dumps(parameters, indent=2),
        "title": _("Change the thresholds of %(name)s") % {"name": spec.name},
        "risk_tier": system.risk_tier,
    }


@require_http_methods(["GET", "POST"])
@role_required_to_read
def change_new(request: HttpRequest, slug: str) -> HttpResponse:
    """Open a change request for a system; it starts as a draft the requester submits."""
    system = get_object_or_404(AISystem, slug=slug)
    if not permissions.can_open_change(request.user, system):
        raise PermissionDenied(_("Viewers and business-unit leads do not open change requests."))
    versions = list(system_versions(system).values_list("version", flat=True))
    if request.method == "GET":
        initial = _threshold_change_initial(system, request.GET.get("metric", "")) or {
            "risk_tier": system.risk_tier
        }
        form = ChangeRequestForm(versions=versions, initial=initial)
        return _change_new_page(request, system, form)
    form = ChangeRequestForm(request.POST, versions=versions)
    if not form.is_valid():
        return _change_new_page(request, system, form, status=400)
    data = dict(form.cleaned_data)
    version = data.pop("model_version")
    try:
        change = services.change_request_open(
            system=system,
            by=request.user,
            model_version=ModelVersion.objects.get(system=system, version=version)
            if version
            else None,
            **data,
        )
    except ApplicationError as exc:
        if exc.status == 403:
            raise PermissionDenied(exc.message) from None
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return _change_new_page(request, system, form, status=400)
    messages.success(request, _("Opened as a draft. Submit it for review when it is ready."))
    return redirect("governance:change_detail", pk=change.pk)


def _subject(change: ChangeRequest) -> str:
    """What the request is bound to, in words: a version, or a parameter set, and the hash."""
    if change.model_version_id:
        return _("version %(version)s (hash %(hash)s…)") % {
            "version": change.model_version.version,
            "hash": change.bound_hash[:12],
        }
    return _("the parameter set with hash %(hash)s…") % {"hash": change.bound_hash[:12]}


def _change_context(request: HttpRequest, change: ChangeRequest) -> dict:
    approvals = list(change.approvals.all())
    live = [approval for approval in approvals if approval.voided_at is None]
    approved_already = any(approval.approver_id == request.user.pk for approval in live)
    return {
        "change": change,
        "system": change.system,
        "approvals": approvals,
        "approvals_live": len(live),
        "approvals_needed": services.approvals_required(change.risk_tier),
        "actions": permissions.change_actions(
            request.user, change, approved_already=approved_already
        ),
        "subject": _subject(change),
        "version_kind": change.kind in VERSION_KINDS,
        "parameters_json": json.dumps(
            change.parameters, indent=2, sort_keys=True, ensure_ascii=False
        ),
    }


@require_GET
@role_required_to_read
def change_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A change request: what it binds, its state, approvals with their evidence, actions."""
    change = get_object_or_404(selectors.change_request_detail(), pk=pk)
    return render(request, "governance/change_detail.html", _change_context(request, change))


@dataclass(frozen=True)
class _Transition:
    """A change-request action of the pages: its form, its service call and its wording."""

    form: type[Form]
    run: Callable[..., ChangeRequest]
    question: str
    explain: str
    button: str
    done: str
    danger: bool = False


TRANSITIONS = {
    "submit": _Transition(
        ConfirmForm,
        lambda change, by, data: services.change_request_submit(change=change, by=by),
        gettext_lazy("Submit CR-%(id)s for %(subject)s for review?"),
        gettext_lazy(
            "Approvers are asked to decide. The request can no longer be edited; "
            "you can still cancel it."
        ),
        gettext_lazy("Submit for review"),
        gettext_lazy("Submitted for review."),
    ),
    "approve": _Transition(
        ApproveForm,
        lambda change, by, data: services.change_request_approve(
            change=change, by=by, comment=data["comment"]
        ),
        gettext_lazy("Approve CR-%(id)s for %(subject)s?"),
        gettext_lazy(
            "Your approval records this hash and the system's metrics as they are now, as the "
            "evidence you decided on. It becomes void if the version or parameters change."
        ),
        gettext_lazy("Approve"),
        gettext_lazy("Approved."),
    ),
    "reject": _Transition(
        ReasonForm,
        lambda change, by, data: services.change_request_reject(
            change=change, by=by, reason=data["reason"]
        ),
        gettext_lazy("Reject CR-%(id)s for %(subject)s?"),
        gettext_lazy("The request ends; the requester must open a new one. Say why."),
        gettext_lazy("Reject"),
        gettext_lazy("Rejected."),
        danger=True,
    ),
    "cancel": _Transition(
        OptionalReasonForm,
        lambda change, by, data: services.change_request_cancel(
            change=change, by=by, reason=data["reason"]
        ),
        gettext_lazy("Cancel CR-%(id)s for %(subject)s?"),
        gettext_lazy("The request is withdrawn and cannot be reopened."),
        gettext_lazy("Cancel the request"),
        gettext_lazy("Cancelled."),
        danger=True,
    ),
    "deploy": _Transition(
        ConfirmForm,
        lambda change, by, data: services.change_request_mark_deployed(change=change, by=by),
        gettext_lazy("Record that CR-%(id)s for %(subject)s went live?"),
        gettext_lazy("Only what was approved may go live: the hash must still match."),
        gettext_lazy("Mark deployed"),
        gettext_lazy("Recorded as deployed."),
    ),
    "roll_back": _Transition(
        ReasonForm,
        lambda change, by, data: services.change_request_roll_back(
            change=change, by=by, reason=data["reason"]
        ),
        gettext_lazy("Record that CR-%(id)s for %(subject)s was rolled back?"),
        gettext_lazy("Say why it was rolled back; the request closes."),
        gettext_lazy("Record rollback"),
        gettext_lazy("Rollback recorded."),
        danger=True,
    ),
}


def _confirm_page(request, change, action, form, *, status=200) -> HttpResponse:
    transition = TRANSITIONS[action]
    context = _change_context(request, change) | {
        "action": action,
        "form": form,
        "question": transition.question % {"id": change.pk, "subject": _subject(change)},
        "transition": transition,
    }
    return render(request, "governance/change_confirm.html", context, status=status)


@require_http_methods(["GET", "POST"])
@role_required_to_read
def change_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """GET asks for confirmation; POST does it through the service (which has the last word)."""
    transition = TRANSITIONS[action]
    change = get_object_or_404(selectors.change_request_detail(), pk=pk)
    if request.method == "GET":
        context = _change_context(request, change)
        if action in context["actions"]:
            return _confirm_page(request, change, action, transition.form())
        if change.state not in permissions.ACTION_STATES[action]:
            messages.error(
                request,
                _("CR-%(id)s is %(state)s; this cannot be done now.")
                % {"id": change.pk, "state": change.get_state_display().lower()},
            )
        elif action == "approve" and "reject" in context["actions"]:
            messages.info(request, _("You have already approved this request."))
        else:
            raise PermissionDenied(_("You may not do this on this change request."))
        return redirect("governance:change_detail", pk=change.pk)
    form = transition.form(request.POST)
    if not form.is_valid():
        return _confirm_page(request, change, action, form, status=400)
    try:
        change = transition.run(change, request.user, form.cleaned_data)
    except ApplicationError as exc:
        if exc.status == 403:
            raise PermissionDenied(exc.message) from None
        if exc.status == 400:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            return _confirm_page(request, change, action, form, status=400)
        messages.error(request, exc.message)
    else:
        messages.success(request, _done_message(action, change, transition))
    return redirect("governance:change_detail", pk=change.pk)


def _done_message(action: str, change: ChangeRequest, transition: _Transition) -> str:
    """What the person just did; an approval that is not yet enough says how many are still due."""
    if action == "approve" and change.state == ChangeState.SUBMITTED:
        given = services.live_approvals(change).count()
        needed = services.approvals_required(change.risk_tier)
        return _(
            "Your approval is recorded: %(given)s of %(needed)s given. The request stays "
            "submitted until enough approvers have approved it."
        ) % {"given": given, "needed": needed}
    return str(transition.done)

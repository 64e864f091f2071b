"""The governance app's browser pages: the audit trail and its export, ownership and sign-off."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from core.errors import ApplicationError
from core.roles import Role, has_role
from governance import selectors, services
from governance.audit import change_summary
from governance.forms import (
    AuditFilterForm,
    LeadForm,
    MemberForm,
    OwnerForm,
    SignForm,
    StatementForm,
)
from governance.models import AiOpsMember, BusinessUnitLead
from registry.models import AISystem
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
    """The audit trail, newest first, 50 to a page, filtered by system, actor, action and days."""
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
    return render(request, "governance/audit_list.html", context)


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
    return _run(request, lead.system, lambda: services.briefing_attest(lead=lead, by=request.user))

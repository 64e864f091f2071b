"""The evidence pack's pages: a system's packs, building one, and the two downloads.

Everyone with a role reads every system, so everyone with a role lists and
downloads its packs; building one is for the roles of
`evidence_services.can_request_evidence` (the service has the last word).
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from core.errors import ApplicationError
from registry.views import role_required_to_read
from rollout.evidence import bundle_json, evidence_packs_list
from rollout.evidence_services import can_request_evidence, evidence_pack_request
from rollout.models import EvidencePack
from rollout.views.common import system_or_404

PACKS_PER_PAGE = 25
# The report is opened from disk or, if a browser ignores "attachment", from here:
# either way it may load nothing and run nothing.
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


@require_http_methods(["GET", "POST"])
@role_required_to_read
def evidence_list(request: HttpRequest, slug: str) -> HttpResponse:
    """A system's evidence packs, newest first; POST asks for a new one."""
    system = system_or_404(slug)
    if request.method == "POST":
        try:
            evidence_pack_request(system=system, by=request.user, language=request.LANGUAGE_CODE)
        except ApplicationError as exc:
            if exc.status == 403:
                raise PermissionDenied(exc.message) from None
            raise
        messages.success(
            request,
            _("Evidence pack requested. It is built in the background; this page updates itself."),
        )
        return redirect("evidence:list", slug=system.slug)
    page = Paginator(evidence_packs_list(system=system), PACKS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    context = {
        "system": system,
        "current": "evidence",
        "page": page,
        "may_build": can_request_evidence(request.user),
        "building": any(pack.status == EvidencePack.Status.PENDING for pack in page.object_list),
    }
    return render(request, "rollout/evidence_list.html", context)


def _ready_pack(pk: int) -> EvidencePack:
    pack = get_object_or_404(EvidencePack.objects.select_related("system"), pk=pk)
    if pack.status != EvidencePack.Status.READY:
        raise Http404(_("This evidence pack is not ready."))
    return pack


def _filename(pack: EvidencePack, extension: str) -> str:
    stamp = pack.finished_at.strftime("%Y%m%d-%H%M%S")
    return f"evidence-{pack.system.slug}-{pack.pk}-{stamp}.{extension}"


@require_GET
@role_required_to_read
def evidence_report(request: HttpRequest, pk: int) -> HttpResponse:
    """The HTML report of a ready pack, as a download."""
    pack = _ready_pack(pk)
    response = HttpResponse(pack.html, content_type="text/html; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_filename(pack, "html")}"'
    response["Content-Security-Policy"] = REPORT_CSP
    return response


@require_GET
@role_required_to_read
def evidence_bundle_download(request: HttpRequest, pk: int) -> HttpResponse:
    """The JSON bundle of a ready pack, as a download; its SHA-256 is the pack's."""
    pack = _ready_pack(pk)
    response = HttpResponse(bundle_json(pack.bundle), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{_filename(pack, "json")}"'
    response["ETag"] = f'"{pack.sha256}"'
    return response

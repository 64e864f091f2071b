"""The evidence pack's API: ask for a system's pack, list its packs, fetch one with its bundle.

Evidence is for people: a pipeline token may neither build nor read packs
(they name people, signatures and approvals, which no pipeline needs).
Building is one service call (rollout/evidence_services.py), which checks the role.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import (
    OpenApiExample,
    extend_schema,
    extend_schema_field,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from registry import permissions as perms
from registry.api import SystemScoped
from rollout.evidence import evidence_packs_list
from rollout.evidence_services import evidence_pack_request
from rollout.models import EvidencePack


class EvidencePackSerializer(serializers.ModelSerializer):
    """A pack: its status, who asked, its hash, and (one pack, once ready) its JSON bundle.

    One serializer for the list and the detail, so the schema has one pack and
    one status enum; lists leave `bundle` null (it can be megabytes).
    """

    system = serializers.CharField(source="system.slug", read_only=True)
    requested_by = serializers.CharField(source="requested_by.username", read_only=True)
    report_url = serializers.SerializerMethodField(
        help_text="The HTML report, for a signed-in browser (null until ready)."
    )
    bundle_url = serializers.SerializerMethodField(
        help_text="The JSON bundle as a file, for a signed-in browser (null until ready)."
    )
    bundle = serializers.SerializerMethodField(
        help_text="GET of one ready pack: the bundle (sections system, generated_at, "
        "stage_history, readiness, ownership, change_requests, escalations, rollouts, "
        "audit_chain); `sha256` hashes its file form. Null in lists and until ready."
    )

    class Meta:
        model = EvidencePack
        fields = [
            "id",
            "system",
            "status",
            "requested_by",
            "requested_at",
            "finished_at",
            "sha256",
            "error",
            "report_url",
            "bundle_url",
            "bundle",
        ]
        read_only_fields = fields

    def _url(self, pack: EvidencePack, name: str) -> str | None:
        if pack.status != EvidencePack.Status.READY:
            return None
        path = reverse(name, args=[pack.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_report_url(self, pack: EvidencePack) -> str | None:
        return self._url(pack, "evidence:report")

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_bundle_url(self, pack: EvidencePack) -> str | None:
        return self._url(pack, "evidence:bundle")

    @extend_schema_field(serializers.JSONField(allow_null=True))
    def get_bundle(self, pack: EvidencePack) -> dict | None:
        # Checked first: lists defer the column, and reading it would cost a query per pack.
        if not self.context.get("with_bundle") or pack.status != EvidencePack.Status.READY:
            return None
        return pack.bundle


# A request names nothing (an empty body, or none): the pack is of the system in the path,
# as it stands when the pack is built.
NO_OPTIONS = {"type": "object", "description": "Nothing to send: {} or no body at all."}
NO_OPTIONS_EXAMPLE = OpenApiExample("No options", request_only=True, value={})
PENDING_EXAMPLE = OpenApiExample(
    "Requested",
    response_only=True,
    status_codes=["202"],
    value={
        "id": 17,
        "system": "loan-classifier",
        "status": "pending",
        "requested_by": "vic",
        "requested_at": "2026-11-25T12:00:00Z",
        "finished_at": None,
        "sha256": "",
        "error": "",
        "report_url": None,
        "bundle_url": None,
        "bundle": None,
    },
)


@extend_schema(tags=["evidence"])
class EvidencePackViewSet(
    SystemScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """A system's evidence packs, newest first; POST asks for one, built in the background."""

    serializer_class = EvidencePackSerializer
    queryset = EvidencePack.objects.none()

    def get_system(self):
        if perms.is_pipeline(self.request.user):
            raise PermissionDenied("Evidence packs are for people, not for pipeline tokens.")
        return super().get_system()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return evidence_packs_list(system=self.get_system())

    def get_object(self):
        pack = get_object_or_404(
            EvidencePack.objects.select_related("system", "requested_by"),
            pk=self.kwargs["pk"],
            system=self.get_system(),
        )
        self.check_object_permissions(self.request, pack)
        return pack

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "with_bundle": self.action == "retrieve"}

    @extend_schema(
        operation_id="evidence_pack_request",
        request={"application/json": NO_OPTIONS},
        responses={202: EvidencePackSerializer},
        examples=[NO_OPTIONS_EXAMPLE, PENDING_EXAMPLE],
    )
    def create(self, request, slug: str):
        """Ask for a new pack: 202 with its id; poll it until `status` is ready or failed."""
        pack = evidence_pack_request(
            system=self.get_system(), by=request.user, language=request.LANGUAGE_CODE
        )
        pack = EvidencePack.objects.select_related("system", "requested_by").get(pk=pack.pk)
        body = self.get_serializer(pack).data
        return Response(body, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        operation_id="evidence_pack_list",
        description="A system's evidence packs, newest first (`bundle` is null in the list).",
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(
        operation_id="evidence_pack_retrieve",
        description="One pack: its status and, once ready, its bundle. Poll it after a POST.",
    )
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

"""POST /api/v1/systems/{slug}/escalations/: a pipeline reports an edge case.

Same rules as metric ingestion: 400 with per-field errors and nothing
written, 401, 403, 413 (over 256 KiB), never 500.
"""

from __future__ import annotations

import json

from django.core.exceptions import RequestDataTooBig
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import ERROR_MEANINGS, ErrorSerializer
from core.errors import ApplicationError
from governance.choices import EscalationSource, Severity
from governance.services import escalations
from registry import permissions as perms
from registry.api import SystemScoped

MAX_REPORT_BYTES = 256 * 1024


class EscalationReportSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    severity = serializers.ChoiceField(choices=Severity.choices)
    dedup_key = serializers.RegexField(
        r"^[\w.:/-]+$",
        max_length=150,
        help_text="Repeats with the same key count on the open escalation instead of opening one.",
    )
    details = serializers.DictField(required=False, default=dict)

    def validate(self, attrs):
        unknown = set(self.initial_data) - set(self.fields)
        if unknown:
            raise serializers.ValidationError({field: "unknown field" for field in sorted(unknown)})
        return attrs


class EscalationReportResultSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True)
    state = serializers.CharField(allow_null=True)
    level = serializers.IntegerField(allow_null=True)
    occurrences = serializers.IntegerField(allow_null=True)
    silenced = serializers.BooleanField()


class EscalationReportView(SystemScoped, APIView):
    """A pipeline reports an edge case; it is routed like any other escalation."""

    parser_classes = [JSONParser]

    @extend_schema(
        tags=["escalations"],
        operation_id="escalations_report",
        request=EscalationReportSerializer,
        responses={
            201: EscalationReportResultSerializer,
            200: OpenApiResponse(
                EscalationReportResultSerializer,
                description="A repeat of an open escalation (counted), or muted by a silence.",
            ),
            409: OpenApiResponse(
                ErrorSerializer, description="Two reports of one key raced; send it again."
            ),
            413: OpenApiResponse(ErrorSerializer, description=ERROR_MEANINGS[413]),
        },
        examples=[
            OpenApiExample(
                "A document the classifier could not read",
                request_only=True,
                value={
                    "title": "Unreadable payslip scans from branch 0412",
                    "severity": "warning",
                    "dedup_key": "ocr:branch-0412",
                    "details": {"documents": 17, "first": "2026-11-25T09:12:00Z"},
                },
            )
        ],
    )
    def post(self, request, slug: str):
        system = self.get_system()
        if not perms.can_push_metrics(request.user, system):
            raise PermissionDenied("Only this system's pipeline, directors and owners report.")
        body = _read_body(request)
        serializer = EscalationReportSerializer(data=body)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        before = escalations.open_escalation_for(system, data["dedup_key"])
        escalation = escalations.escalation_raise(
            system=system,
            source=EscalationSource.PIPELINE_REPORT,
            severity=data["severity"],
            title=data["title"],
            dedup_key=f"report:{data['dedup_key']}",
            details=data["details"],
            by=request.user,
        )
        if escalation is None:
            result = {"id": None, "state": None, "level": None, "occurrences": None}
            return Response({**result, "silenced": True}, status=status.HTTP_200_OK)
        result = {
            "id": escalation.pk,
            "state": escalation.state,
            "level": escalation.level,
            "occurrences": escalation.occurrences,
            "silenced": False,
        }
        created = before is None
        return Response(result, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


def _read_body(request):
    """The decoded JSON body, refusing an oversized one before reading it."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    too_big = ApplicationError(
        gettext("The report is larger than 256 KiB."), status=413, code="too_large"
    )
    if length > MAX_REPORT_BYTES:
        raise too_big
    try:
        raw = request._request.body
    except RequestDataTooBig:
        raise too_big from None
    if len(raw) > MAX_REPORT_BYTES:
        raise too_big
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise ApplicationError(gettext("The body is not valid JSON."), code="parse_error") from None
    if not isinstance(body, dict):
        raise ApplicationError(gettext("The body must be a JSON object."))
    return body

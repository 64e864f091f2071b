"""The change-management API: requests, their approvals, transitions, and "may X be deployed?".

Serializers validate shapes; every write is one call of a service in
governance/services/changes.py, which checks who may do it (403) and the
request's state (409). Everything the change-request pages do can be done here.
"""

from __future__ import annotations

import django_filters
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import ERROR_MEANINGS, ErrorSerializer
from governance import permissions, selectors, services
from governance.choices import ChangeKind, ChangeState
from governance.models import Approval, ChangeRequest
from registry import permissions as registry_perms
from registry.api import SystemScoped
from registry.choices import RiskTier
from registry.models import ModelVersion

HASH = "9f2c4e1ab37d5c08e6f1d2a94b7c3e5f6a8d0b1c2e3f4a5b6c7d8e9f0a1b2c3d"

# --- Serializers --------------------------------------------------------------------------


class MetricSnapshotSerializer(serializers.Serializer):
    """One metric as the approver saw it: its latest daily value and thresholds."""

    metric = serializers.CharField()
    day = serializers.DateField(allow_null=True)
    value = serializers.FloatField(allow_null=True)
    warning = serializers.FloatField()
    critical = serializers.FloatField()
    direction = serializers.CharField()
    status = serializers.CharField()


class ApprovalSerializer(serializers.ModelSerializer):
    """One approval and the evidence it was based on; voided when the subject changed."""

    approver = serializers.CharField(source="approver.username")
    metric_snapshot = MetricSnapshotSerializer(many=True)

    class Meta:
        model = Approval
        fields = [
            "approver",
            "decided_at",
            "bound_hash",
            "metric_snapshot",
            "comment",
            "voided_at",
            "void_reason",
        ]
        read_only_fields = fields


class ChangeRequestSerializer(serializers.ModelSerializer):
    """A change request as listed: what it binds, its state and its approvals so far."""

    system = serializers.CharField(source="system.slug")
    model_version = serializers.CharField(
        source="model_version.version", allow_null=True, default=None
    )
    requester = serializers.CharField(source="requester_label")
    approvals_needed = serializers.SerializerMethodField()
    approvals_live = serializers.IntegerField(source="live_approval_count")

    class Meta:
        model = ChangeRequest
        fields = [
            "id",
            "system",
            "kind",
            "title",
            "description",
            "rationale",
            "model_version",
            "parameters",
            "bound_hash",
            "risk_tier",
            "risk_reason",
            "planned_for",
            "state",
            "requester",
            "created_at",
            "submitted_at",
            "decided_at",
            "deployed_at",
            "closed_at",
            "closing_reason",
            "approvals_needed",
            "approvals_live",
        ]
        read_only_fields = fields

    def get_approvals_needed(self, obj: ChangeRequest) -> int:
        return services.approvals_required(obj.risk_tier)


class ChangeRequestDetailSerializer(ChangeRequestSerializer):
    """A change request with every approval, voided ones included."""

    approvals = ApprovalSerializer(many=True)

    class Meta(ChangeRequestSerializer.Meta):
        fields = [*ChangeRequestSerializer.Meta.fields, "approvals"]
        read_only_fields = fields


class ChangeRequestOpenSerializer(serializers.Serializer):
    """What a new change request names; the version is a version string of the system."""

    kind = serializers.ChoiceField(choices=ChangeKind.choices)
    title = serializers.CharField(max_length=200)
    description = serializers.CharField()
    rationale = serializers.CharField()
    model_version = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        default=None,
        help_text="For a model update, retraining or rollback: a version string of this system.",
    )
    parameters = serializers.JSONField(
        required=False,
        default=dict,
        help_text="For a parameter or data-source change: the parameter set (a JSON object).",
    )
    risk_tier = serializers.ChoiceField(
        choices=RiskTier.choices,
        required=False,
        allow_null=True,
        default=None,
        help_text="Default: the system's tier. Only an approver may lower it, with a reason.",
    )
    risk_reason = serializers.CharField(required=False, allow_blank=True, default="")
    planned_for = serializers.DateField(required=False, allow_null=True, default=None)

    def validate_model_version(self, value: str | None) -> ModelVersion | None:
        if not value:
            return None
        system = self.context["system"]
        version = ModelVersion.objects.filter(system=system, version=value).first()
        if version is None:
            raise serializers.ValidationError(f"{value!r} is not a version of {system.slug}.")
        return version

    def validate_parameters(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("must be a JSON object")
        return value


class ApproveSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class OptionalReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class DeployableSerializer(serializers.Serializer):
    deployable = serializers.BooleanField()
    reasons = serializers.ListField(child=serializers.CharField())
    change_request = serializers.IntegerField(
        allow_null=True, help_text="The request that allows it, or the latest one concerning it."
    )


# --- Examples -----------------------------------------------------------------------------

_DETAIL_EXAMPLE = {
    "id": 12,
    "system": "loan-classifier",
    "kind": "model_update",
    "title": "Ship 2.2.0",
    "description": "Retrained on Q3 loans.",
    "rationale": "Recall on small-business loans up from 0.81 to 0.86.",
    "model_version": "2.2.0",
    "parameters": {},
    "bound_hash": HASH,
    "risk_tier": "medium",
    "risk_reason": "",
    "planned_for": "2026-12-01",
    "state": "approved",
    "requester": "omar",
    "created_at": "2026-11-25T09:00:00Z",
    "submitted_at": "2026-11-25T09:05:00Z",
    "decided_at": "2026-11-25T11:30:00Z",
    "deployed_at": None,
    "closed_at": None,
    "closing_reason": "",
    "approvals_needed": 1,
    "approvals_live": 1,
    "approvals": [
        {
            "approver": "ada",
            "decided_at": "2026-11-25T11:30:00Z",
            "bound_hash": HASH,
            "metric_snapshot": [
                {
                    "metric": "output_quality",
                    "day": "2026-11-24",
                    "value": 0.931,
                    "warning": 0.9,
                    "critical": 0.85,
                    "direction": "higher_is_better",
                    "status": "ok",
                }
            ],
            "comment": "Evaluation on Q3 data reviewed.",
            "voided_at": None,
            "void_reason": "",
        }
    ],
}
_DONE = OpenApiExample(
    "The request after the transition", response_only=True, value=_DETAIL_EXAMPLE
)
_WRONG_STATE = OpenApiResponse(ErrorSerializer, description=ERROR_MEANINGS[409])


def _action_schema(operation_id: str, description: str, request=None, example=None):
    """The schema of a transition: its body, the request after it, and its errors.

    A transition without input documents an empty JSON object as its body (no
    body at all is accepted too).
    """
    if request is None:
        request, example = OpenApiTypes.OBJECT, ("No input", {})
    return extend_schema(
        operation_id=operation_id,
        description=description,
        request=request,
        responses={200: ChangeRequestDetailSerializer, 409: _WRONG_STATE},
        examples=[OpenApiExample(example[0], request_only=True, value=example[1]), _DONE],
    )


# --- Views --------------------------------------------------------------------------------


class SystemChangeRequestFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=ChangeState.choices)

    class Meta:
        model = ChangeRequest
        fields = ["state"]


class ChangeRequestFilter(SystemChangeRequestFilter):
    system = django_filters.CharFilter(field_name="system__slug", help_text="A system's slug.")

    class Meta(SystemChangeRequestFilter.Meta):
        fields = ["state", "system"]


@extend_schema(tags=["change requests"])
@extend_schema_view(
    list=extend_schema(
        operation_id="system_change_requests_list",
        description="A system's change requests, newest first.",
    ),
    create=extend_schema(
        operation_id="change_request_open",
        description=(
            "Open a draft change request. Directors, system owners, approvers and the "
            "system's own pipeline token (CI/CD) may open one; a person submits it for review."
        ),
        request=ChangeRequestOpenSerializer,
        responses={201: ChangeRequestDetailSerializer},
        examples=[
            OpenApiExample(
                "A new model version, from CI",
                request_only=True,
                value={
                    "kind": "model_update",
                    "title": "Ship 2.2.0",
                    "description": "Retrained on Q3 loans.",
                    "rationale": "Recall on small-business loans up from 0.81 to 0.86.",
                    "model_version": "2.2.0",
                    "planned_for": "2026-12-01",
                },
            ),
            OpenApiExample(
                "A threshold change",
                request_only=True,
                value={
                    "kind": "parameter_change",
                    "title": "Raise the review threshold",
                    "description": "Send fewer borderline loans to manual review.",
                    "rationale": "Reviewers overturn 2% of them.",
                    "parameters": {"review_threshold": 0.72},
                    "risk_tier": "high",
                },
            ),
            OpenApiExample(
                "Opened as a draft",
                response_only=True,
                status_codes=["201"],
                value=_DETAIL_EXAMPLE
                | {
                    "state": "draft",
                    "submitted_at": None,
                    "decided_at": None,
                    "approvals_live": 0,
                    "approvals": [],
                },
            ),
        ],
    ),
)
class SystemChangeRequestViewSet(
    SystemScoped, mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """A system's change requests: list them, or open one."""

    serializer_class = ChangeRequestSerializer
    filterset_class = SystemChangeRequestFilter
    queryset = ChangeRequest.objects.none()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return selectors.change_requests(system_id=self.get_system().pk)

    def create(self, request, *args, **kwargs):
        system = self.get_system()
        if not permissions.can_open_change(request.user, system):
            raise PermissionDenied(
                "Only operations directors, system owners, approvers and the system's "
                "pipeline open change requests."
            )
        serializer = ChangeRequestOpenSerializer(data=request.data, context={"system": system})
        serializer.is_valid(raise_exception=True)
        change = services.change_request_open(
            system=system, by=request.user, **serializer.validated_data
        )
        return _detail_response(change, status.HTTP_201_CREATED)


def _detail_response(change: ChangeRequest, code: int = status.HTTP_200_OK) -> Response:
    """The request as it is now, read again with its approvals."""
    fresh = selectors.change_request_detail().get(pk=change.pk)
    return Response(ChangeRequestDetailSerializer(fresh).data, status=code)


@extend_schema(tags=["change requests"])
@extend_schema_view(
    list=extend_schema(
        operation_id="change_requests_list",
        description="Every change request the caller may read, newest first.",
    ),
    retrieve=extend_schema(
        operation_id="change_request_detail",
        description="A change request with its approvals and the evidence each was based on.",
        examples=[OpenApiExample("Approved", response_only=True, value=_DETAIL_EXAMPLE)],
    ),
)
class ChangeRequestViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Change requests by id, and their transitions (each one service call)."""

    queryset = ChangeRequest.objects.none()
    filterset_class = ChangeRequestFilter

    def get_serializer_class(self):
        return ChangeRequestSerializer if self.action == "list" else ChangeRequestDetailSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        if self.action == "list":
            changes = selectors.change_requests()
            user = self.request.user
            if registry_perms.is_pipeline(user):
                changes = changes.filter(system_id=registry_perms.pipeline_system_id(user))
            return changes
        return selectors.change_request_detail()

    def get_object(self) -> ChangeRequest:
        change = get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])
        if not permissions.can_read_change(self.request.user, change):
            raise PermissionDenied("This token belongs to another system.")
        return change

    def _body(self, serializer_class) -> dict:
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    @_action_schema(
        "change_request_submit",
        "The requester submits a draft for review (an operations director submits a "
        "pipeline's request).",
    )
    def submit(self, request, pk: int):
        change = self.get_object()
        return _detail_response(services.change_request_submit(change=change, by=request.user))

    @_action_schema(
        "change_request_approve",
        "An approver who is not the requester approves. The approval records the bound hash "
        "and the system's metric summary now; enough approvals make the request approved.",
        ApproveSerializer,
        ("With a comment", {"comment": "Evaluation on Q3 data reviewed."}),
    )
    def approve(self, request, pk: int):
        change = self.get_object()
        data = self._body(ApproveSerializer)
        return _detail_response(
            services.change_request_approve(change=change, by=request.user, **data)
        )

    @_action_schema(
        "change_request_reject",
        "An approver who is not the requester rejects, with a reason; the request ends.",
        ReasonSerializer,
        ("Why not", {"reason": "No evaluation on the Q3 data."}),
    )
    def reject(self, request, pk: int):
        change = self.get_object()
        data = self._body(ReasonSerializer)
        return _detail_response(
            services.change_request_reject(change=change, by=request.user, **data)
        )

    @_action_schema(
        "change_request_cancel",
        "The requester withdraws a draft or submitted request.",
        OptionalReasonSerializer,
        ("Why withdrawn", {"reason": "Superseded by CR-14."}),
    )
    def cancel(self, request, pk: int):
        change = self.get_object()
        data = self._body(OptionalReasonSerializer)
        return _detail_response(
            services.change_request_cancel(change=change, by=request.user, **data)
        )

    @_action_schema(
        "change_request_deploy",
        "An operations director or the requester records that an approved change went live.",
    )
    def deploy(self, request, pk: int):
        change = self.get_object()
        return _detail_response(
            services.change_request_mark_deployed(change=change, by=request.user)
        )

    @_action_schema(
        "change_request_roll_back",
        "An operations director or the requester records that a deployed change was "
        "rolled back, with why.",
        ReasonSerializer,
        ("Why rolled back", {"reason": "p95 latency over 1.5 s in the first cohort."}),
    )
    def roll_back(self, request, pk: int):
        change = self.get_object()
        data = self._body(ReasonSerializer)
        return _detail_response(
            services.change_request_roll_back(change=change, by=request.user, **data)
        )


class VersionDeployableView(SystemScoped, APIView):
    """May this version of this system go live? CI/CD asks before it deploys."""

    @extend_schema(
        tags=["change requests"],
        operation_id="version_deployable",
        description=(
            "Yes when an approved (or deployed) change request is bound to the version's "
            "content hash as it is now, with every approval its risk needs. Otherwise the "
            "reasons say why not, and `change_request` names the latest request concerning it."
        ),
        responses={200: DeployableSerializer},
        examples=[
            OpenApiExample(
                "Approved",
                response_only=True,
                value={"deployable": True, "reasons": [], "change_request": 12},
            ),
            OpenApiExample(
                "Waiting for approval",
                response_only=True,
                value={
                    "deployable": False,
                    "reasons": ["CR-12 is submitted."],
                    "change_request": 12,
                },
            ),
        ],
    )
    def get(self, request, slug: str, version: str):
        system = self.get_system()
        model_version = get_object_or_404(ModelVersion, system=system, version=version)
        answer = services.version_deployable(system=system, model_version=model_version)
        return Response(DeployableSerializer(answer).data)

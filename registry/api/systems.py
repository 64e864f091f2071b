"""The registry's REST API about systems: versions, metric specs, ingestion, series, tokens.

Serializers validate shapes; every write calls a service in registry/services.py.
The ingestion contract is in docs/api.md.
"""

from __future__ import annotations

import json
from datetime import timedelta

from django.core.exceptions import RequestDataTooBig
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import ERROR_MEANINGS, ErrorSerializer
from core.errors import ApplicationError
from registry import permissions as perms
from registry import selectors, services
from registry.models import AISystem, ApiToken, MetricSpec, ModelVersion

MAX_BODY_BYTES = 5 * 1024 * 1024
_CONFLICT = OpenApiResponse(ErrorSerializer, description=ERROR_MEANINGS[409])


# --- Shared lookups ---------------------------------------------------------------------


class SystemScoped:
    """Views under /systems/{slug}/: load the system once and check read access."""

    def get_system(self) -> AISystem:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request
            return AISystem(slug="example")
        if not hasattr(self, "_system"):
            system = get_object_or_404(AISystem, slug=self.kwargs["slug"])
            if not perms.can_read_system(self.request.user, system):
                raise PermissionDenied("This token belongs to another system.")
            self._system = system
        return self._system


def _require(allowed: bool, message: str) -> None:  # noqa: FBT001 - reads like assert
    if not allowed:
        raise PermissionDenied(message)


# --- Systems ----------------------------------------------------------------------------


class SystemSerializer(serializers.ModelSerializer):
    # No default: DRF leaves a field with a default out of a PATCH response (partial=True).
    deployed_version = serializers.CharField(
        source="deployed_version.version", read_only=True, allow_null=True
    )

    class Meta:
        model = AISystem
        fields = [
            "slug",
            "name",
            "purpose",
            "business_unit",
            "risk_tier",
            "stage",
            "deployed_version",
            "created_at",
        ]
        read_only_fields = ["stage", "deployed_version", "created_at"]
        extra_kwargs = {"slug": {"validators": []}}


@extend_schema(tags=["systems"])
@extend_schema_view(
    create=extend_schema(
        examples=[
            OpenApiExample(
                "A high-risk system",
                value={
                    "slug": "contract-reviewer",
                    "name": "Contract reviewer",
                    "purpose": "Flags non-standard clauses in supplier contracts.",
                    "business_unit": "Legal",
                    "risk_tier": "high",
                },
            )
        ]
    )
)
class SystemViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """AI systems. Operations directors register and describe them; everyone with a role reads."""

    serializer_class = SystemSerializer
    lookup_field = "slug"
    filterset_fields = ["risk_tier", "stage", "business_unit"]

    def get_queryset(self):
        queryset = selectors.systems_list()
        user = self.request.user
        if perms.is_pipeline(user):
            queryset = queryset.filter(pk=perms.pipeline_system_id(user))
        return queryset

    def perform_create(self, serializer):
        _require(perms.can_manage_systems(self.request.user), "Only operations directors may.")
        serializer.instance = services.ai_system_create(
            by=self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer):
        _require(perms.can_manage_systems(self.request.user), "Only operations directors may.")
        changes = dict(serializer.validated_data)
        if changes.pop("slug", serializer.instance.slug) != serializer.instance.slug:
            raise ApplicationError(gettext("A system's slug cannot change."), field="slug")
        serializer.instance = services.ai_system_update(
            system=serializer.instance, by=self.request.user, **changes
        )


# --- Versions ---------------------------------------------------------------------------


class TrainingDataSerializer(serializers.Serializer):
    source = serializers.CharField(required=False, allow_blank=True, max_length=300, default="")
    rows = serializers.IntegerField(required=False, allow_null=True, min_value=0, default=None)
    labelled_share = serializers.FloatField(
        required=False, allow_null=True, min_value=0.0, max_value=1.0, default=None
    )


class VersionSerializer(serializers.ModelSerializer):
    training_data = TrainingDataSerializer(required=False)
    parameters = serializers.JSONField(required=False)

    class Meta:
        model = ModelVersion
        fields = [
            "version",
            "artifact_uri",
            "parameters",
            "notes",
            "training_data",
            "status",
            "content_hash",
            "registered_at",
            "deployed_at",
        ]
        read_only_fields = ["status", "content_hash", "registered_at", "deployed_at"]
        extra_kwargs = {"version": {"validators": []}}

    def validate_parameters(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("must be a JSON object")
        return value

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["training_data"] = {
            "source": instance.training_source,
            "rows": instance.training_rows,
            "labelled_share": instance.training_labelled_share,
        }
        return data

    @staticmethod
    def flatten(validated: dict) -> dict:
        """Model field names from the API's nested training_data."""
        fields = dict(validated)
        training = fields.pop("training_data", None)
        if training is not None:
            fields["training_source"] = training.get("source", "")
            fields["training_rows"] = training.get("rows")
            fields["training_labelled_share"] = training.get("labelled_share")
        return fields


@extend_schema(tags=["versions"])
@extend_schema_view(
    create=extend_schema(
        examples=[
            OpenApiExample(
                "A candidate from CI",
                value={
                    "version": "2.2.0",
                    "artifact_uri": "s3://models/loan-classifier/2.2.0",
                    "parameters": {"threshold": 0.7},
                    "training_data": {
                        "source": "loans-2026Q3",
                        "rows": 250000,
                        "labelled_share": 0.4,
                    },
                },
            )
        ]
    ),
    update=extend_schema(responses={200: VersionSerializer, 409: _CONFLICT}),
    partial_update=extend_schema(responses={200: VersionSerializer, 409: _CONFLICT}),
)
class VersionViewSet(
    SystemScoped,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """A system's model versions; the content hash binds approvals to exactly this version."""

    serializer_class = VersionSerializer
    lookup_field = "version"
    lookup_value_regex = "[^/]+"

    queryset = ModelVersion.objects.none()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return selectors.system_versions(self.get_system())

    def perform_create(self, serializer):
        system = self.get_system()
        _require(
            perms.can_register_versions(self.request.user, system),
            "Only operations directors, system owners and the system's pipeline may.",
        )
        fields = VersionSerializer.flatten(serializer.validated_data)
        serializer.instance = services.model_version_register(
            system=system, by=self.request.user, **fields
        )

    def perform_update(self, serializer):
        system = self.get_system()
        _require(
            perms.can_edit_registry(self.request.user, system),
            "Only operations directors and system owners may.",
        )
        fields = VersionSerializer.flatten(serializer.validated_data)
        if fields.pop("version", serializer.instance.version) != serializer.instance.version:
            raise ApplicationError(gettext("A version string cannot change."), field="version")
        serializer.instance = services.model_version_update(
            model_version=serializer.instance, by=self.request.user, **fields
        )


# --- Metric specs -----------------------------------------------------------------------


class MetricSpecSerializer(serializers.ModelSerializer):
    class Meta:
        model = MetricSpec
        fields = [
            "key",
            "name",
            "kind",
            "unit",
            "direction",
            "warning",
            "critical",
            "aggregation",
            "required",
            "expected_interval_seconds",
            "pending_seconds",
        ]
        extra_kwargs = {
            "key": {"validators": []},
            "expected_interval_seconds": {"min_value": 1},
        }

    def validate(self, attrs):
        # Allow-nan is off for JSON already; still refuse NaN given as a float.
        for field in ("warning", "critical"):
            value = attrs.get(field)
            if value is not None and value != value:
                raise serializers.ValidationError({field: "must be a finite number"})
        return attrs


@extend_schema(tags=["metric specs"])
@extend_schema_view(
    create=extend_schema(
        examples=[
            OpenApiExample(
                "Output quality, judged daily by its mean",
                value={
                    "key": "output_quality",
                    "name": "Output quality",
                    "kind": "quality",
                    "unit": "",
                    "direction": "higher_is_better",
                    "warning": 0.9,
                    "critical": 0.85,
                    "aggregation": "mean",
                    "required": True,
                    "expected_interval_seconds": 3600,
                    "pending_seconds": 900,
                },
            )
        ]
    ),
    # From stage 3 on, thresholds change only through an approved change request.
    update=extend_schema(responses={200: MetricSpecSerializer, 409: _CONFLICT}),
    partial_update=extend_schema(responses={200: MetricSpecSerializer, 409: _CONFLICT}),
)
class MetricSpecViewSet(
    SystemScoped,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """The metrics a system reports, with thresholds, aggregation and expected interval."""

    serializer_class = MetricSpecSerializer
    lookup_field = "key"

    queryset = MetricSpec.objects.none()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return selectors.system_metric_specs(self.get_system())

    def perform_create(self, serializer):
        system = self.get_system()
        _require(
            perms.can_edit_registry(self.request.user, system),
            "Only operations directors and system owners may.",
        )
        serializer.instance = services.metric_spec_create(
            system=system, by=self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer):
        _require(
            perms.can_edit_registry(self.request.user, self.get_system()),
            "Only operations directors and system owners may.",
        )
        serializer.instance = services.metric_spec_update(
            spec=serializer.instance, by=self.request.user, **serializer.validated_data
        )


# --- Ingestion --------------------------------------------------------------------------

_INGEST_REQUEST = inline_serializer(
    "MetricBatch",
    {
        "model_version": serializers.CharField(required=False),
        "points": inline_serializer(
            "MetricPointIn",
            {
                "metric": serializers.CharField(),
                "value": serializers.FloatField(),
                "at": serializers.DateTimeField(),
            },
            many=True,
        ),
    },
)
_INGEST_RESPONSE = inline_serializer(
    "MetricBatchResult",
    {"accepted": serializers.IntegerField(), "duplicates": serializers.IntegerField()},
)


class MetricIngestView(SystemScoped, APIView):
    """POST a batch of metric points (the ingestion contract of docs/api.md)."""

    # Documented as JSON; the body itself is read by _read_json_body, within the size limit.
    parser_classes = [JSONParser]

    @extend_schema(
        tags=["ingestion"],
        operation_id="metrics_ingest",
        request=_INGEST_REQUEST,
        responses={
            201: _INGEST_RESPONSE,
            413: OpenApiResponse(ErrorSerializer, description=ERROR_MEANINGS[413]),
        },
        examples=[
            OpenApiExample(
                "A batch",
                request_only=True,
                value={
                    "model_version": "2.1.0",
                    "points": [
                        {"metric": "output_quality", "value": 0.931, "at": "2026-11-25T10:00:00Z"}
                    ],
                },
            ),
            OpenApiExample("Stored", response_only=True, value={"accepted": 1, "duplicates": 0}),
        ],
    )
    def post(self, request, slug: str):
        system = self.get_system()
        _require(
            perms.can_push_metrics(request.user, system),
            "Only this system's pipeline, operations directors and system owners may push.",
        )
        body = _read_json_body(request)
        result = services.metric_batch_ingest(system=system, body=body, by=request.user)
        return Response(
            {"accepted": result.accepted, "duplicates": result.duplicates},
            status=status.HTTP_201_CREATED,
        )


def _read_json_body(request):
    """The decoded JSON body, refusing an oversized one before reading it."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY_BYTES:
        raise ApplicationError(
            gettext("The body is larger than 5 MiB; split the batch."), status=413, code="too_large"
        )
    try:
        raw = request._request.body
    except RequestDataTooBig:
        raise ApplicationError(
            gettext("The body is larger than 5 MiB; split the batch."), status=413, code="too_large"
        ) from None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise ApplicationError(gettext("The body is not valid JSON."), code="parse_error") from None


# --- Series -----------------------------------------------------------------------------


class SeriesQuerySerializer(serializers.Serializer):
    start = serializers.DateTimeField(required=False)
    end = serializers.DateTimeField(required=False)
    version = serializers.CharField(required=False, max_length=64)
    buckets = serializers.IntegerField(
        required=False, min_value=1, max_value=selectors.MAX_BUCKETS, default=500
    )

    def validate(self, attrs):
        end = attrs.get("end") or timezone.now()
        start = attrs.get("start") or end - timedelta(days=30)
        if start >= end:
            raise serializers.ValidationError({"start": "must be before end"})
        attrs["start"], attrs["end"] = start, end
        return attrs


class SeriesView(SystemScoped, APIView):
    """A metric over time in at most N buckets, served from the rollups."""

    @extend_schema(
        tags=["ingestion"],
        operation_id="metrics_series",
        parameters=[
            OpenApiParameter("start", OpenApiTypes.DATETIME, description="Default: end - 30 d"),
            OpenApiParameter("end", OpenApiTypes.DATETIME, description="Default: now"),
            OpenApiParameter("version", str, description="Only this model version"),
            OpenApiParameter(
                "buckets", int, description="At most this many (default 500, max 5000)"
            ),
        ],
        responses={
            200: inline_serializer(
                "Series",
                {
                    "metric": serializers.CharField(),
                    "resolution": serializers.ChoiceField(["raw", "hour", "day"]),
                    "buckets": inline_serializer(
                        "SeriesBucket",
                        {
                            "start": serializers.DateTimeField(),
                            "count": serializers.IntegerField(),
                            "min": serializers.FloatField(),
                            "mean": serializers.FloatField(),
                            "max": serializers.FloatField(),
                        },
                        many=True,
                    ),
                },
            ),
            400: OpenApiResponse(ErrorSerializer, description=ERROR_MEANINGS[400]),
        },
        examples=[
            OpenApiExample(
                "Hourly buckets",
                response_only=True,
                value={
                    "metric": "output_quality",
                    "resolution": "hour",
                    "buckets": [
                        {
                            "start": "2026-11-25T10:00:00Z",
                            "count": 60,
                            "min": 0.91,
                            "mean": 0.93,
                            "max": 0.95,
                        }
                    ],
                },
            )
        ],
    )
    def get(self, request, slug: str, metric: str):
        system = self.get_system()
        spec = get_object_or_404(MetricSpec, system=system, key=metric)
        query = SeriesQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        version = None
        if params.get("version"):
            version = ModelVersion.objects.filter(system=system, version=params["version"]).first()
            if version is None:
                raise ApplicationError(
                    gettext("%(version)s is not a version of %(slug)s.")
                    % {"version": f"{params['version']!r}", "slug": system.slug},
                    field="version",
                )
        resolution, buckets = selectors.metric_series(
            metric=spec,
            start=params["start"],
            end=params["end"],
            buckets=params["buckets"],
            version=version,
        )
        return Response(
            {
                "metric": spec.key,
                "resolution": resolution,
                "buckets": [bucket.as_dict() for bucket in buckets],
            }
        )


# --- Tokens -----------------------------------------------------------------------------


class TokenSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(
        source="created_by.username",
        read_only=True,
        allow_null=True,
        help_text="Null for a token made with the create_token command.",
    )

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "kind",
            "prefix",
            "created_at",
            "created_by",
            "last_used_at",
            "revoked_at",
        ]
        read_only_fields = fields


class TokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)


_TOKEN_CREATED = inline_serializer(
    "TokenCreated",
    {
        "id": serializers.IntegerField(),
        "name": serializers.CharField(),
        "prefix": serializers.CharField(),
        "token": serializers.CharField(help_text="Shown once; store it in your secret store."),
    },
)


class _TokenViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Shared by pipeline and personal tokens.

    Each subclass says whose tokens they are: `scoped_tokens()` lists them and
    `token_owner()` gives the `system=` or `user=` argument of api_token_create.
    """

    serializer_class = TokenSerializer
    queryset = ApiToken.objects.none()

    def get_serializer_class(self):
        return TokenCreateSerializer if self.action == "create" else TokenSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return self.scoped_tokens()

    @extend_schema(
        request=TokenCreateSerializer,
        responses={201: _TOKEN_CREATED},
        examples=[
            OpenApiExample("Name it after its user", value={"name": "nightly-eval"}),
            OpenApiExample(
                "Created (the token is shown once)",
                response_only=True,
                status_codes=["201"],
                value={
                    "id": 7,
                    "name": "nightly-eval",
                    "prefix": "agp_x3Jk9QaB",
                    "token": "agp_x3Jk9QaBcD...",
                },
            ),
        ],
    )
    def create(self, request, *args, **kwargs):
        serializer = TokenCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, secret = services.api_token_create(
            by=request.user, name=serializer.validated_data["name"], **self.token_owner()
        )
        return Response(
            {"id": token.pk, "name": token.name, "prefix": token.prefix, "token": secret},
            status=status.HTTP_201_CREATED,
        )

    def perform_destroy(self, instance):
        services.api_token_revoke(token=instance, by=self.request.user)


@extend_schema(tags=["tokens"])
class SystemTokenViewSet(SystemScoped, _TokenViewSet):
    """A system's pipeline tokens: create (shown once), list, revoke (DELETE)."""

    def check_permissions(self, request):
        super().check_permissions(request)
        _require(
            perms.can_manage_tokens(request.user, self.get_system()),
            "Only operations directors and system owners manage pipeline tokens.",
        )

    def scoped_tokens(self):
        return selectors.system_pipeline_tokens(self.get_system())

    def token_owner(self) -> dict:
        return {"system": self.get_system()}


@extend_schema(tags=["tokens"])
class PersonalTokenViewSet(_TokenViewSet):
    """Your personal API tokens: they act with your roles, from scripts."""

    def check_permissions(self, request):
        super().check_permissions(request)
        _require(not perms.is_pipeline(request.user), "A pipeline has no personal tokens.")
        # A leaked personal token must not mint its own successor, one that outlives its
        # revocation: new personal tokens come from a signed-in session only.
        _require(
            self.action != "create" or not isinstance(request.auth, ApiToken),
            "A personal token cannot create personal tokens; create them signed in, in the portal.",
        )

    def scoped_tokens(self):
        return selectors.personal_tokens(self.request.user)

    def token_owner(self) -> dict:
        return {"user": self.request.user}

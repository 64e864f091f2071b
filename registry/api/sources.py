"""The data-source API: sources with the current status of every check, and what pipelines push.

Same error rules as metric ingestion: 400 lists every problem and writes
nothing, 401, 403, 413 over 5 MiB (or too many fields), never a 500.
Serializers validate shapes; every write is one service call.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext
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
from registry.api.systems import _read_json_body, _require, _TokenViewSet
from registry.choices import CheckStatus, DataSourceKind
from registry.models import LEVEL_DEFAULTS, AISystem, DataSource


class SourceScoped:
    """Views under /sources/{slug}/: load the source once and check read access."""

    def get_source(self) -> DataSource:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request
            return DataSource(slug="example")
        if not hasattr(self, "_source"):
            source = get_object_or_404(DataSource, slug=self.kwargs["slug"])
            if not perms.can_read_source(self.request.user, source):
                raise PermissionDenied("This token may not use this data source.")
            self._source = source
        return self._source


# --- Sources ------------------------------------------------------------------------------


class CheckSerializer(serializers.Serializer):
    """The current verdict of one check."""

    status = serializers.ChoiceField(CheckStatus.choices)
    value = serializers.FloatField(allow_null=True)
    detail = serializers.CharField()
    fields = serializers.ListField(child=serializers.DictField(), help_text="Per-field results")
    since = serializers.DateTimeField()
    evaluated_at = serializers.DateTimeField()


class DataSourceSerializer(serializers.ModelSerializer):
    """A source as read: its settings, the systems it feeds, and every check's current status."""

    owner = serializers.SlugRelatedField(
        slug_field="username",
        queryset=get_user_model().objects.filter(is_active=True),
        allow_null=True,
        required=False,
    )
    systems = serializers.SlugRelatedField(
        slug_field="slug", queryset=AISystem.objects.all(), many=True, required=False
    )
    expected_schema = serializers.JSONField(
        required=False, help_text='Field names and type names, e.g. {"amount": "float"}.'
    )
    checks = serializers.SerializerMethodField()
    custom_levels = serializers.SerializerMethodField()

    class Meta:
        model = DataSource
        fields = [
            "slug",
            "name",
            "kind",
            "description",
            "owner",
            "expected_interval_seconds",
            "expected_schema",
            "systems",
            *LEVEL_DEFAULTS,
            "custom_levels",
            "checks",
            "created_at",
        ]
        read_only_fields = ["created_at"]
        extra_kwargs = {
            "slug": {"validators": []},
            "expected_interval_seconds": {"min_value": 60},
            "completeness_warn": {"min_value": 0.0, "max_value": 1.0},
            "completeness_fail": {"min_value": 0.0, "max_value": 1.0},
            "psi_warn": {"min_value": 0.0},
            "psi_fail": {"min_value": 0.0},
            "wasserstein_warn": {"min_value": 0.0},
            "drift_min_rows": {"min_value": 1},
        }

    def get_checks(self, source: DataSource) -> dict[str, dict]:
        return {
            check.kind: CheckSerializer(check).data
            for check in source.checks.all()  # prefetched by the selector
        }

    def get_custom_levels(self, source: DataSource) -> dict[str, dict[str, float]]:
        return {
            name: {"default": default, "value": value}
            for name, (default, value) in source.custom_levels.items()
        }

    def validate_expected_schema(self, value):
        if not isinstance(value, dict) or not all(
            isinstance(name, str) and isinstance(kind, str) and 0 < len(kind) <= 40
            for name, kind in value.items()
        ):
            raise serializers.ValidationError(
                'must map field names to type names, e.g. {"amount": "float"}'
            )
        return value

    def validate(self, attrs):
        for name in LEVEL_DEFAULTS:
            value = attrs.get(name)
            if isinstance(value, float) and value != value:  # NaN
                raise serializers.ValidationError({name: "must be a finite number"})
        return attrs


class DataSourceDetailSerializer(DataSourceSerializer):
    """A source with its current reference per field, so pipelines can bin the same way."""

    references = serializers.SerializerMethodField()

    class Meta(DataSourceSerializer.Meta):
        fields = [*DataSourceSerializer.Meta.fields, "references"]

    def get_references(self, source: DataSource) -> dict[str, dict]:
        return {
            name: {
                "version": ref.version,
                "rows": ref.rows,
                "origin": ref.origin,
                "edges": ref.edges,
                "categories": sorted(ref.categories) if ref.categories else None,
                "created_at": ref.created_at.isoformat(),
            }
            for name, ref in selectors.source_references(source).items()
        }


_SOURCE_EXAMPLE = {
    "slug": "core-banking-crm",
    "name": "Core-banking CRM",
    "kind": "crm",
    "owner": "omar",
    "expected_interval_seconds": 3600,
    "expected_schema": {"customer_id": "string", "balance": "float", "segment": "string"},
    "systems": ["customer-service-assistant"],
}


@extend_schema(tags=["data sources"])
@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("kind", str, enum=DataSourceKind.values),
            OpenApiParameter("status", str, enum=CheckStatus.values, description="Any check"),
            OpenApiParameter("system", str, description="Sources feeding this system (slug)"),
        ]
    ),
    create=extend_schema(
        examples=[OpenApiExample("A CRM feeding one system", value=_SOURCE_EXAMPLE)]
    ),
)
class DataSourceViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Upstream data sources with the current status of every check.

    Directors and system owners register them; they and the source's owner
    change levels, schema and the systems fed. A pipeline token sees its own
    source, or the sources its system uses.
    """

    lookup_field = "slug"
    queryset = DataSource.objects.none()

    def get_serializer_class(self):
        return DataSourceDetailSerializer if self.action == "retrieve" else DataSourceSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        params = self.request.query_params
        sources = selectors.data_sources_filtered(
            kind=params.get("kind", "")[:16],
            status=params.get("status", "")[:20],
            system=params.get("system", "")[:80],
        )
        user = self.request.user
        if perms.is_pipeline(user):
            token_source = getattr(user, "data_source", None)
            if token_source is not None:
                return sources.filter(pk=token_source.pk)
            return sources.filter(systems=perms.pipeline_system_id(user))
        return sources

    def create(self, request, *args, **kwargs):
        # Permission before validation: a viewer learns nothing from a 400.
        _require(
            perms.can_manage_sources(request.user),
            "Only operations directors and system owners register data sources.",
        )
        return super().create(request, *args, **kwargs)

    def update(self, request, *args, **kwargs):
        _require(
            perms.can_edit_source(request.user, self.get_object()),
            "Only operations directors, system owners and the source's owner may.",
        )
        return super().update(request, *args, **kwargs)

    def get_object(self):
        source = super().get_object()
        if not perms.can_read_source(self.request.user, source):
            raise PermissionDenied("This token may not use this data source.")
        return source

    def perform_create(self, serializer):
        _require(
            perms.can_manage_sources(self.request.user),
            "Only operations directors and system owners register data sources.",
        )
        fields = dict(serializer.validated_data)
        serializer.instance = services.data_source_create(
            by=self.request.user,
            slug=fields.pop("slug"),
            systems=fields.pop("systems", []),
            **fields,
        )

    def perform_update(self, serializer):
        source = serializer.instance
        _require(
            perms.can_edit_source(self.request.user, source),
            "Only operations directors, system owners and the source's owner may.",
        )
        changes = dict(serializer.validated_data)
        if changes.pop("slug", source.slug) != source.slug:
            raise ApplicationError(gettext("A source's slug cannot change."), field="slug")
        serializer.instance = services.data_source_update(
            source=source, by=self.request.user, systems=changes.pop("systems", None), **changes
        )


# --- Pushes ---------------------------------------------------------------------------------

_PUSH_RESULT = inline_serializer(
    "PushResult",
    {"accepted": serializers.IntegerField(), "duplicates": serializers.IntegerField()},
)
_PUSH_RESPONSES = {
    201: _PUSH_RESULT,
    413: OpenApiResponse(ErrorSerializer, description=ERROR_MEANINGS[413]),
}
_DISTRIBUTION_FIELDS = {
    "name": serializers.CharField(max_length=120),
    "type": serializers.CharField(required=False, max_length=40),
    "missing_share": serializers.FloatField(required=False, min_value=0, max_value=1),
    "rows": serializers.IntegerField(required=False, min_value=0),
    "histogram": inline_serializer(
        "Histogram",
        {
            "edges": serializers.ListField(child=serializers.FloatField()),
            "counts": serializers.ListField(child=serializers.IntegerField(min_value=0)),
        },
        required=False,
    ),
    "categories": serializers.DictField(
        child=serializers.IntegerField(min_value=0), required=False
    ),
}
_FIELD = inline_serializer("FieldObservation", _DISTRIBUTION_FIELDS, many=True)


class _PushView(SourceScoped, APIView):
    """POST a body to one service of a source, for its pipeline (or an editor)."""

    parser_classes = [JSONParser]
    service = None

    def post(self, request, slug: str):
        source = self.get_source()
        _require(
            perms.can_push_source(request.user, source),
            "Only this source's pipeline, a pipeline of a system it feeds, operations directors, "
            "system owners and the source's owner may push.",
        )
        result = type(self).service(source=source, body=_read_json_body(request), by=request.user)
        return Response(
            {"accepted": result.accepted, "duplicates": result.duplicates},
            status=status.HTTP_201_CREATED,
        )


class DeliveryView(_PushView):
    """A delivery (or a heartbeat) arrived; `rows` feeds the volume check."""

    service = staticmethod(services.delivery_record)

    @extend_schema(
        tags=["data sources"],
        operation_id="source_delivery",
        request=inline_serializer(
            "Delivery",
            {
                "at": serializers.DateTimeField(required=False, help_text="Default: now"),
                "rows": serializers.IntegerField(required=False, min_value=0),
            },
        ),
        responses=_PUSH_RESPONSES,
        examples=[
            OpenApiExample(
                "A nightly extract",
                request_only=True,
                value={"at": "2026-11-25T02:00:00Z", "rows": 48210},
            )
        ],
    )
    def post(self, request, slug: str):
        return super().post(request, slug)


class ProfileView(_PushView):
    """Field observations of one delivery: missing share, type, and a distribution per field."""

    service = staticmethod(services.profile_batch_record)

    @extend_schema(
        tags=["data sources"],
        operation_id="source_profiles",
        request=inline_serializer(
            "ProfileBatch",
            {
                "at": serializers.DateTimeField(required=False, help_text="The delivery's time"),
                "rows": serializers.IntegerField(required=False, min_value=0),
                "fields": _FIELD,
            },
        ),
        responses=_PUSH_RESPONSES,
        examples=[
            OpenApiExample(
                "A number and a category",
                request_only=True,
                value={
                    "at": "2026-11-25T02:00:00Z",
                    "rows": 48210,
                    "fields": [
                        {
                            "name": "balance",
                            "type": "float",
                            "missing_share": 0.004,
                            "histogram": {
                                "edges": [0, 1000, 5000, 20000],
                                "counts": [30100, 14000, 4110],
                            },
                        },
                        {
                            "name": "segment",
                            "type": "string",
                            "missing_share": 0.0,
                            "categories": {"retail": 40100, "premier": 8110},
                        },
                    ],
                },
            )
        ],
    )
    def post(self, request, slug: str):
        return super().post(request, slug)


class IntegrationRunView(_PushView):
    """An integration-test run against the source (readiness indicator 3)."""

    service = staticmethod(services.integration_run_record)

    @extend_schema(
        tags=["data sources"],
        operation_id="source_integration_run",
        request=inline_serializer(
            "IntegrationRun",
            {
                "passed": serializers.IntegerField(min_value=0),
                "failed": serializers.IntegerField(min_value=0),
                "at": serializers.DateTimeField(required=False, help_text="Default: now"),
            },
        ),
        responses=_PUSH_RESPONSES,
        examples=[
            OpenApiExample(
                "A run",
                request_only=True,
                value={"passed": 412, "failed": 3, "at": "2026-11-25T03:00:00Z"},
            )
        ],
    )
    def post(self, request, slug: str):
        return super().post(request, slug)


class ReferenceView(SourceScoped, APIView):
    """Set the reference distributions drift is measured against: pushed, or from a window."""

    parser_classes = [JSONParser]

    @extend_schema(
        tags=["data sources"],
        operation_id="source_reference",
        request=inline_serializer(
            "ReferenceIn",
            {
                "fields": _FIELD,
                "window": inline_serializer(
                    "ReferenceWindow",
                    {"start": serializers.DateTimeField(), "end": serializers.DateTimeField()},
                    required=False,
                ),
            },
        ),
        responses={
            201: inline_serializer(
                "ReferenceVersions",
                {
                    "references": inline_serializer(
                        "ReferenceVersion",
                        {
                            "field": serializers.CharField(),
                            "version": serializers.IntegerField(),
                            "rows": serializers.IntegerField(),
                            "origin": serializers.CharField(),
                        },
                        many=True,
                    )
                },
            ),
            413: OpenApiResponse(ErrorSerializer, description=ERROR_MEANINGS[413]),
        },
        examples=[
            OpenApiExample(
                "The distributions of a calm week",
                request_only=True,
                value={"window": {"start": "2026-11-01T00:00:00Z", "end": "2026-11-08T00:00:00Z"}},
            )
        ],
    )
    def post(self, request, slug: str):
        source = self.get_source()
        _require(
            perms.can_edit_source(request.user, source),
            "Only operations directors, system owners and the source's owner set references.",
        )
        references = services.reference_profile_push(
            source=source, body=_read_json_body(request), by=request.user
        )
        return Response(
            {
                "references": [
                    {
                        "field": ref.field,
                        "version": ref.version,
                        "rows": ref.rows,
                        "origin": ref.origin,
                    }
                    for ref in references
                ]
            },
            status=status.HTTP_201_CREATED,
        )


# --- Tokens -----------------------------------------------------------------------------------


@extend_schema(tags=["tokens"])
class SourceTokenViewSet(SourceScoped, _TokenViewSet):
    """A data source's pipeline tokens: create (shown once), list, revoke (DELETE)."""

    def check_permissions(self, request):
        super().check_permissions(request)
        _require(
            perms.can_edit_source(request.user, self.get_source()),
            "Only operations directors, system owners and the source's owner manage its tokens.",
        )

    def scoped_tokens(self):
        return selectors.source_tokens(self.get_source())

    def token_owner(self) -> dict:
        return {"data_source": self.get_source()}

"""The rollout app's REST API: the deployment status that traffic routers poll."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from registry import permissions as perms
from registry.api import SystemScoped
from rollout.selectors import cached_deployment_status, deployment_status

DEPLOYMENT_STATES = ["none", "planned", "running", "paused", "completed", "rolled_back"]
_STATUS = inline_serializer(
    "DeploymentStatus",
    {
        "state": serializers.ChoiceField(DEPLOYMENT_STATES),
        "version": serializers.CharField(
            allow_null=True, help_text="The candidate; the deployed version when no rollout"
        ),
        "previous_version": serializers.CharField(allow_null=True),
        "cohort_percent": serializers.IntegerField(help_text="Share of traffic for `version`"),
        "updated_at": serializers.DateTimeField(allow_null=True),
    },
)


class DeploymentStatusView(SystemScoped, APIView):
    """Which version to route and what share of traffic it gets; cached, with an ETag."""

    @extend_schema(
        tags=["rollout"],
        operation_id="deployment_status",
        responses={
            200: _STATUS,
            304: OpenApiResponse(description="Not modified (If-None-Match matched the ETag)."),
        },
        examples=[
            OpenApiExample(
                "25% on the candidate",
                response_only=True,
                value={
                    "state": "running",
                    "version": "3.1.0",
                    "previous_version": "3.0.0",
                    "cohort_percent": 25,
                    "updated_at": "2026-11-25T10:00:00Z",
                },
            )
        ],
    )
    def get(self, request, slug: str):
        cached = cached_deployment_status(slug)
        if cached is not None and _may_read(request.user, cached[0]):
            # The hot path: no database read beyond the token's own lookup.
            _system_id, body, etag = cached
        else:  # loads the system, answering 404 or 403 as every system endpoint does
            body, etag = deployment_status(self.get_system())
        headers = {"ETag": etag, "Cache-Control": "no-cache"}
        if _matches(request.headers.get("If-None-Match", ""), etag):
            return Response(status=304, headers=headers)
        return Response(body, headers=headers)


def _may_read(user, system_id: int) -> bool:
    """can_read_system without loading the system: its pipeline, or a person with a role."""
    if perms.is_pipeline(user):
        return perms.pipeline_system_id(user) == system_id
    return perms.has_any_role(user, perms.READ_ROLES)


def _matches(header: str, etag: str) -> bool:
    """Whether an If-None-Match header names this ETag, or "*" (weak tags compare as strong)."""
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}
    return "*" in tags or etag in tags

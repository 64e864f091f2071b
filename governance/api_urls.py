"""The governance API's routes, mounted at /api/v1/ next to the registry's."""

from django.urls import path

from governance import api
from governance.escalation_api import EscalationReportView

system_changes = api.SystemChangeRequestViewSet.as_view({"get": "list", "post": "create"})
changes = api.ChangeRequestViewSet.as_view({"get": "list"})
change = api.ChangeRequestViewSet.as_view({"get": "retrieve"})


def _transition(name: str):
    return api.ChangeRequestViewSet.as_view({"post": name})


urlpatterns = [
    path(
        "systems/<slug:slug>/change-requests/",
        system_changes,
        name="system-change-request-list",
    ),
    path(
        "systems/<slug:slug>/versions/<str:version>/deployable/",
        api.VersionDeployableView.as_view(),
        name="version-deployable",
    ),
    path("change-requests/", changes, name="change-request-list"),
    path("change-requests/<int:pk>/", change, name="change-request-detail"),
    path("change-requests/<int:pk>/submit/", _transition("submit"), name="change-request-submit"),
    path(
        "change-requests/<int:pk>/approve/", _transition("approve"), name="change-request-approve"
    ),
    path("change-requests/<int:pk>/reject/", _transition("reject"), name="change-request-reject"),
    path("change-requests/<int:pk>/cancel/", _transition("cancel"), name="change-request-cancel"),
    path("change-requests/<int:pk>/deploy/", _transition("deploy"), name="change-request-deploy"),
    path(
        "change-requests/<int:pk>/roll-back/",
        _transition("roll_back"),
        name="change-request-roll-back",
    ),
    path(
        "systems/<slug:slug>/escalations/",
        EscalationReportView.as_view(),
        name="escalation-report",
    ),
]

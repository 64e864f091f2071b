"""The registry's API routes, mounted at /api/v1/."""

from django.urls import path

from registry import api

system_list = api.SystemViewSet.as_view({"get": "list", "post": "create"})
system_detail = api.SystemViewSet.as_view(
    {"get": "retrieve", "put": "update", "patch": "partial_update"}
)
version_list = api.VersionViewSet.as_view({"get": "list", "post": "create"})
version_detail = api.VersionViewSet.as_view(
    {"get": "retrieve", "put": "update", "patch": "partial_update"}
)
spec_list = api.MetricSpecViewSet.as_view({"get": "list", "post": "create"})
spec_detail = api.MetricSpecViewSet.as_view(
    {"get": "retrieve", "put": "update", "patch": "partial_update"}
)
system_tokens = api.SystemTokenViewSet.as_view({"get": "list", "post": "create"})
system_token = api.SystemTokenViewSet.as_view({"delete": "destroy"})
source_list = api.DataSourceViewSet.as_view({"get": "list", "post": "create"})
source_detail = api.DataSourceViewSet.as_view(
    {"get": "retrieve", "put": "update", "patch": "partial_update"}
)
source_tokens = api.SourceTokenViewSet.as_view({"get": "list", "post": "create"})
source_token = api.SourceTokenViewSet.as_view({"delete": "destroy"})
personal_tokens = api.PersonalTokenViewSet.as_view({"get": "list", "post": "create"})
personal_token = api.PersonalTokenViewSet.as_view({"delete": "destroy"})

urlpatterns = [
    path("systems/", system_list, name="system-list"),
    path("systems/<slug:slug>/", system_detail, name="system-detail"),
    path("systems/<slug:slug>/versions/", version_list, name="version-list"),
    path("systems/<slug:slug>/versions/<str:version>/", version_detail, name="version-detail"),
    path("systems/<slug:slug>/metric-specs/", spec_list, name="metricspec-list"),
    path("systems/<slug:slug>/metric-specs/<slug:key>/", spec_detail, name="metricspec-detail"),
    path("systems/<slug:slug>/metrics/", api.MetricIngestView.as_view(), name="metrics-ingest"),
    path(
        "systems/<slug:slug>/metrics/<slug:metric>/series/",
        api.SeriesView.as_view(),
        name="metrics-series",
    ),
    path("systems/<slug:slug>/tokens/", system_tokens, name="system-token-list"),
    path("systems/<slug:slug>/tokens/<int:pk>/", system_token, name="system-token-detail"),
    path("sources/", source_list, name="source-list"),
    path("sources/<slug:slug>/", source_detail, name="source-detail"),
    path("sources/<slug:slug>/deliveries/", api.DeliveryView.as_view(), name="source-deliveries"),
    path("sources/<slug:slug>/profiles/", api.ProfileView.as_view(), name="source-profiles"),
    path(
        "sources/<slug:slug>/integration-runs/",
        api.IntegrationRunView.as_view(),
        name="source-integration-runs",
    ),
    path("sources/<slug:slug>/reference/", api.ReferenceView.as_view(), name="source-reference"),
    path("sources/<slug:slug>/tokens/", source_tokens, name="source-token-list"),
    path("sources/<slug:slug>/tokens/<int:pk>/", source_token, name="source-token-detail"),
    path("tokens/", personal_tokens, name="personal-token-list"),
    path("tokens/<int:pk>/", personal_token, name="personal-token-detail"),
]

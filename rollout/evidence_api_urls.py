"""The evidence pack's API routes, mounted at /api/v1/ (namespace "evidence-api")."""

from django.urls import path

from rollout import evidence_api

pack_list = evidence_api.EvidencePackViewSet.as_view({"get": "list", "post": "create"})
pack_detail = evidence_api.EvidencePackViewSet.as_view({"get": "retrieve"})

urlpatterns = [
    path("systems/<slug:slug>/evidence-packs/", pack_list, name="evidence-pack-list"),
    path("systems/<slug:slug>/evidence-packs/<int:pk>/", pack_detail, name="evidence-pack-detail"),
]

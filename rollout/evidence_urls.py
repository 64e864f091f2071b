"""The evidence pack's pages (included by portal/urls.py beside rollout.urls)."""

from django.urls import path

from rollout import evidence_views

app_name = "evidence"

urlpatterns = [
    path("systems/<slug:slug>/evidence/", evidence_views.evidence_list, name="list"),
    path("evidence/<int:pk>/report.html", evidence_views.evidence_report, name="report"),
    path("evidence/<int:pk>/bundle.json", evidence_views.evidence_bundle_download, name="bundle"),
]

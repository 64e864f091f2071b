"""The governance app's browser pages."""

from django.urls import path

from governance import views

app_name = "governance"

urlpatterns = [
    path("audit/", views.audit_list, name="audit_list"),
    path("audit/export.csv", views.audit_export, name="audit_export"),
    path("systems/<slug:slug>/ownership/", views.ownership, name="ownership"),
    path("systems/<slug:slug>/ownership/owner/", views.ownership_assign, name="ownership_assign"),
    path("systems/<slug:slug>/ownership/statement/", views.statement_update, name="statement"),
    path("systems/<slug:slug>/ownership/sign/", views.sign, name="sign"),
    path("systems/<slug:slug>/ownership/members/", views.member_add, name="member_add"),
    path(
        "systems/<slug:slug>/ownership/members/<int:pk>/remove/",
        views.member_remove,
        name="member_remove",
    ),
    path("systems/<slug:slug>/ownership/leads/", views.lead_add, name="lead_add"),
    path(
        "systems/<slug:slug>/ownership/leads/<int:pk>/remove/",
        views.lead_remove,
        name="lead_remove",
    ),
    path(
        "systems/<slug:slug>/ownership/leads/<int:pk>/attest/",
        views.briefing_attest,
        name="briefing_attest",
    ),
]

"""The governance app's browser pages."""

from django.urls import path

from governance import assessment_views, escalation_views, views

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
    path("changes/", views.change_list, name="change_list"),
    path("changes/<int:pk>/", views.change_detail, name="change_detail"),
    path("systems/<slug:slug>/changes/", views.system_changes, name="system_changes"),
    path("systems/<slug:slug>/changes/new/", views.change_new, name="change_new"),
    *[
        path(
            f"changes/<int:pk>/{action.replace('_', '-')}/",
            views.change_action,
            {"action": action},
            name=f"change_{action}",
        )
        for action in views.TRANSITIONS
    ],
    path("escalations/", escalation_views.escalation_queue, name="escalation_queue"),
    path("escalations/<int:pk>/", escalation_views.escalation_detail, name="escalation_detail"),
    path(
        "escalations/<int:pk>/acknowledge/",
        escalation_views.escalation_acknowledge,
        name="escalation_acknowledge",
    ),
    path(
        "escalations/<int:pk>/resolve/",
        escalation_views.escalation_resolve,
        name="escalation_resolve",
    ),
    path("inbox/", escalation_views.inbox, name="inbox"),
    path("inbox/read/", escalation_views.inbox_read, name="inbox_read"),
    path("systems/<slug:slug>/webhooks/", escalation_views.webhook_settings, name="webhooks"),
    path(
        "systems/<slug:slug>/webhooks/<int:pk>/toggle/",
        escalation_views.webhook_toggle,
        name="webhook_toggle",
    ),
    path("escalations/<int:pk>/silence/", escalation_views.silence_create, name="silence_create"),
    path("assessment/", assessment_views.portfolio, name="assessment_portfolio"),
    path("systems/<slug:slug>/assessment/", assessment_views.assessment_page, name="assessment"),
    path(
        "systems/<slug:slug>/assessment/plan/",
        assessment_views.plan_generate,
        name="assessment_plan",
    ),
    path(
        "systems/<slug:slug>/assessment/items/<int:pk>/",
        assessment_views.item_edit,
        name="assessment_item",
    ),
    path(
        "systems/<slug:slug>/assessment/items/<int:pk>/done/",
        assessment_views.item_close,
        {"status": "done"},
        name="assessment_item_done",
    ),
    path(
        "systems/<slug:slug>/assessment/items/<int:pk>/drop/",
        assessment_views.item_close,
        {"status": "dropped"},
        name="assessment_item_drop",
    ),
]

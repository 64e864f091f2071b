"""The rollout app's browser pages: stage and readiness, rollouts and their decisions."""

from django.urls import path

from rollout import views

app_name = "rollout"

urlpatterns = [
    path("systems/<slug:slug>/readiness/", views.readiness, name="readiness"),
    *[
        path(
            f"systems/<slug:slug>/readiness/{action.replace('_', '-')}/",
            views.readiness_action,
            {"action": action},
            name=action,
        )
        for action in views.READINESS_ACTIONS
    ],
    path(
        "systems/<slug:slug>/readiness/rollback-plan/",
        views.rollback_plan_save,
        name="rollback_plan",
    ),
    path("systems/<slug:slug>/rollouts/", views.system_rollouts, name="system_rollouts"),
    path("rollouts/", views.rollout_list, name="rollout_list"),
    path("rollouts/<int:pk>/", views.rollout_detail, name="rollout_detail"),
    *[
        path(
            f"rollouts/<int:pk>/{action.replace('_', '-')}/",
            views.rollout_action,
            {"action": action},
            name=f"rollout_{action}",
        )
        for action in views.ROLLOUT_ACTIONS
    ],
]

"""The rollout app's API routes, mounted at /api/v1/."""

from django.urls import path

from rollout import api

urlpatterns = [
    path(
        "systems/<slug:slug>/rollout/",
        api.DeploymentStatusView.as_view(),
        name="deployment-status",
    ),
]

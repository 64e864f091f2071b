"""The registry's browser pages (the API has its own routes in registry/api_urls.py)."""

from django.urls import path

from registry import views

app_name = "registry"

urlpatterns = [
    path("systems/", views.system_list, name="system_list"),
    path("systems/<slug:slug>/", views.system_detail, name="system_detail"),
    path("systems/<slug:slug>/versions/", views.version_list, name="version_list"),
    path("systems/<slug:slug>/tokens/", views.system_tokens, name="system_tokens"),
    path("account/tokens/", views.personal_tokens, name="personal_tokens"),
    path("tokens/<int:pk>/revoke/", views.token_revoke, name="token_revoke"),
    path("data-quality/", views.quality_dashboard, name="quality_dashboard"),
    # Before <slug>: "new" is the registration page (the form refuses it as a slug).
    path("data-quality/new/", views.source_create, name="source_create"),
    path("data-quality/<slug:slug>/", views.source_detail, name="source_detail"),
    path("data-quality/<slug:slug>/edit/", views.source_edit, name="source_edit"),
    path("data-quality/<slug:slug>/reference/", views.source_reference, name="source_reference"),
    path("data-quality/<slug:slug>/tokens/", views.source_tokens, name="source_tokens"),
]

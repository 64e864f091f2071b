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
]

"""Top-level URLs."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from portal import views
from portal.auth import ThrottledAdminAuthenticationForm, ThrottledLoginView

# The admin's own login page counts failures with the portal's (portal/auth.py).
admin.site.login_form = ThrottledAdminAuthenticationForm

# A path no route matches (DEBUG off): JSON under /api/, the portal's page elsewhere.
handler404 = "portal.views.not_found"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("my-work/", views.my_work, name="my_work"),
    path("login/", ThrottledLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("", include("registry.urls")),
    path("", include("governance.urls")),
    path("", include("rollout.urls")),
    path("", include("rollout.evidence_urls")),
    path("api/v1/", include(("registry.api_urls", "registry-api"), namespace="api")),
    path("api/v1/", include(("governance.api_urls", "governance-api"), namespace="governance-api")),
    path("api/v1/", include(("rollout.api_urls", "rollout-api"), namespace="rollout-api")),
    path(
        "api/v1/", include(("rollout.evidence_api_urls", "evidence-api"), namespace="evidence-api")
    ),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file: the CSP allows no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]

"""Every response carries the security headers; its Content-Security-Policy runs no inline script.

Vic views; pages, the API, a 404 and the login page are each checked. The
templates are read too: a policy without 'unsafe-inline' only holds while no
template has an inline script, an event-handler attribute or an inline style.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import plotly
import pytest
from django.conf import settings
from django.urls import reverse

from portal.security import csp_header_value
from rollout.evidence_services import evidence_pack_request
from rollout.evidence_views import REPORT_CSP
from tests.registry.factories import AISystemFactory

pytestmark = pytest.mark.django_db
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
# The evidence report is a download with its own policy (REPORT_CSP): inline CSS, no script.
SELF_CONTAINED = {"rollout/evidence_pack.html"}


def policy(response) -> dict[str, list[str]]:
    """The Content-Security-Policy of a response, as directive -> sources."""
    directives = {}
    for part in response["Content-Security-Policy"].split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


def sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def assert_security_headers(response) -> None:
    csp = policy(response)
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'self'"]
    assert csp["form-action"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["img-src"] == ["'self'", "data:"]
    assert "'self'" in csp["style-src"]
    for sources in csp.values():
        assert "'unsafe-inline'" not in sources
        assert "'unsafe-eval'" not in sources
        assert "*" not in sources
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


@pytest.fixture
def signed_in(client, viewer):
    client.force_login(viewer)
    return client


def test_a_page_has_every_header(signed_in):
    response = signed_in.get(reverse("registry:system_list"))
    assert response.status_code == 200
    assert_security_headers(response)


def test_an_api_response_has_every_header(signed_in):
    response = signed_in.get(reverse("api:system-list"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert_security_headers(response)


def test_a_404_has_every_header(signed_in):
    response = signed_in.get("/no-such-page/")
    assert response.status_code == 404
    assert_security_headers(response)


def test_the_login_page_has_every_header(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert_security_headers(response)


def test_an_api_error_for_a_stranger_has_every_header(client):
    response = client.get(reverse("api:system-list"))
    assert response.status_code in (401, 403)
    assert_security_headers(response)


def test_the_header_is_the_policy_of_the_settings(client):
    response = client.get(reverse("login"))
    assert response["Content-Security-Policy"] == csp_header_value(settings.CONTENT_SECURITY_POLICY)


def test_the_evidence_report_keeps_its_own_policy_that_runs_no_script(
    client, viewer, django_capture_on_commit_callbacks
):
    system = AISystemFactory(slug="quiet", name="Quiet system")
    with django_capture_on_commit_callbacks(execute=True):
        pack = evidence_pack_request(system=system, by=viewer)
    client.force_login(viewer)
    response = client.get(reverse("evidence:report", args=[pack.pk]))
    assert response.status_code == 200
    assert response["Content-Security-Policy"] == REPORT_CSP
    csp = policy(response)
    assert csp["default-src"] == ["'none'"]
    assert "script-src" not in csp  # so default-src 'none' forbids every script
    assert "<script" not in response.text


def test_the_api_docs_load_their_start_up_script_from_a_file(signed_in):
    page = signed_in.get(reverse("api-docs"))
    assert page.status_code == 200
    assert_security_headers(page)
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.DOTALL)
    assert scripts, "the Swagger UI page loads scripts"
    for attributes, body in scripts:
        assert "src=" in attributes and not body.strip()
    start_up = re.search(r'<script src="([^"]*script=[^"]*)"', page.text).group(1)
    script = signed_in.get(start_up.replace("&amp;", "&"))
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle(" in script.text


def test_the_inline_style_of_the_api_docs_is_allowed_by_its_hash(signed_in):
    page = signed_in.get(reverse("api-docs"))
    styles = re.findall(r"<style>(.*?)</style>", page.text, re.DOTALL)
    assert styles
    for style in styles:
        assert sha256_source(style) in policy(page)["style-src"]


def test_the_style_plotly_adds_at_load_is_allowed_by_its_hash(client):
    # plotly.js inserts maplibre's CSS as one <style> text when it loads.
    bundle = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    texts = re.findall(r"\.textContent='((?:[^'\\]|\\.)*)'", bundle.read_text())
    maplibre = [text for text in texts if text.startswith(".maplibregl-map")]
    assert len(maplibre) == 1
    style_src = policy(client.get(reverse("login")))["style-src"]
    assert sha256_source(maplibre[0]) in style_src
    assert sha256_source("") in style_src  # the empty <style> plotly fills through the CSSOM


def template_files() -> list[Path]:
    return sorted(TEMPLATES.rglob("*.html"))


@pytest.mark.parametrize(
    "path", template_files(), ids=lambda path: str(path.relative_to(TEMPLATES))
)
def test_no_template_has_inline_script_handlers_or_styles(path):
    text = path.read_text()
    for tag in re.findall(r"<script\b[^>]*>", text, re.IGNORECASE):
        assert "src=" in tag, f"inline <script> in {path.name}: {tag}"
    assert not re.search(r"<[a-z][^>]*\son[a-z]+\s*=", text, re.IGNORECASE), "on* handler"
    assert "javascript:" not in text.lower()
    if str(path.relative_to(TEMPLATES)) in SELF_CONTAINED:
        return
    assert not re.search(r"<style\b", text, re.IGNORECASE), "inline <style>"
    assert not re.search(r"<[a-z][^>]*\sstyle\s*=", text, re.IGNORECASE), "style attribute"

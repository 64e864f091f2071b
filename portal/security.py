"""The Content-Security-Policy header on every response.

Django 5.2 sends the other security headers itself (SecurityMiddleware:
X-Content-Type-Options, Referrer-Policy, Cross-Origin-Opener-Policy, HSTS;
XFrameOptionsMiddleware: X-Frame-Options). The policy is
settings.CONTENT_SECURITY_POLICY, a mapping of directive to sources. A view
that needs a policy of its own (the evidence pack's report allows no script at
all) sets the header itself, and this middleware leaves it alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.conf import settings

HEADER = "Content-Security-Policy"


def csp_header_value(policy: Mapping[str, Sequence[str]]) -> str:
    """The header value of a policy: `directive source source; directive ...`."""
    return "; ".join(" ".join([directive, *sources]) for directive, sources in policy.items())


class ContentSecurityPolicyMiddleware:
    """Adds the portal's Content-Security-Policy to a response that has none."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.value = csp_header_value(settings.CONTENT_SECURITY_POLICY)

    def __call__(self, request):
        response = self.get_response(request)
        if HEADER not in response.headers:
            response.headers[HEADER] = self.value
        return response

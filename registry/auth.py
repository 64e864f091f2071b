"""Bearer-token authentication for pipelines and people, and the per-token rate limit."""

from __future__ import annotations

import time

from django.core.cache import cache
from django.utils.translation import gettext as _
from rest_framework import authentication, exceptions, throttling

from registry.choices import TokenKind
from registry.models import ApiToken
from registry.services import api_token_authenticate


class PipelineUser:
    """Who a request is when a pipeline token authenticated it: no person, no role.

    A system's pipeline has `system` set; a data source's pipeline `data_source`
    (and `system` None): each reaches only what its one scope allows.
    """

    is_authenticated = True
    is_active = True
    is_anonymous = False
    is_staff = False
    is_superuser = False
    is_pipeline = True
    pk = None
    id = None

    def __init__(self, token: ApiToken) -> None:
        self.token = token
        self.system = token.system
        self.data_source = token.data_source
        self.username = f"pipeline:{token.name}"

    def __str__(self) -> str:
        return self.username

    def get_full_name(self) -> str:
        return self.username


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <token>`: a pipeline token or a personal token.

    A personal token acts with its person's roles; a pipeline token with
    the rights of a pipeline of its one system. Any other header is left to
    the next authentication class (the browser session).
    """

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request)
        if not header:
            return None
        parts = header.split()
        if parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("Malformed Authorization header."))
        try:
            secret = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(_("Malformed token.")) from None
        if len(secret) > 200:
            raise exceptions.AuthenticationFailed(_("Malformed token."))
        token = api_token_authenticate(secret)
        if token is None:
            raise exceptions.AuthenticationFailed(_("Unknown token."))
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed(_("This token has been revoked."))
        if token.kind in (TokenKind.PIPELINE, TokenKind.SOURCE):
            return PipelineUser(token), token
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("The token's owner is inactive."))
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword


class TokenRateThrottle(throttling.BaseThrottle):
    """At most `rate_limit_per_minute` requests per token per clock minute.

    Counted in the cache (Redis in production, so shared by every web process).
    A fixed window is cheap (one INCR) and good enough to stop a runaway
    pipeline; it is not a billing meter.
    """

    def allow_request(self, request, view):
        token = request.auth if isinstance(request.auth, ApiToken) else None
        if token is None:
            return True
        minute = int(time.time() // 60)
        key = f"token-rate:{token.pk}:{minute}"
        # incr first: within a minute the key exists, so a request costs one round trip.
        try:
            count = cache.incr(key)
        except ValueError:  # the minute's first request
            count = 1 if cache.add(key, 1, timeout=120) else cache.incr(key)
        self._wait = 60 - time.time() % 60
        return count <= token.rate_limit_per_minute

    def wait(self):
        return getattr(self, "_wait", 60)

"""Login throttling: failed logins are counted per username and per client address.

After settings.LOGIN_FAILURES_PER_USERNAME failures for one username, or
LOGIN_FAILURES_PER_ADDRESS from one client address, within
LOGIN_FAILURE_WINDOW_SECONDS, that key is locked for LOGIN_LOCKOUT_SECONDS: a
login it covers is refused (429 on the portal's login page) before the password
is even checked, so a lock also stops a guess that would have been right. A
successful login clears its username's failures (not its address's, or one
valid account would reset the count of an address guessing at others).

The counts live in the cache (Redis in production, so every web process shares
them). Failures are counted in fixed windows, and the current window and the one
before are added up: any `limit` failures within one window length always lock,
failures up to two windows apart may. A lock stores the moment it ends, so it
ends by the portal's clock. If the cache cannot be reached the login goes ahead
unthrottled and a warning is logged (fail open): an outage of Redis must not lock
everyone out.
"""

from __future__ import annotations

import hashlib
import logging
import math
from datetime import UTC, datetime

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils import timezone
from django.utils.formats import time_format
from django.utils.translation import ngettext

logger = logging.getLogger(__name__)

KEY_PREFIX = "login-throttle"


def client_address(request: HttpRequest) -> str:
    """The client's IP address: REMOTE_ADDR, or behind a trusted proxy the address it saw.

    With TRUST_X_FORWARDED_FOR the last entry of X-Forwarded-For counts: the one
    the proxy itself appended (entries before it are whatever the client sent).
    """
    if settings.TRUST_X_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").rsplit(",", 1)[-1].strip()
        if forwarded:
            return forwarded
    return request.META.get("REMOTE_ADDR") or "unknown"


def _digest(value: str) -> str:
    # Hashed, so that whatever was typed makes a short, safe cache key.
    return hashlib.sha256(value.encode()).hexdigest()[:32]


class LoginThrottle:
    """The failure counts and locks one login touches: its username's and its address's."""

    def __init__(self, *, username: str, address: str) -> None:
        # Usernames are compared as the backend compares them, and case-folded on top,
        # so "Dana" and "dana" share one count.
        name = AbstractBaseUser.normalize_username(username).casefold()
        self.subjects = {
            "username": (_digest(name), settings.LOGIN_FAILURES_PER_USERNAME),
            "address": (_digest(address), settings.LOGIN_FAILURES_PER_ADDRESS),
        }
        self.username = username
        self.address = address

    @classmethod
    def for_request(cls, request: HttpRequest | None, username: str) -> LoginThrottle:
        """The throttle of a login by `username` from the request's client."""
        address = client_address(request) if request is not None else "unknown"
        return cls(username=username, address=address)

    @staticmethod
    def _lock_key(kind: str, digest: str) -> str:
        return f"{KEY_PREFIX}:lock:{kind}:{digest}"

    @staticmethod
    def _count_key(kind: str, digest: str, window: int) -> str:
        return f"{KEY_PREFIX}:failures:{kind}:{digest}:{window}"

    @staticmethod
    def _window(now: datetime) -> int:
        return int(now.timestamp() // settings.LOGIN_FAILURE_WINDOW_SECONDS)

    def locked_until(self, *, now: datetime) -> datetime | None:
        """When the later of the two locks ends, or None if neither holds at `now`."""
        keys = [self._lock_key(kind, digest) for kind, (digest, _) in self.subjects.items()]
        try:
            ends = cache.get_many(keys).values()
        except Exception:  # each cache backend raises its own errors
            logger.warning("Login throttle skipped: the cache is unavailable", exc_info=True)
            return None
        end = max((float(value) for value in ends), default=0.0)
        return datetime.fromtimestamp(end, tz=UTC) if end > now.timestamp() else None

    def _count(self, key: str) -> int:
        # Two windows are read at once, so a count lives for two windows (and a little).
        timeout = 2 * settings.LOGIN_FAILURE_WINDOW_SECONDS + 60
        if cache.add(key, 1, timeout=timeout):
            return 1
        try:
            return cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=timeout)
            return 1

    def failure(self, *, now: datetime) -> datetime | None:
        """Count a failed login; returns when the lock ends if this failure set one."""
        window = self._window(now)
        locked = None
        try:
            for kind, (digest, limit) in self.subjects.items():
                current = self._count_key(kind, digest, window)
                previous = self._count_key(kind, digest, window - 1)
                failures = self._count(current) + int(cache.get(previous) or 0)
                if failures < limit:
                    continue
                end = now.timestamp() + settings.LOGIN_LOCKOUT_SECONDS
                # The lock keeps its end; the cache entry outlives it only to be tidied away.
                cache.set(self._lock_key(kind, digest), end, settings.LOGIN_LOCKOUT_SECONDS + 60)
                # A lock that ends starts a fresh count.
                cache.delete_many([current, previous])
                locked = datetime.fromtimestamp(end, tz=UTC)
                logger.warning(
                    "Login locked for %s s by %s after %d failures: username %r, address %s",
                    settings.LOGIN_LOCKOUT_SECONDS,
                    kind,
                    failures,
                    self.username[:150],
                    self.address,
                )
        except Exception:  # each cache backend raises its own errors
            logger.warning("Login failure not counted: the cache is unavailable", exc_info=True)
        return locked

    def success(self, *, now: datetime) -> None:
        """A successful login clears its username's failures."""
        digest, _ = self.subjects["username"]
        window = self._window(now)
        keys = [self._count_key("username", digest, w) for w in (window, window - 1)]
        try:
            cache.delete_many(keys)
        except Exception:  # each cache backend raises its own errors
            logger.warning("Login failures not cleared: the cache is unavailable", exc_info=True)


class ThrottledLoginMixin:
    """Checks the throttle before the password, and counts each wrong one.

    `locked_until` is set when the form refused the login because of a lock.
    """

    locked_until: datetime | None = None

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is None or not password:
            return super().clean()  # a missing field: its own error, nothing was tried
        now = timezone.now()
        throttle = LoginThrottle.for_request(self.request, username)
        self.locked_until = throttle.locked_until(now=now)
        if self.locked_until is not None:
            raise self.locked_error(now=now)
        try:
            cleaned_data = super().clean()
        except ValidationError:
            # user_cache is set when the password was right but the account may not
            # log in here (inactive, or not staff in the admin): not a guess to count.
            if self.user_cache is None:
                self.locked_until = throttle.failure(now=now)
                if self.locked_until is not None:
                    raise self.locked_error(now=now) from None
            raise
        throttle.success(now=now)
        return cleaned_data

    def locked_error(self, *, now: datetime) -> ValidationError:
        """The error that says when to try again, in the viewer's language and time zone."""
        minutes = max(1, math.ceil((self.locked_until - now).total_seconds() / 60))
        at = time_format(timezone.localtime(self.locked_until))
        message = ngettext(
            "Too many failed attempts to log in. Try again in %(minutes)d minute, at %(time)s.",
            "Too many failed attempts to log in. Try again in %(minutes)d minutes, at %(time)s.",
            minutes,
        )
        return ValidationError(message, code="locked", params={"minutes": minutes, "time": at})


class ThrottledAuthenticationForm(ThrottledLoginMixin, AuthenticationForm):
    """The portal's login form, throttled."""


class ThrottledAdminAuthenticationForm(ThrottledLoginMixin, AdminAuthenticationForm):
    """The admin's login form, throttled with the same counts as the portal's."""


class ThrottledLoginView(LoginView):
    """The login page: 429 with a Retry-After header while a lock holds."""

    form_class = ThrottledAuthenticationForm
    redirect_authenticated_user = True

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.locked_until is not None:
            response.status_code = 429
            seconds = (form.locked_until - timezone.now()).total_seconds()
            response["Retry-After"] = str(max(1, math.ceil(seconds)))
        return response

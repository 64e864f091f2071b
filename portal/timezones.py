"""The viewer's time zone: every time on a page is shown in it.

The browser names its zone (static/portal/timezone.js writes it to the `tz`
cookie, from `Intl.DateTimeFormat().resolvedOptions().timeZone`); each request
activates that zone, so the `date` filter and forms speak the viewer's local
time. An unknown or missing name falls back to settings.TIME_ZONE (UTC by
default). Daily figures stay UTC days everywhere (their tables say so), and
the evidence pack, an audit document, is in UTC throughout.
"""

from __future__ import annotations

import zoneinfo
from functools import lru_cache
from urllib.parse import unquote

from django.utils import timezone

COOKIE = "tz"


@lru_cache(maxsize=512)
def zone_named(name: str) -> zoneinfo.ZoneInfo | None:
    """The IANA zone called `name`, or None for anything that is not one."""
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


class ViewerTimezoneMiddleware:
    """Activate the time zone the viewer's browser reported, for this request only."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        zone = zone_named(unquote(request.COOKIES.get(COOKIE, "")))
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()

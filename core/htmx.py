"""HTMX partials: one helper picks the fragment or the whole page (NetBox style).

A list page swaps only its results when htmx asks (HX-Request), and renders
the whole page otherwise: the same URL works without JavaScript, from a
bookmark and after a reload. htmx restoring a page from history asks for the
whole page too (HX-History-Restore-Request), and a boosted link wants a page.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers


def htmx_partial(request: HttpRequest, full: str, partial: str) -> str:
    """The template to render: `partial` for an htmx swap, else `full`."""
    htmx = getattr(request, "htmx", None)
    if htmx and not htmx.boosted and not htmx.history_restore_request:
        return partial
    return full


def htmx_render(
    request: HttpRequest,
    full: str,
    partial: str,
    context: dict,
    *,
    page_context: Callable[[], dict] | None = None,
    status: int = 200,
) -> HttpResponse:
    """Render the page or its fragment; caches keep the two apart (Vary: HX-Request).

    `page_context` returns what only the whole page shows (charts, side panels):
    it is not computed for a fragment.
    """
    template = htmx_partial(request, full, partial)
    if template == full and page_context is not None:
        context = {**context, **page_context()}
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response

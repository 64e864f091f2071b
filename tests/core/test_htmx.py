"""The one helper that picks a list's fragment (an htmx swap) or its whole page."""

import pytest
from django.test import RequestFactory
from django_htmx.middleware import HtmxMiddleware

from core.htmx import htmx_partial, htmx_render

FULL, PARTIAL = "registry/system_list.html", "registry/_system_table.html"


def request_with(**headers):
    request = RequestFactory().get("/systems/", headers=headers)
    HtmxMiddleware(lambda request: None)(request)  # sets request.htmx, as the stack does
    return request


def test_an_htmx_swap_gets_the_fragment():
    assert htmx_partial(request_with(**{"HX-Request": "true"}), FULL, PARTIAL) == PARTIAL


@pytest.mark.parametrize(
    "headers",
    [
        {},
        # A boosted link navigates: it wants a page.
        {"HX-Request": "true", "HX-Boosted": "true"},
        # htmx restoring history it did not keep asks the server for the page.
        {"HX-Request": "true", "HX-History-Restore-Request": "true"},
    ],
)
def test_everything_else_gets_the_whole_page(headers):
    assert htmx_partial(request_with(**headers), FULL, PARTIAL) == FULL


def test_a_request_without_the_middleware_gets_the_whole_page():
    assert htmx_partial(RequestFactory().get("/"), FULL, PARTIAL) == FULL


@pytest.mark.django_db
def test_the_page_and_its_fragment_are_cached_apart_and_the_page_context_is_lazy(viewer):
    asked = []

    def page_context():
        asked.append(True)
        return {}

    request = request_with(**{"HX-Request": "true"})
    request.user = viewer
    response = htmx_render(request, FULL, PARTIAL, {"page": None}, page_context=page_context)
    assert response["Vary"] == "HX-Request"
    assert asked == []  # a fragment never computes what only the page shows
    assert "<html" not in response.content.decode()

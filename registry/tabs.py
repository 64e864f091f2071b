"""The tabs of a system's pages, which higher apps extend without registry importing them.

Each app registers its tabs in its AppConfig.ready(); `_system_header.html`
draws the ones the person may see, in order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import reverse

from registry.models import AISystem


@dataclass(frozen=True)
class SystemTab:
    """A tab: its key (the page's `current`), label, URL name (taking `slug`) and who sees it."""

    key: str
    label: str
    url_name: str
    order: int
    visible: Callable[[object, AISystem], bool] | None = None


_TABS: dict[str, SystemTab] = {}


def system_tab_register(tab: SystemTab) -> None:
    """Add (or replace) a tab; idempotent, since ready() may run more than once in tests."""
    _TABS[tab.key] = tab


def system_tabs(user, system: AISystem) -> list[dict]:
    """The tabs `user` may see for `system`, as dicts for the template."""
    return [
        {"key": tab.key, "label": tab.label, "url": reverse(tab.url_name, args=[system.slug])}
        for tab in sorted(_TABS.values(), key=lambda tab: tab.order)
        if tab.visible is None or tab.visible(user, system)
    ]

"""Template filters of the registry's pages."""

from __future__ import annotations

import math

from django import template
from django.utils.formats import number_format

from registry import tabs
from registry.selectors import metric_status

register = template.Library()

SIGNIFICANT_DIGITS = 4


@register.filter
def metric_number(value: float | None, signed: str = "") -> str:
    """A metric value to four significant digits, localised; "—" when there is none.

    `{{ x|metric_number:"signed" }}` prefixes a plus sign to positive numbers
    (differences between versions).
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if value == 0:
        text = "0"
    else:
        magnitude = math.floor(math.log10(abs(value)))
        decimals = max(0, SIGNIFICANT_DIGITS - 1 - magnitude)
        text = number_format(round(value, decimals), decimal_pos=decimals)
        text = _strip_zeros(text, decimals)
    if signed and value > 0:
        text = f"+{text}"
    return text


@register.filter
def with_unit(text: str, unit: str) -> str:
    """A formatted number followed by its unit, if it has one ("300 ms", "0.9")."""
    return f"{text} {unit}" if unit else text


def _strip_zeros(text: str, decimals: int) -> str:
    """Drop trailing zeros of the fractional part (and a bare decimal separator)."""
    if not decimals:
        return text
    body = text.rstrip("0")
    # The separator is the last non-digit character left (locale dependent).
    return body[:-1] if body and not body[-1].isdigit() else body


@register.simple_tag
def status_of(spec, value: float | None) -> str:
    """`{% status_of spec value as status %}`: critical, warning, ok or no_data."""
    return metric_status(spec, value)


@register.simple_tag(takes_context=True)
def system_tabs(context, system) -> list[dict]:
    """The tabs of `system`'s pages that the signed-in person may see."""
    return tabs.system_tabs(context["user"], system)

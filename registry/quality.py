"""The statistics of the data-quality dashboard, as pure functions over plain data.

Details are worded in the active language (gettext needs no database); a check
evaluated by the worker is stored in the portal's language (LANGUAGE_CODE).

Freshness, uptime (readiness indicator 1), volume anomaly, completeness,
schema change, distribution drift (PSI and a binned Wasserstein distance) and
the integration error rate (readiness indicator 3). Nothing here touches the
database, the network or the clock: callers pass `now` and the data.

Conventions that hold throughout:

- A level is breached when the value is strictly past it: a missing share of
  exactly 5% against a 5% warning level is "ok"; a delivery exactly one
  interval old is fresh. The two readiness rules follow DOMAIN.md literally:
  uptime must be strictly above 99.5% and the error rate strictly below 1%.
- Every check returns a `Check` whose `detail` names the method, the levels
  and the sample sizes, because the dashboard prints it beside the number.
- Bad inputs (negative counts, mismatched lengths, edges not strictly
  increasing, nothing to compare) raise ValueError.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from django.utils.translation import gettext as _

OK = "ok"
WARN = "warn"
FAIL = "fail"
INSUFFICIENT_DATA = "insufficient_data"

# Defaults from the issue and DOMAIN.md; an administrator may override them per risk tier.
UPTIME_TARGET = 0.995
ERROR_RATE_LIMIT = 0.01
COMPLETENESS_WARN = 0.05
COMPLETENESS_FAIL = 0.20
PSI_WARN = 0.1
PSI_FAIL = 0.25
WASSERSTEIN_WARN = 0.1
DRIFT_MIN_ROWS = 100
VOLUME_WINDOW = 14
VOLUME_MIN_HISTORY = 5
VOLUME_K = 3
# Scales the MAD to the standard deviation of a normal distribution.
MAD_SCALE = 1.4826
PSI_EPSILON = 1e-4


@dataclass(frozen=True)
class Check:
    """One verdict of the dashboard: a status, the number behind it, and how it was judged."""

    status: str
    value: float | None
    detail: str


@dataclass(frozen=True)
class Ratio:
    """A share with its parts; `share` is None when the denominator is zero."""

    numerator: int
    denominator: int
    share: float | None


@dataclass(frozen=True)
class SchemaDiff:
    """Fields added, removed and retyped (field, expected_type, observed_type), each sorted."""

    added: list[str]
    removed: list[str]
    retyped: list[tuple[str, str, str]]

    @property
    def changed(self) -> bool:
        """Whether the observed schema differs from the expected one at all."""
        return bool(self.added or self.removed or self.retyped)


def _level(value: float, *, warn: float, fail: float | None) -> str:
    if fail is not None and value > fail:
        return FAIL
    if value > warn:
        return WARN
    return OK


def _check_levels(*, warn: float, fail: float | None) -> None:
    if fail is not None and fail < warn:
        raise ValueError(f"the fail level ({fail}) is below the warn level ({warn})")


def _seconds(delta: timedelta) -> str:
    return str(timedelta(seconds=round(delta.total_seconds())))


# Freshness and uptime ---------------------------------------------------------------------


def freshness(
    *, last_delivery: datetime | None, expected_interval: timedelta, now: datetime
) -> Check:
    """Age of the last delivery against the SLA: "warn" past 1x the interval, "fail" past 2x.

    The value is the age in seconds. No delivery ever is "fail" with no value.
    A delivery stamped after `now` (a skewed clock upstream) counts as age 0.
    """
    if expected_interval <= timedelta(0):
        raise ValueError("expected_interval must be positive")
    levels = _("SLA %(interval)s, warn past 1x, fail past 2x") % {
        "interval": _seconds(expected_interval)
    }
    if last_delivery is None:
        return Check(FAIL, None, _("freshness: no delivery ever; %(levels)s") % {"levels": levels})
    age = max(now - last_delivery, timedelta(0))
    if age > 2 * expected_interval:
        status = FAIL
    elif age > expected_interval:
        status = WARN
    else:
        status = OK
    return Check(
        status,
        age.total_seconds(),
        _("freshness: last delivery %(age)s ago; %(levels)s")
        % {"age": _seconds(age), "levels": levels},
    )


def uptime(
    *, deliveries: Iterable[datetime], start: datetime, end: datetime, interval: timedelta
) -> Ratio:
    """Intervals with at least one delivery / whole intervals in [start, end).

    Interval k covers [start + k * interval, start + (k + 1) * interval). A
    partial interval at the end is not counted, nor are deliveries in it or
    outside the window. `share` is None when the window holds no whole interval.
    """
    if interval <= timedelta(0):
        raise ValueError("interval must be positive")
    if end < start:
        raise ValueError("end is before start")
    expected = (end - start) // interval
    window_end = start + expected * interval
    up = {(at - start) // interval for at in deliveries if start <= at < window_end}
    return Ratio(len(up), expected, len(up) / expected if expected else None)


def uptime_ok(share: float | None, *, target: float = UPTIME_TARGET) -> bool:
    """Indicator 1: uptime strictly above the target (99.5%); no interval is not ok."""
    return share is not None and share > target


# Volume -----------------------------------------------------------------------------------


def _median_mad(rows: Sequence[int]) -> tuple[float, float]:
    median = statistics.median(rows)
    return float(median), float(statistics.median(abs(r - median) for r in rows))


def _check_counts(name: str, values: Iterable[float]) -> None:
    if any(v < 0 for v in values):
        raise ValueError(f"{name} holds a negative count")


def volume_band(
    rows: Sequence[int], *, min_count: int = VOLUME_MIN_HISTORY
) -> tuple[float, float] | None:
    """The normal range of row counts: median +/- 3 x 1.4826 x MAD of `rows`.

    MAD is the median of the absolute deviations from the median. None with
    fewer than `min_count` counts. When more than half of the counts are equal
    the MAD is 0 and the band is [median, median]: any other count is outside.
    """
    if min_count < 1:
        raise ValueError("min_count must be at least 1")
    _check_counts("rows", rows)
    if len(rows) < min_count:
        return None
    median, mad = _median_mad(rows)
    half_width = VOLUME_K * MAD_SCALE * mad
    return (median - half_width, median + half_width)


def volume_check(
    *,
    rows: int,
    history: Sequence[int],
    window: int = VOLUME_WINDOW,
    min_count: int = VOLUME_MIN_HISTORY,
) -> Check:
    """A delivery's row count against the band of the trailing `window` deliveries in `history`.

    `history` is oldest first and excludes this delivery. Outside the band
    (strictly) is "warn": an anomaly says unusual, not wrong. Fewer than
    `min_count` earlier deliveries is "insufficient_data". The value is `rows`.
    """
    if rows < 0:
        raise ValueError("rows must not be negative")
    if window < 1:
        raise ValueError("window must be at least 1")
    _check_counts("history", history)
    trailing = list(history)[-window:]
    band = volume_band(trailing, min_count=min_count)
    if band is None:
        return Check(
            INSUFFICIENT_DATA,
            float(rows),
            _(
                "volume: %(rows)s rows; insufficient data, needs %(needed)s earlier deliveries, "
                "has %(count)s"
            )
            % {"rows": rows, "needed": min_count, "count": len(trailing)},
        )
    low, high = band
    median, mad = _median_mad(trailing)
    status = OK if low <= rows <= high else WARN
    return Check(
        status,
        float(rows),
        _(
            "volume: %(rows)s rows vs median %(median)s +/- %(k)s x %(scale)s x MAD %(mad)s "
            "= [%(low)s, %(high)s] over the last %(count)s deliveries"
        )
        % {
            "rows": rows,
            "median": f"{median:g}",
            "k": VOLUME_K,
            "scale": MAD_SCALE,
            "mad": f"{mad:g}",
            "low": f"{low:g}",
            "high": f"{high:g}",
            "count": len(trailing),
        },
    )


# Completeness and schema ------------------------------------------------------------------


def completeness(
    *,
    missing_share: float,
    warn: float = COMPLETENESS_WARN,
    fail: float = COMPLETENESS_FAIL,
    rows: int | None = None,
) -> Check:
    """A field's missing share: "warn" strictly past `warn`, "fail" strictly past `fail`.

    `rows`, when given, is only reported in the detail.
    """
    if not 0 <= missing_share <= 1:
        raise ValueError(f"missing_share must be between 0 and 1, got {missing_share}")
    if not (0 <= warn <= 1 and 0 <= fail <= 1):
        raise ValueError("the levels must be between 0 and 1")
    _check_levels(warn=warn, fail=fail)
    values = {
        "share": f"{missing_share:.2%}",
        "rows": rows,
        "warn": f"{warn:.0%}",
        "fail": f"{fail:.0%}",
    }
    return Check(
        _level(missing_share, warn=warn, fail=fail),
        missing_share,
        (
            _(
                "completeness: %(share)s missing of %(rows)s rows; "
                "warn past %(warn)s, fail past %(fail)s"
            )
            if rows is not None
            else _("completeness: %(share)s missing; warn past %(warn)s, fail past %(fail)s")
        )
        % values,
    )


def schema_diff(*, expected: Mapping[str, str], observed: Mapping[str, str]) -> SchemaDiff:
    """Fields added, removed or retyped in `observed`; types compare as exact strings."""
    return SchemaDiff(
        added=sorted(observed.keys() - expected.keys()),
        removed=sorted(expected.keys() - observed.keys()),
        retyped=sorted(
            (field, expected[field], observed[field])
            for field in expected.keys() & observed.keys()
            if expected[field] != observed[field]
        ),
    )


# Drift ------------------------------------------------------------------------------------


def _shares(name: str, counts: Sequence[float]) -> list[float]:
    _check_counts(name, counts)
    total = sum(counts)
    if total <= 0:
        raise ValueError(f"{name} has no observations")
    return [c / total for c in counts]


def psi(
    *,
    reference: Sequence[float | int],
    current: Sequence[float | int],
    epsilon: float = PSI_EPSILON,
) -> float:
    """Population stability index over the same bins: sum of (q - p) x ln(q / p).

    Either side may be counts or shares; each is normalised to shares. A zero
    share is replaced by `epsilon` before the log (without renormalising), so
    a bin empty on one side adds a large but finite term and a bin empty on
    both sides adds nothing.
    """
    if not reference or not current:
        raise ValueError("psi needs at least one bin")
    if len(reference) != len(current):
        raise ValueError(f"bin counts differ: {len(reference)} reference, {len(current)} current")
    if epsilon <= 0:
        raise ValueError("epsilon must be positive")
    p = [s or epsilon for s in _shares("reference", reference)]
    q = [s or epsilon for s in _shares("current", current)]
    return sum((qi - pi) * math.log(qi / pi) for pi, qi in zip(p, q, strict=True))


def category_psi(
    *,
    reference: Mapping[str, int],
    current: Mapping[str, int],
    epsilon: float = PSI_EPSILON,
) -> float:
    """PSI over categories; a category seen on one side only has count 0 on the other."""
    categories = sorted(reference.keys() | current.keys())
    return psi(
        reference=[reference.get(c, 0) for c in categories],
        current=[current.get(c, 0) for c in categories],
        epsilon=epsilon,
    )


def _check_edges(edges: Sequence[float], *counts: Sequence[float]) -> None:
    if len(edges) < 2:
        raise ValueError("edges need at least two values (one bin)")
    if any(b <= a for a, b in pairwise(edges)):
        raise ValueError("edges must be strictly increasing")
    for c in counts:
        if len(c) != len(edges) - 1:
            raise ValueError(f"{len(edges)} edges need {len(edges) - 1} counts, got {len(c)}")


def binned_wasserstein(
    *, edges: Sequence[float], reference: Sequence[int], current: Sequence[int]
) -> float:
    """W1 distance between two histograms on the same edges, in the units of the edges.

    Each bin's mass is spread uniformly over the bin, so both CDFs are
    piecewise linear between the edges and W1 = integral of |F_ref - F_cur| is
    computed exactly, bin by bin (with the crossing point when the difference
    changes sign inside a bin). For equal widths and no crossing this equals
    the step-CDF sum over edges, sum |F_ref(e_i+1) - F_cur(e_i+1)| x width.
    Counts are normalised to shares first.
    """
    _check_edges(edges, reference, current)
    p = _shares("reference", reference)
    q = _shares("current", current)
    total = 0.0
    diff_left = 0.0  # F_ref - F_cur at the left edge of the bin
    for i, width in enumerate(b - a for a, b in pairwise(edges)):
        diff_right = diff_left + p[i] - q[i]
        if diff_left * diff_right >= 0:
            total += width * (abs(diff_left) + abs(diff_right)) / 2
        else:
            # Two triangles either side of the crossing point.
            total += (
                width * (diff_left**2 + diff_right**2) / (2 * (abs(diff_left) + abs(diff_right)))
            )
        diff_left = diff_right
    return total


def binned_std(*, edges: Sequence[float], counts: Sequence[int]) -> float:
    """Population standard deviation of a histogram, each bin's mass at its midpoint."""
    _check_edges(edges, counts)
    shares = _shares("counts", counts)
    mids = [(a + b) / 2 for a, b in pairwise(edges)]
    mean = sum(s * m for s, m in zip(shares, mids, strict=True))
    return math.sqrt(sum(s * (m - mean) ** 2 for s, m in zip(shares, mids, strict=True)))


def normalised_wasserstein(
    *, edges: Sequence[float], reference: Sequence[int], current: Sequence[int]
) -> float | None:
    """Binned W1 divided by the reference's binned standard deviation; None when that is 0."""
    distance = binned_wasserstein(edges=edges, reference=reference, current=current)
    spread = binned_std(edges=edges, counts=reference)
    return distance / spread if spread > 0 else None


def drift_check(
    *,
    method: str,
    value: float | None,
    rows_reference: int,
    rows_current: int,
    warn: float,
    fail: float | None,
    min_rows: int = DRIFT_MIN_ROWS,
) -> Check:
    """A drift value against its levels, or "insufficient_data" when it cannot be trusted.

    "insufficient_data" when either side has fewer than `min_rows` rows, or
    when there is no value (e.g. normalised Wasserstein on a reference with no
    spread). Otherwise "warn" strictly past `warn`, "fail" strictly past `fail`
    (no fail level for Wasserstein: pass None).
    """
    if rows_reference < 0 or rows_current < 0:
        raise ValueError("row counts must not be negative")
    if min_rows < 0:
        raise ValueError("min_rows must not be negative")
    _check_levels(warn=warn, fail=fail)
    sample = _("%(reference)s reference rows, %(current)s current rows") % {
        "reference": rows_reference,
        "current": rows_current,
    }
    if rows_reference < min_rows or rows_current < min_rows:
        return Check(
            INSUFFICIENT_DATA,
            value,
            _("%(method)s: insufficient data, needs %(rows)s rows on each side; %(sample)s")
            % {"method": method, "rows": min_rows, "sample": sample},
        )
    if value is None:
        return Check(
            INSUFFICIENT_DATA,
            None,
            _("%(method)s: no value; %(sample)s") % {"method": method, "sample": sample},
        )
    levels = (
        _("warn past %(warn)s, fail past %(fail)s") % {"warn": f"{warn:g}", "fail": f"{fail:g}"}
        if fail is not None
        else _("warn past %(warn)s") % {"warn": f"{warn:g}"}
    )
    return Check(
        _level(value, warn=warn, fail=fail),
        value,
        _("%(method)s %(value)s: %(levels)s; %(sample)s")
        % {"method": method, "value": f"{value:.3g}", "levels": levels, "sample": sample},
    )


# Integration error rate -------------------------------------------------------------------


def error_rate(*, passed: int, failed: int) -> float | None:
    """Failed / total integration checks of one source; None when there were none."""
    if passed < 0 or failed < 0:
        raise ValueError("check counts must not be negative")
    total = passed + failed
    return failed / total if total else None


def error_rate_ok(rate: float | None, *, limit: float = ERROR_RATE_LIMIT) -> bool:
    """Indicator 3: the error rate strictly below the limit (1%); no checks is not ok."""
    return rate is not None and rate < limit


# Folding and the checks that wrap the statistics above ------------------------------------

# fail > warn > insufficient_data > ok: a field that cannot be judged is never hidden
# behind the ones that pass (registry.choices.CheckStatus says the same).
_RANK = {OK: 0, INSUFFICIENT_DATA: 1, WARN: 2, FAIL: 3}


def worst(statuses: Iterable[str]) -> str:
    """The worst of several statuses; "insufficient_data" when there are none."""
    ranked = [(_RANK[status], status) for status in statuses]
    return max(ranked)[1] if ranked else INSUFFICIENT_DATA


def schema_check(diff: SchemaDiff, *, expected_fields: int) -> Check:
    """A schema diff as a verdict: removed or retyped fields fail, added ones only warn.

    A consumer breaks when a field it reads disappears or changes type; a new
    field is news, not damage. No expected schema is "insufficient_data".
    The value is the number of changed fields.
    """
    if expected_fields == 0:
        return Check(
            INSUFFICIENT_DATA, None, _("schema: no expected schema is set for this source")
        )
    changes = len(diff.added) + len(diff.removed) + len(diff.retyped)
    parts = []
    if diff.removed:
        parts.append(_("removed %(fields)s") % {"fields": ", ".join(diff.removed)})
    if diff.retyped:
        retyped = ", ".join(f"{f} ({old} -> {new})" for f, old, new in diff.retyped)
        parts.append(_("retyped %(fields)s") % {"fields": retyped})
    if diff.added:
        parts.append(_("added %(fields)s") % {"fields": ", ".join(diff.added)})
    if diff.removed or diff.retyped:
        status = FAIL
    elif diff.added:
        status = WARN
    else:
        status = OK
    summary = (
        "; ".join(parts)
        if parts
        else _("all %(count)s expected fields as expected") % {"count": expected_fields}
    )
    return Check(
        status,
        float(changes),
        _("schema: %(summary)s; removed or retyped fields fail, added ones warn")
        % {"summary": summary},
    )


def integration_check(*, passed: int, failed: int, window_days: int) -> Check:
    """Indicator 3 as a verdict: ok strictly below 1% failed, fail otherwise; no run: no verdict."""
    rate = error_rate(passed=passed, failed=failed)
    if rate is None:
        return Check(
            INSUFFICIENT_DATA,
            None,
            _("integration: no test run in the last %(days)s days") % {"days": window_days},
        )
    return Check(
        OK if error_rate_ok(rate) else FAIL,
        rate,
        _(
            "integration: %(failed)s failed of %(total)s checks (%(rate)s) in the last "
            "%(days)s days; must be below %(limit)s"
        )
        % {
            "failed": failed,
            "total": passed + failed,
            "rate": f"{rate:.2%}",
            "days": window_days,
            "limit": f"{ERROR_RATE_LIMIT:.0%}",
        },
    )


def uptime_check(ratio: Ratio, *, window_days: int) -> Check:
    """Indicator 1 as a verdict: ok strictly above 99.5%, fail otherwise; no interval: none."""
    if ratio.share is None:
        return Check(
            INSUFFICIENT_DATA, None, _("uptime: the window holds no whole delivery interval")
        )
    return Check(
        OK if uptime_ok(ratio.share) else FAIL,
        ratio.share,
        _(
            "uptime: %(up)s of %(expected)s expected intervals had a delivery (%(share)s) "
            "over the last %(days)s days; must be above %(target)s"
        )
        % {
            "up": ratio.numerator,
            "expected": ratio.denominator,
            "share": f"{ratio.share:.2%}",
            "days": window_days,
            "target": f"{UPTIME_TARGET:.1%}",
        },
    )

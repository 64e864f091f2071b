"""Properties of the drift statistics and the level rule (registry/quality.py).

PSI is a sum of (q - p) ln(q / p) over bins: never negative, zero for the same
distribution, symmetric, blind to how many rows were counted, untouched by a
bin empty on both sides. The binned Wasserstein distance is a distance: zero
for the same histogram, symmetric, at most the width of the range, and
carried along when the edges are shifted or stretched. Levels are breached
strictly past them, so a value exactly at a level is not a breach.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from registry import quality
from tests.properties import PROPERTIES

RANK = {quality.OK: 0, quality.INSUFFICIENT_DATA: 1, quality.WARN: 2, quality.FAIL: 3}


def counts(bins: int):
    """Row counts per bin, at least one row in all (zeros are common: empty bins matter)."""
    one = st.integers(0, 1000) | st.just(0)
    return st.lists(one, min_size=bins, max_size=bins).filter(lambda c: sum(c) > 0)


pairs = st.integers(1, 12).flatmap(lambda n: st.tuples(counts(n), counts(n)))
triples = st.integers(1, 8).flatmap(lambda n: st.tuples(counts(n), counts(n), counts(n)))


@st.composite
def edges(draw, bins: int) -> list[float]:
    start = draw(st.floats(-1000, 1000, allow_nan=False))
    widths = draw(st.lists(st.floats(0.01, 100), min_size=bins, max_size=bins))
    result = [start]
    for width in widths:
        result.append(result[-1] + width)
    return result


@st.composite
def histograms(draw, sides: int = 2):
    bins = draw(st.integers(1, 10))
    return draw(edges(bins)), *(draw(counts(bins)) for _ in range(sides))


def psi(reference, current) -> float:
    return quality.psi(reference=reference, current=current)


def shares(values) -> list[float]:
    return [v / sum(values) for v in values]


# --- PSI ----------------------------------------------------------------------------------


@PROPERTIES
@given(pairs)
def test_psi_is_never_negative_and_finite(pair):
    value = psi(*pair)
    assert value >= 0
    assert math.isfinite(value)


@PROPERTIES
@given(pairs)
def test_psi_is_zero_exactly_when_the_shares_are_equal(pair):
    reference, current = pair
    assert psi(reference, reference) == 0
    if shares(reference) != shares(current):
        assert psi(reference, current) > 0


@PROPERTIES
@given(pairs)
def test_psi_is_symmetric(pair):
    reference, current = pair
    assert psi(reference, current) == pytest.approx(psi(current, reference), rel=1e-9, abs=1e-12)


@PROPERTIES
@given(pairs, st.integers(1, 10_000), st.integers(1, 10_000))
def test_psi_depends_on_shares_only_not_on_how_many_rows_were_counted(pair, k, m):
    reference, current = pair
    scaled = psi([k * c for c in reference], [m * c for c in current])
    assert scaled == psi(reference, current)  # the shares are the same floats
    assert psi(reference, [k * c for c in reference]) == 0


@PROPERTIES
@given(pairs, st.data())
def test_a_bin_empty_on_both_sides_adds_nothing_to_psi(pair, data):
    reference, current = pair
    at = data.draw(st.integers(0, len(reference)))
    assert psi([*reference[:at], 0, *reference[at:]], [*current[:at], 0, *current[at:]]) == psi(
        reference, current
    )


@PROPERTIES
@given(counts(6), st.integers(0, 5))
def test_a_bin_empty_on_one_side_only_is_a_large_but_finite_psi(reference, empty):
    assume(reference[empty] > 0 and sum(reference) > reference[empty])
    current = [0 if n == empty else c for n, c in enumerate(reference)]
    value = psi(reference, current)
    assert math.isfinite(value)
    # The emptied bin alone adds (eps - p) ln(eps / p) with p its reference share.
    p = reference[empty] / sum(reference)
    assert value >= (quality.PSI_EPSILON - p) * math.log(quality.PSI_EPSILON / p) * (1 - 1e-9)


@PROPERTIES
@given(
    st.dictionaries(st.sampled_from("abcdef"), st.integers(0, 500), min_size=1),
    st.dictionaries(st.sampled_from("abcdefgh"), st.integers(0, 500), min_size=1),
)
def test_category_psi_ignores_the_order_categories_come_in(reference, current):
    assume(sum(reference.values()) > 0 and sum(current.values()) > 0)
    backwards = dict(reversed(list(reference.items())))
    value = quality.category_psi(reference=reference, current=current)
    assert quality.category_psi(reference=backwards, current=current) == value
    assert value >= 0


def test_psi_refuses_what_it_cannot_compare():
    with pytest.raises(ValueError, match="bin counts differ"):
        psi([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="no observations"):
        psi([0, 0], [1, 2])
    with pytest.raises(ValueError, match="negative"):
        psi([1, -1], [1, 1])


# --- Wasserstein --------------------------------------------------------------------------


def w1(edges, reference, current) -> float:
    return quality.binned_wasserstein(edges=edges, reference=reference, current=current)


@PROPERTIES
@given(histograms())
def test_wasserstein_is_never_negative_and_zero_for_the_same_histogram(histogram):
    edges, reference, current = histogram
    assert w1(edges, reference, current) >= 0
    assert w1(edges, reference, reference) == 0
    assert w1(edges, reference, [7 * c for c in reference]) == 0


@PROPERTIES
@given(histograms())
def test_wasserstein_is_symmetric_and_at_most_the_width_of_the_range(histogram):
    edges, reference, current = histogram
    distance = w1(edges, reference, current)
    assert distance == pytest.approx(w1(edges, current, reference), rel=1e-9, abs=1e-9)
    assert distance <= (edges[-1] - edges[0]) * (1 + 1e-9)


@PROPERTIES
@given(histograms(sides=3))
def test_wasserstein_obeys_the_triangle_inequality(histogram):
    edges, a, b, c = histogram
    assert w1(edges, a, c) <= (w1(edges, a, b) + w1(edges, b, c)) * (1 + 1e-9) + 1e-9


@PROPERTIES
@given(histograms(), st.floats(-500, 500), st.floats(0.01, 100))
def test_wasserstein_moves_with_the_edges(histogram, shift, stretch):
    edges, reference, current = histogram
    distance = w1(edges, reference, current)
    moved = w1([e + shift for e in edges], reference, current)
    assert moved == pytest.approx(distance, rel=1e-6, abs=1e-6)
    stretched = w1([e * stretch for e in edges], reference, current)
    assert stretched == pytest.approx(distance * stretch, rel=1e-9, abs=1e-9)


@PROPERTIES
@given(histograms())
def test_wasserstein_depends_on_shares_only(histogram):
    edges, reference, current = histogram
    assert w1(edges, [3 * c for c in reference], [11 * c for c in current]) == w1(
        edges, reference, current
    )


@PROPERTIES
@given(histograms())
def test_normalised_wasserstein_has_no_value_only_when_the_reference_has_no_spread(histogram):
    edges, reference, current = histogram
    value = quality.normalised_wasserstein(edges=edges, reference=reference, current=current)
    occupied = sum(1 for c in reference if c)
    assert (value is None) is (occupied == 1)
    if value is not None:
        assert value >= 0


# --- Levels -------------------------------------------------------------------------------

levels = st.tuples(st.floats(0, 1), st.floats(0, 1)).map(sorted)


def drift(value, warn, fail, rows=500, min_rows=quality.DRIFT_MIN_ROWS):
    return quality.drift_check(
        method="psi",
        value=value,
        rows_reference=rows,
        rows_current=rows,
        warn=warn,
        fail=fail,
        min_rows=min_rows,
    ).status


@PROPERTIES
@given(levels)
def test_a_value_exactly_at_a_level_is_not_past_it(level_pair):
    warn, fail = level_pair
    assume(warn < fail)
    assert drift(warn, warn, fail) == quality.OK
    assert drift(math.nextafter(warn, math.inf), warn, fail) == quality.WARN
    assert drift(fail, warn, fail) == quality.WARN
    assert drift(math.nextafter(fail, math.inf), warn, fail) == quality.FAIL


@PROPERTIES
@given(levels, st.floats(0, 2), st.floats(0, 2))
def test_a_larger_drift_is_never_judged_better(level_pair, a, b):
    warn, fail = level_pair
    low, high = sorted((a, b))
    assert RANK[drift(low, warn, fail)] <= RANK[drift(high, warn, fail)]


@PROPERTIES
@given(st.integers(1, 1000), st.floats(0, 2))
def test_drift_on_fewer_rows_than_the_minimum_is_never_judged(min_rows, value):
    assert drift(value, 0.1, 0.25, rows=min_rows - 1, min_rows=min_rows) == (
        quality.INSUFFICIENT_DATA
    )
    assert drift(value, 0.1, 0.25, rows=min_rows, min_rows=min_rows) != quality.INSUFFICIENT_DATA


@PROPERTIES
@given(st.floats(0, 1), levels)
def test_completeness_breaches_strictly_past_its_levels(missing, level_pair):
    warn, fail = level_pair
    status = quality.completeness(missing_share=missing, warn=warn, fail=fail).status
    expected = quality.FAIL if missing > fail else quality.WARN if missing > warn else quality.OK
    assert status == expected

"""Data-quality statistics on plain data, checked against figures computed by hand."""

from datetime import UTC, datetime, timedelta

import pytest

from registry.quality import (
    Check,
    Ratio,
    SchemaDiff,
    binned_std,
    binned_wasserstein,
    category_psi,
    completeness,
    drift_check,
    error_rate,
    error_rate_ok,
    freshness,
    integration_check,
    normalised_wasserstein,
    psi,
    schema_check,
    schema_diff,
    uptime,
    uptime_check,
    uptime_ok,
    volume_band,
    volume_check,
    worst,
)

T0 = datetime(2026, 11, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)


# Freshness --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (timedelta(0), "ok"),
        (HOUR, "ok"),  # exactly 1x: not past the SLA
        (HOUR + SECOND, "warn"),
        (2 * HOUR, "warn"),  # exactly 2x: not past the fail level
        (2 * HOUR + SECOND, "fail"),
    ],
)
def test_freshness_warns_past_one_interval_and_fails_past_two(age, expected):
    check = freshness(last_delivery=T0, expected_interval=HOUR, now=T0 + age)
    assert check.status == expected
    assert check.value == age.total_seconds()


def test_a_source_that_never_delivered_is_stale():
    check = freshness(last_delivery=None, expected_interval=HOUR, now=T0)
    assert check == Check("fail", None, check.detail)
    assert "no delivery ever" in check.detail
    assert "SLA 1:00:00" in check.detail


def test_a_delivery_stamped_in_the_future_counts_as_just_arrived():
    check = freshness(last_delivery=T0 + HOUR, expected_interval=HOUR, now=T0)
    assert (check.status, check.value) == ("ok", 0.0)


def test_freshness_rejects_a_non_positive_interval():
    with pytest.raises(ValueError, match="expected_interval must be positive"):
        freshness(last_delivery=T0, expected_interval=timedelta(0), now=T0)


# Uptime -----------------------------------------------------------------------------------


def hourly_deliveries(hours, missing):
    # One delivery ten minutes into each hour, except the missing ones.
    return [T0 + k * HOUR + timedelta(minutes=10) for k in range(hours) if k not in missing]


@pytest.mark.parametrize(
    ("intervals", "missing", "share", "ok"),
    [
        (1000, 4, 0.996, True),  # 996 / 1000
        (1000, 5, 0.995, False),  # 995 / 1000 = 99.5% exactly; indicator 1 needs > 99.5%
        (1000, 6, 0.994, False),  # 994 / 1000
        (10_000, 51, 0.9949, False),  # 9949 / 10000 = 99.49%
    ],
)
def test_uptime_at_the_indicator_boundary(intervals, missing, share, ok):
    deliveries = hourly_deliveries(intervals, missing=set(range(missing)))
    ratio = uptime(deliveries=deliveries, start=T0, end=T0 + intervals * HOUR, interval=HOUR)
    assert (ratio.numerator, ratio.denominator) == (intervals - missing, intervals)
    assert ratio.share == share
    assert uptime_ok(ratio.share) is ok


def test_an_interval_counts_once_and_only_whole_intervals_in_the_window_count():
    deliveries = [
        T0 - SECOND,  # before the window
        T0,  # interval 0 starts here: inclusive
        T0 + timedelta(minutes=30),  # interval 0 again: still one up interval
        T0 + 2 * HOUR - SECOND,  # interval 1, its last second
        T0 + 3 * HOUR,  # the partial tail [3h, 3h30m): not a whole interval
    ]
    # [T0, T0 + 3h30m) holds 3 whole hours; intervals 0 and 1 are up, 2 is not: 2 / 3.
    ratio = uptime(deliveries=deliveries, start=T0, end=T0 + 3.5 * HOUR, interval=HOUR)
    assert (ratio.numerator, ratio.denominator) == (2, 3)
    assert ratio.share == pytest.approx(2 / 3)


def test_uptime_has_no_share_without_a_whole_interval():
    ratio = uptime(deliveries=[T0], start=T0, end=T0 + 30 * 60 * SECOND, interval=HOUR)
    assert (ratio.numerator, ratio.denominator, ratio.share) == (0, 0, None)
    assert uptime_ok(ratio.share) is False


@pytest.mark.parametrize(
    ("end", "interval", "message"),
    [
        (T0 - SECOND, HOUR, "end is before start"),
        (T0 + HOUR, timedelta(0), "interval must be positive"),
    ],
)
def test_uptime_rejects_a_bad_window(end, interval, message):
    with pytest.raises(ValueError, match=message):
        uptime(deliveries=[], start=T0, end=end, interval=interval)


# Volume -----------------------------------------------------------------------------------


def test_the_volume_band_is_median_plus_or_minus_three_scaled_mads():
    band = volume_band([10, 12, 14, 16, 18])
    # median 14; |deviations| 4, 2, 0, 2, 4 -> sorted 0, 2, 2, 4, 4 -> MAD 2;
    # 3 x 1.4826 x 2 = 8.8956 -> [14 - 8.8956, 14 + 8.8956] = [5.1044, 22.8956]
    assert band == pytest.approx((5.1044, 22.8956))


def test_the_volume_band_of_an_even_count_uses_the_middle_pair():
    band = volume_band([150, 98, 99, 100, 101, 102])
    # sorted 98, 99, 100, 101, 102, 150 -> median (100 + 101) / 2 = 100.5;
    # |deviations| 2.5, 1.5, 0.5, 0.5, 1.5, 49.5 -> sorted 0.5, 0.5, 1.5, 1.5, 2.5, 49.5
    # -> MAD (1.5 + 1.5) / 2 = 1.5; 3 x 1.4826 x 1.5 = 6.6717 -> [93.8283, 107.1717]
    assert band == pytest.approx((93.8283, 107.1717))


def test_a_zero_mad_collapses_the_band_to_the_median():
    # median 100; every |deviation| is 0 -> MAD 0 -> [100, 100]
    assert volume_band([100, 100, 100, 100, 100]) == (100.0, 100.0)
    assert volume_check(rows=100, history=[100] * 5).status == "ok"
    assert volume_check(rows=101, history=[100] * 5).status == "warn"


def test_the_volume_band_needs_a_minimum_of_deliveries():
    assert volume_band([10, 12, 14, 16]) is None  # 4 < default 5
    # median 12; |deviations| 2, 0, 2 -> MAD 2 -> 12 +/- 8.8956
    assert volume_band([10, 12, 14], min_count=3) == pytest.approx((3.1044, 20.8956))


def test_a_row_count_outside_the_band_is_an_anomaly():
    history = [10, 12, 14, 16, 18]  # band [5.1044, 22.8956], as above
    ok = volume_check(rows=22, history=history)
    anomaly = volume_check(rows=23, history=history)
    assert (ok.status, ok.value) == ("ok", 22.0)
    assert (anomaly.status, anomaly.value) == ("warn", 23.0)
    assert "median 14 +/- 3 x 1.4826 x MAD 2" in anomaly.detail
    assert "over the last 5 deliveries" in anomaly.detail
    assert volume_check(rows=5, history=history).status == "warn"  # below 5.1044


def test_the_volume_check_looks_at_the_trailing_fourteen_deliveries_only():
    # All 34: median 10, MAD 0 -> 100 would be an anomaly. The last 14: all 100 -> [100, 100].
    check = volume_check(rows=100, history=[10] * 20 + [100] * 14)
    assert check.status == "ok"
    assert "over the last 14 deliveries" in check.detail


def test_too_short_a_volume_history_is_insufficient_data():
    check = volume_check(rows=100, history=[100, 100, 100, 100])
    assert check.status == "insufficient_data"
    assert "needs 5 earlier deliveries, has 4" in check.detail


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: volume_band([10, -1, 12, 13, 14]), "rows holds a negative count"),
        (lambda: volume_band([10], min_count=0), "min_count must be at least 1"),
        (lambda: volume_check(rows=-1, history=[1] * 5), "rows must not be negative"),
        (lambda: volume_check(rows=1, history=[-1] + [1] * 20), "history holds a negative"),
    ],
)
def test_volume_rejects_negative_counts(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# Completeness -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("missing_share", "expected"),
    [
        (0.0, "ok"),
        (0.05, "ok"),  # exactly the warn level: not past it
        (0.0501, "warn"),
        (0.20, "warn"),  # exactly the fail level: not past it
        (0.2001, "fail"),
        (1.0, "fail"),
    ],
)
def test_completeness_levels_are_exclusive(missing_share, expected):
    assert completeness(missing_share=missing_share).status == expected


def test_completeness_takes_custom_levels_and_reports_them():
    check = completeness(missing_share=0.02, warn=0.01, fail=0.5, rows=1000)
    assert (check.status, check.value) == ("warn", 0.02)
    assert check.detail == "completeness: 2.00% missing of 1000 rows; warn past 1%, fail past 50%"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"missing_share": 1.5}, "missing_share must be between 0 and 1"),
        ({"missing_share": -0.1}, "missing_share must be between 0 and 1"),
        ({"missing_share": 0.1, "warn": 0.3, "fail": 0.2}, "below the warn level"),
        ({"missing_share": 0.1, "fail": 2.0}, "the levels must be between 0 and 1"),
    ],
)
def test_completeness_rejects_bad_inputs(kwargs, message):
    with pytest.raises(ValueError, match=message):
        completeness(**kwargs)


# Schema -----------------------------------------------------------------------------------


def test_schema_diff_lists_added_removed_and_retyped_fields_sorted():
    diff = schema_diff(
        expected={"id": "int", "name": "str", "amount": "float", "created": "datetime"},
        observed={"zip": "str", "id": "int", "name": "text", "amount": "str", "email": "str"},
    )
    assert diff == SchemaDiff(
        added=["email", "zip"],
        removed=["created"],
        retyped=[("amount", "float", "str"), ("name", "str", "text")],
    )
    assert diff.changed


def test_an_identical_schema_has_no_diff():
    diff = schema_diff(expected={"id": "int"}, observed={"id": "int"})
    assert diff == SchemaDiff(added=[], removed=[], retyped=[])
    assert not diff.changed


# PSI --------------------------------------------------------------------------------------

# ln(0.4 / 0.5) = ln 0.8 = -0.2231436; ln(0.3 / 0.2) = ln 1.5 = 0.4054651
# PSI = (0.4 - 0.5) x -0.2231436 + (0.3 - 0.3) x 0 + (0.3 - 0.2) x 0.4054651
#     = 0.0223144 + 0 + 0.0405465 = 0.0628609
THREE_BIN_PSI = 0.0628609


def test_psi_of_a_three_bin_example():
    assert psi(reference=[50, 30, 20], current=[40, 30, 30]) == pytest.approx(
        THREE_BIN_PSI, abs=1e-7
    )


def test_psi_takes_counts_or_shares_alike():
    # Same shares as above: 0.5, 0.3, 0.2 vs 0.4, 0.3, 0.3.
    assert psi(reference=[0.5, 0.3, 0.2], current=[4, 3, 3]) == pytest.approx(
        THREE_BIN_PSI, abs=1e-7
    )


def test_psi_of_identical_distributions_is_zero():
    assert psi(reference=[1, 2, 3], current=[2, 4, 6]) == pytest.approx(0.0)


def test_psi_replaces_an_empty_share_by_epsilon():
    # p = [1, 1e-4], q = [1e-4, 1]:
    # (1e-4 - 1) ln(1e-4) + (1 - 1e-4) ln(1e4) = 2 x 0.9999 x 9.2103404 = 18.4188387
    assert psi(reference=[10, 0], current=[0, 10]) == pytest.approx(18.4188387)
    # A bin empty on both sides: (1e-4 - 1e-4) x ln 1 = 0, so the result is the 3-bin one.
    assert psi(reference=[50, 30, 20, 0], current=[40, 30, 30, 0]) == pytest.approx(
        THREE_BIN_PSI, abs=1e-7
    )


def test_category_psi_aligns_a_category_seen_on_one_side_only():
    psi_value = category_psi(reference={"a": 50, "b": 50}, current={"c": 10, "b": 40, "a": 50})
    # shares: a 0.5 / 0.5, b 0.5 / 0.4, c 0 -> 1e-4 / 0.1
    # a: 0; b: (0.4 - 0.5) ln(0.8) = 0.0223144; c: (0.1 - 0.0001) ln(1000) = 0.0999 x 6.9077553
    # = 0.6900848; PSI = 0.0223144 + 0.6900848 = 0.7123992
    assert psi_value == pytest.approx(0.7123992, abs=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"reference": [1, 2], "current": [1, 2, 3]}, "bin counts differ"),
        ({"reference": [], "current": []}, "at least one bin"),
        ({"reference": [1, -2], "current": [1, 2]}, "reference holds a negative count"),
        ({"reference": [1, 2], "current": [0, 0]}, "current has no observations"),
        ({"reference": [1, 2], "current": [1, 2], "epsilon": 0}, "epsilon must be positive"),
    ],
)
def test_psi_rejects_bad_bins(kwargs, message):
    with pytest.raises(ValueError, match=message):
        psi(**kwargs)


def test_category_psi_rejects_two_empty_sides():
    with pytest.raises(ValueError, match="at least one bin"):
        category_psi(reference={}, current={})


# Wasserstein ------------------------------------------------------------------------------


@pytest.mark.parametrize("width", [1.0, 10.0])
def test_w1_of_a_shape_shifted_by_one_bin_is_the_shift(width):
    edges = [0, width, 2 * width, 3 * width, 4 * width]
    # Uniform on [w, 3w] vs uniform on [2w, 4w]: every quantile moves by w.
    distance = binned_wasserstein(edges=edges, reference=[0, 5, 5, 0], current=[0, 0, 5, 5])
    assert distance == pytest.approx(width)


def test_w1_of_identical_histograms_is_zero():
    edges = [0, 1, 2, 3]
    assert binned_wasserstein(edges=edges, reference=[1, 2, 3], current=[2, 4, 6]) == 0


def test_w1_spreads_mass_uniformly_within_a_bin_when_the_cdfs_cross():
    # Reference half on [0, 1], half on [2, 3]; current all on [1, 2].
    # F_ref - F_cur at the edges 0, 1, 2, 3: 0, 0.5, -0.5, 0.
    # bin [0, 1]: (0 + 0.5) / 2 = 0.25; bin [1, 2] crosses zero at 1.5: two triangles
    # 0.5 x 0.5 x 0.5 x 2 = 0.25; bin [2, 3]: (0.5 + 0) / 2 = 0.25. W1 = 0.75.
    # (The step-CDF sum over the right edges would give 0.5 + 0.5 + 0 = 1.0.)
    distance = binned_wasserstein(edges=[0, 1, 2, 3], reference=[1, 0, 1], current=[0, 2, 0])
    assert distance == pytest.approx(0.75)


def test_w1_honours_unequal_bin_widths():
    # Uniform on [0, 1] vs uniform on [1, 3]: quantiles u and 1 + 2u, W1 = integral of
    # (1 + u) du over [0, 1] = 1.5. Bin by bin: D = 0, 1, 0 at edges 0, 1, 3;
    # 1 x (0 + 1) / 2 + 2 x (1 + 0) / 2 = 0.5 + 1 = 1.5.
    assert binned_wasserstein(edges=[0, 1, 3], reference=[1, 0], current=[0, 1]) == 1.5


def test_binned_std_puts_each_bin_at_its_midpoint():
    # midpoints 1.5 and 2.5 with half the mass each: mean 2, variance 0.5^2 = 0.25, std 0.5
    assert binned_std(edges=[0, 1, 2, 3, 4], counts=[0, 5, 5, 0]) == pytest.approx(0.5)
    # midpoints 0.5, 1.5, 2.5 with 1, 2, 1: mean 1.5, variance (1 + 0 + 1) / 4 = 0.5
    assert binned_std(edges=[0, 1, 2, 3], counts=[1, 2, 1]) == pytest.approx(0.5**0.5)


def test_normalised_wasserstein_divides_by_the_reference_std():
    # W1 1 (shift by one bin) / std 0.5 (above) = 2
    value = normalised_wasserstein(
        edges=[0, 1, 2, 3, 4], reference=[0, 5, 5, 0], current=[0, 0, 5, 5]
    )
    assert value == pytest.approx(2.0)


def test_normalised_wasserstein_has_no_value_for_a_reference_without_spread():
    value = normalised_wasserstein(edges=[0, 1, 2], reference=[10, 0], current=[0, 10])
    assert value is None


@pytest.mark.parametrize(
    ("edges", "reference", "message"),
    [
        ([0, 1, 1, 2], [1, 1, 1], "strictly increasing"),
        ([0, 2, 1, 3], [1, 1, 1], "strictly increasing"),
        ([0], [], "at least two values"),
        ([0, 1, 2], [1, 1, 1], "3 edges need 2 counts, got 3"),
        ([0, 1, 2], [1, -1], "reference holds a negative count"),
        ([0, 1, 2], [0, 0], "reference has no observations"),
    ],
)
def test_binned_wasserstein_rejects_bad_bins(edges, reference, message):
    current = [1] * max(len(edges) - 1, 0)
    with pytest.raises(ValueError, match=message):
        binned_wasserstein(edges=edges, reference=reference, current=current)


def test_binned_std_rejects_bad_edges():
    with pytest.raises(ValueError, match="strictly increasing"):
        binned_std(edges=[1, 0], counts=[1])


# Drift verdicts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.1, "ok"), (0.1001, "warn"), (0.25, "warn"), (0.2501, "fail")],
)
def test_psi_verdicts_at_the_levels(value, expected):
    check = drift_check(
        method="PSI", value=value, rows_reference=100, rows_current=100, warn=0.1, fail=0.25
    )
    assert (check.status, check.value) == (expected, value)


def test_a_drift_verdict_states_method_levels_and_sample_sizes():
    check = drift_check(
        method="PSI", value=0.3, rows_reference=5000, rows_current=120, warn=0.1, fail=0.25
    )
    assert check.detail == (
        "PSI 0.3: warn past 0.1, fail past 0.25; 5000 reference rows, 120 current rows"
    )


def test_wasserstein_has_a_warn_level_only():
    check = drift_check(
        method="W1/std", value=5.0, rows_reference=100, rows_current=100, warn=0.1, fail=None
    )
    assert check.status == "warn"
    assert "warn past 0.1; " in check.detail


@pytest.mark.parametrize(("rows_reference", "rows_current"), [(99, 100), (100, 99), (0, 0)])
def test_too_few_rows_on_either_side_is_insufficient_data(rows_reference, rows_current):
    check = drift_check(
        method="PSI",
        value=0.9,
        rows_reference=rows_reference,
        rows_current=rows_current,
        warn=0.1,
        fail=0.25,
    )
    assert check.status == "insufficient_data"
    assert "needs 100 rows on each side" in check.detail


def test_the_minimum_of_rows_is_configurable():
    check = drift_check(
        method="PSI",
        value=0.9,
        rows_reference=20,
        rows_current=20,
        warn=0.1,
        fail=0.25,
        min_rows=20,
    )
    assert check.status == "fail"


def test_a_drift_without_a_value_is_insufficient_data():
    check = drift_check(
        method="W1/std", value=None, rows_reference=500, rows_current=500, warn=0.1, fail=None
    )
    assert (check.status, check.value) == ("insufficient_data", None)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rows_reference": -1}, "row counts must not be negative"),
        ({"min_rows": -1}, "min_rows must not be negative"),
        ({"warn": 0.3, "fail": 0.2}, "below the warn level"),
    ],
)
def test_drift_check_rejects_bad_inputs(kwargs, message):
    arguments = {
        "method": "PSI",
        "value": 0.1,
        "rows_reference": 100,
        "rows_current": 100,
        "warn": 0.1,
        "fail": 0.25,
    } | kwargs
    with pytest.raises(ValueError, match=message):
        drift_check(**arguments)


# Integration error rate -------------------------------------------------------------------


def test_an_error_rate_of_0_99_percent_passes_indicator_3():
    rate = error_rate(passed=9901, failed=99)  # 99 / 10000 = 0.0099
    assert rate == 0.0099
    assert error_rate_ok(rate) is True


def test_an_error_rate_of_exactly_1_percent_fails_indicator_3():
    rate = error_rate(passed=9900, failed=100)  # 100 / 10000 = 0.01, not below 1%
    assert rate == 0.01
    assert error_rate_ok(rate) is False


def test_a_source_without_integration_checks_has_no_rate_and_does_not_pass():
    assert error_rate(passed=0, failed=0) is None
    assert error_rate_ok(None) is False


def test_error_rate_rejects_negative_counts():
    with pytest.raises(ValueError, match="must not be negative"):
        error_rate(passed=-1, failed=0)


# Folding and the wrapping checks ----------------------------------------------------------


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["ok", "warn", "fail", "insufficient_data"], "fail"),
        (["insufficient_data", "warn", "ok"], "warn"),
        (["ok", "insufficient_data", "ok"], "insufficient_data"),  # unjudged beats passing
        (["ok", "ok"], "ok"),
        (["fail"], "fail"),
    ],
)
def test_worst_ranks_fail_over_warn_over_insufficient_data_over_ok(statuses, expected):
    assert worst(statuses) == expected
    assert worst(reversed(statuses)) == expected  # order does not matter, generators welcome


def test_the_worst_of_no_status_is_insufficient_data():
    assert worst([]) == "insufficient_data"
    assert worst(s for s in ()) == "insufficient_data"


def test_a_removed_field_fails_the_schema_check_and_counts_as_one_change():
    diff = schema_diff(expected={"id": "int", "amount": "float"}, observed={"id": "int"})
    check = schema_check(diff, expected_fields=2)
    assert (check.status, check.value) == ("fail", 1.0)
    assert check.detail == (
        "schema: removed amount; removed or retyped fields fail, added ones warn"
    )


def test_a_retyped_field_fails_the_schema_check():
    diff = schema_diff(expected={"id": "int"}, observed={"id": "str"})
    check = schema_check(diff, expected_fields=1)
    assert (check.status, check.value) == ("fail", 1.0)
    assert "retyped id (int -> str)" in check.detail


def test_added_fields_only_warn_and_each_counts_as_a_change():
    diff = schema_diff(expected={"id": "int"}, observed={"id": "int", "zip": "str", "cc": "str"})
    check = schema_check(diff, expected_fields=1)
    assert (check.status, check.value) == ("warn", 2.0)
    assert "added cc, zip" in check.detail


def test_every_kind_of_change_together_fails_with_their_total():
    diff = schema_diff(
        expected={"id": "int", "name": "str", "gone": "str"},
        observed={"id": "str", "name": "str", "new": "int"},
    )
    check = schema_check(diff, expected_fields=3)
    assert (check.status, check.value) == ("fail", 3.0)
    assert check.detail.startswith("schema: removed gone; retyped id (int -> str); added new;")


def test_an_unchanged_schema_is_ok_with_no_change():
    diff = schema_diff(expected={"id": "int", "name": "str"}, observed={"name": "str", "id": "int"})
    check = schema_check(diff, expected_fields=2)
    assert (check.status, check.value) == ("ok", 0.0)
    assert "all 2 expected fields as expected" in check.detail


def test_no_expected_schema_is_insufficient_data_even_with_fields_observed():
    diff = schema_diff(expected={}, observed={"id": "int"})
    check = schema_check(diff, expected_fields=0)
    assert (check.status, check.value) == ("insufficient_data", None)
    assert "no expected schema" in check.detail


def test_an_integration_error_rate_of_0_99_percent_is_ok():
    check = integration_check(passed=9901, failed=99, window_days=30)  # 99 / 10000
    assert (check.status, check.value) == ("ok", 0.0099)
    assert check.detail == (
        "integration: 99 failed of 10000 checks (0.99%) in the last 30 days; must be below 1%"
    )


def test_an_integration_error_rate_of_exactly_1_percent_fails():
    check = integration_check(passed=9900, failed=100, window_days=30)  # 100 / 10000
    assert (check.status, check.value) == ("fail", 0.01)


def test_no_integration_run_is_insufficient_data():
    check = integration_check(passed=0, failed=0, window_days=30)
    assert (check.status, check.value) == ("insufficient_data", None)
    assert "no test run in the last 30 days" in check.detail


def test_uptime_of_exactly_99_5_percent_fails_since_it_must_be_strictly_above():
    deliveries = hourly_deliveries(1000, missing=set(range(5)))  # 995 / 1000
    ratio = uptime(deliveries=deliveries, start=T0, end=T0 + 1000 * HOUR, interval=HOUR)
    check = uptime_check(ratio, window_days=30)
    assert (check.status, check.value) == ("fail", 0.995)
    assert check.detail == (
        "uptime: 995 of 1000 expected intervals had a delivery (99.50%) over the last 30 days; "
        "must be above 99.5%"
    )


def test_uptime_of_99_51_percent_is_ok():
    check = uptime_check(Ratio(9951, 10000, 0.9951), window_days=30)
    assert (check.status, check.value) == ("ok", 0.9951)


def test_uptime_without_a_whole_interval_is_insufficient_data():
    check = uptime_check(Ratio(0, 0, None), window_days=30)
    assert (check.status, check.value) == ("insufficient_data", None)
    assert "no whole delivery interval" in check.detail

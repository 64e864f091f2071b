"""The checks of a data source on stored data, on a frozen clock, against hand-computed figures.

The core-banking CRM is expected hourly with the schema {amount: float, channel:
string}. Pushes go through the services (validated, as the API would store them);
the evaluation runs with an explicit `now`, so nothing here waits or sleeps.
"""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache

from core.errors import ApplicationError
from governance.models import AuditEvent
from registry.models import FieldProfile, ReferenceProfile, SourceCheck, SourceDelivery
from registry.selectors.sources import dashboard_rows, dashboard_summary, data_sources_filtered
from registry.services import (
    api_token_create,
    data_source_evaluate,
    data_source_update,
    data_sources_evaluate,
    data_sources_sweep,
    delivery_record,
    integration_run_record,
    profile_batch_record,
    reference_profile_from_window,
    reference_profile_push,
)
from tests.registry.factories import DataSourceFactory

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
EDGES = [0, 10, 20]
CHECKS = {"freshness", "volume", "completeness", "schema", "drift", "integration", "uptime"}

# PSI and normalised Wasserstein of the two-bin examples, by hand.
# Reference [60, 40] -> shares p = 0.6, 0.4; current [50, 50] -> q = 0.5, 0.5.
# PSI = (0.5 - 0.6) ln(0.5 / 0.6) + (0.5 - 0.4) ln(0.5 / 0.4)
#     = 0.1 x 0.1823216 + 0.1 x 0.2231436 = 0.0405465
PSI_60_40_VS_50_50 = 0.0405465
# F_ref - F_cur at the edges 0, 10, 20: 0, 0.1, 0 -> W1 = 10 x 0.1 / 2 x 2 = 1.0.
# Reference std: midpoints 5 and 15 with 0.6 and 0.4: mean 9, variance
# 0.6 x 16 + 0.4 x 36 = 24 -> std sqrt(24) = 4.8989795; 1.0 / 4.8989795 = 0.2041241.
W_60_40_VS_50_50 = 0.2041241
# Reference [80, 20] vs current [20, 80]:
# PSI = (0.2 - 0.8) ln(0.25) + (0.8 - 0.2) ln(4) = 2 x 0.6 x 1.3862944 = 1.6635532
PSI_80_20_VS_20_80 = 1.6635532
# F_ref - F_cur at 10: 0.6 -> W1 = 10 x 0.6 = 6; reference mean 0.8 x 5 + 0.2 x 15 = 7,
# variance 0.8 x 4 + 0.2 x 64 = 16, std 4 -> 6 / 4 = 1.5
W_80_20_VS_20_80 = 1.5
# Reference [60, 40] vs current [40, 60]: PSI = 2 x 0.2 x ln(1.5) = 0.1621860;
# W1 = 10 x 0.2 = 2.0 -> 2.0 / 4.8989795 = 0.4082483
PSI_60_40_VS_40_60 = 0.1621860
W_60_40_VS_40_60 = 0.4082483
# Categories {branch 50, online 50} vs {branch 30, online 70}:
# (0.3 - 0.5) ln(0.6) + (0.7 - 0.5) ln(1.4) = 0.1021651 + 0.0672944 = 0.1694596
PSI_CATEGORIES = 0.1694596


@pytest.fixture(autouse=True)
def frozen_clock():
    cache.clear()
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def source():
    return DataSourceFactory(slug="core-crm", name="Core-banking CRM")


def iso(at):
    return at.isoformat().replace("+00:00", "Z")


def deliver(source, at, rows=None):
    body = {"at": iso(at)} | ({"rows": rows} if rows is not None else {})
    return delivery_record(source=source, body=body, by=None)


def numeric(name="amount", counts=(50, 50), edges=EDGES, **extra):
    return {
        "name": name,
        "type": "float",
        "histogram": {"edges": list(edges), "counts": list(counts)},
    } | extra


def categorical(name="channel", categories=None, **extra):
    return {
        "name": name,
        "type": "string",
        "categories": categories or {"branch": 50, "online": 50},
    } | extra


def profile(source, *fields, at=NOW - 10 * MINUTE, rows=None):
    body = {"at": iso(at), "fields": list(fields)}
    if rows is not None:
        body["rows"] = rows
    return profile_batch_record(source=source, body=body, by=None)


def reference(source, *fields, by=None):
    return reference_profile_push(source=source, body={"fields": list(fields)}, by=by)


def evaluate(source, now=NOW):
    return data_source_evaluate(source_id=source.pk, now=now)


def check(source, kind):
    return SourceCheck.objects.get(source=source, kind=kind)


def field_row(source, kind, name):
    return next(row for row in check(source, kind).fields if row["field"] == name)


# --- What an evaluation returns and stores ----------------------------------------------------


def test_an_evaluation_stores_and_returns_every_check(source):
    result = evaluate(source)
    assert set(result) == CHECKS
    assert SourceCheck.objects.filter(source=source).count() == 7
    # Never delivered: freshness fails; uptime has 720 empty hours; the rest cannot judge.
    assert result == {
        "freshness": "fail",
        "volume": "insufficient_data",
        "completeness": "insufficient_data",
        "schema": "insufficient_data",
        "drift": "insufficient_data",
        "integration": "insufficient_data",
        "uptime": "fail",
    }
    assert check(source, "freshness").value is None
    assert check(source, "uptime").value == 0.0


def test_an_evaluation_of_a_deleted_source_returns_nothing(source):
    source_id = source.pk
    source.delete()
    assert data_source_evaluate(source_id=source_id, now=NOW) == {}
    assert not SourceCheck.objects.exists()


def test_every_source_is_evaluated_by_the_hourly_sweep(source):
    other = DataSourceFactory(slug="branch-erp")
    assert data_sources_evaluate(now=NOW) == 2
    assert SourceCheck.objects.filter(source=other).count() == 7
    assert set(SourceCheck.objects.values_list("evaluated_at", flat=True)) == {NOW}


def test_since_keeps_its_time_while_the_status_holds_and_moves_when_it_changes(source):
    deliver(source, NOW)
    evaluate(source, now=NOW)
    evaluate(source, now=NOW + 30 * MINUTE)
    row = check(source, "freshness")
    assert (row.status, row.value, row.since, row.evaluated_at) == (
        "ok",
        1800.0,
        NOW,
        NOW + 30 * MINUTE,
    )
    evaluate(source, now=NOW + HOUR + SECOND)
    evaluate(source, now=NOW + 90 * MINUTE)
    row = check(source, "freshness")
    assert (row.status, row.since, row.evaluated_at) == (
        "warn",
        NOW + HOUR + SECOND,
        NOW + 90 * MINUTE,
    )
    assert check(source, "schema").since == NOW  # unjudged all along


# --- Freshness --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "status"),
    [
        (timedelta(0), "ok"),
        (HOUR, "ok"),  # exactly 1x the SLA: not past it
        (HOUR + SECOND, "warn"),
        (2 * HOUR, "warn"),  # exactly 2x: not past the fail level
        (2 * HOUR + SECOND, "fail"),
    ],
)
def test_freshness_is_the_age_of_the_last_delivery_against_the_sla(source, age, status):
    deliver(source, NOW - 3 * DAY)  # an older delivery does not matter
    deliver(source, NOW - age)
    assert evaluate(source)["freshness"] == status
    row = check(source, "freshness")
    assert (row.status, row.value) == (status, age.total_seconds())
    assert "SLA 1:00:00, warn past 1x, fail past 2x" in row.detail


def test_freshness_follows_the_sources_own_interval(source):
    source.expected_interval_seconds = 86400
    source.save()
    deliver(source, NOW - 25 * HOUR)
    assert evaluate(source)["freshness"] == "warn"


def test_the_minute_sweep_turns_a_silent_source_from_ok_to_warn_to_fail(source):
    weekly = DataSourceFactory(slug="weekly-file", expected_interval_seconds=7 * 86400)
    deliver(source, NOW)
    deliver(weekly, NOW)
    assert data_sources_sweep(now=NOW) == 2  # neither judged yet
    assert check(source, "freshness").status == check(weekly, "freshness").status == "ok"

    assert data_sources_sweep(now=NOW + HOUR) == 0  # exactly 1x: still fresh
    assert data_sources_sweep(now=NOW + HOUR + SECOND) == 1
    row = check(source, "freshness")
    assert (row.status, row.since) == ("warn", NOW + HOUR + SECOND)
    assert check(weekly, "freshness").evaluated_at == NOW  # unchanged, so not re-evaluated

    assert data_sources_sweep(now=NOW + HOUR + 2 * SECOND) == 0
    assert data_sources_sweep(now=NOW + 2 * HOUR + SECOND) == 1
    row = check(source, "freshness")
    assert (row.status, row.value, row.since) == ("fail", 7201.0, NOW + 2 * HOUR + SECOND)
    # The changed source was evaluated in full, and nothing was pushed meanwhile.
    assert check(source, "uptime").evaluated_at == NOW + 2 * HOUR + SECOND
    assert SourceDelivery.objects.count() == 2


def test_a_delivery_after_the_sweep_turned_it_red_is_seen_by_the_next_sweep(source):
    deliver(source, NOW - 3 * HOUR)
    assert data_sources_sweep(now=NOW) == 1
    assert check(source, "freshness").status == "fail"
    deliver(source, NOW)
    assert data_sources_sweep(now=NOW + MINUTE) == 1
    assert check(source, "freshness").status == "ok"


@pytest.mark.parametrize("news", ["profile", "integration run", "reference"])
def test_the_minute_sweep_evaluates_what_arrived_since_the_last_evaluation(
    source, frozen_clock, news
):
    # The push's own evaluation task was never sent (the broker was down), and the
    # source stays fresh: only the arrival itself tells the sweep to look again.
    source.expected_schema = {"amount": "float"}
    source.save()
    profile(source, numeric(), at=NOW)
    assert data_sources_sweep(now=NOW) == 1
    assert check(source, "freshness").status == "ok"
    frozen_clock.move_to(NOW + MINUTE)
    if news == "profile":
        profile(source, typed("amount", "string"), at=NOW + MINUTE)
    elif news == "integration run":
        integration_run_record(source=source, body={"passed": 1, "failed": 9}, by=None)
    else:
        reference(source, numeric(counts=(90, 10)))
    assert data_sources_sweep(now=NOW + 2 * MINUTE) == 1
    assert check(source, "freshness").status == "ok"
    assert check(source, "uptime").evaluated_at == NOW + 2 * MINUTE
    verdict = {"profile": "schema", "integration run": "integration", "reference": "drift"}[news]
    assert check(source, verdict).status == "fail"
    assert data_sources_sweep(now=NOW + 3 * MINUTE) == 0  # nothing new since: left alone


# --- Volume -----------------------------------------------------------------------------------

# The 14 deliveries before the latest one, oldest first. Sorted: 97 98 98 99 99 100 100
# 100 100 101 101 102 102 103 -> median (100 + 100) / 2 = 100. |deviations| sorted:
# 0 0 0 0 1 1 1 1 2 2 2 2 3 3 -> MAD (1 + 1) / 2 = 1. Band 100 +/- 3 x 1.4826 x 1
# = [95.5522, 104.4478].
TRAILING = [100, 102, 98, 101, 99, 100, 103, 97, 100, 101, 99, 100, 102, 98]
# Six older deliveries of 200 rows. Were they in the window (20 counts), the median would
# be 101 and the MAD 2: band [92.1044, 109.8956], in which 105 and 95 would pass.
OLDER = [200] * 6


def volume_history(source, latest):
    counts = [*OLDER, *TRAILING, latest]
    for hours_ago, rows in zip(range(len(counts), 0, -1), counts, strict=True):
        deliver(source, NOW - hours_ago * HOUR, rows=rows)
    deliver(source, NOW - 10 * MINUTE)  # a heartbeat: no row count, not judged


@pytest.mark.parametrize(
    ("latest", "status"),
    [(104, "ok"), (105, "warn"), (96, "ok"), (95, "warn"), (100, "ok")],
)
def test_volume_flags_a_count_outside_the_mad_band_of_the_trailing_14(source, latest, status):
    volume_history(source, latest)
    assert evaluate(source)["volume"] == status
    row = check(source, "volume")
    assert row.value == latest
    assert "median 100 +/- 3 x 1.4826 x MAD 1 = [95.5522, 104.448]" in row.detail
    assert "over the last 14 deliveries" in row.detail


def test_volume_needs_five_earlier_counted_deliveries(source):
    for hours_ago, rows in [(5, 100), (4, 100), (3, 100), (2, 100), (1, 100)]:
        deliver(source, NOW - hours_ago * HOUR, rows=rows)
    assert evaluate(source)["volume"] == "insufficient_data"
    assert "needs 5 earlier deliveries, has 4" in check(source, "volume").detail
    deliver(source, NOW, rows=100)
    assert evaluate(source)["volume"] == "ok"


def test_volume_without_any_row_count_is_insufficient_data(source):
    deliver(source, NOW - HOUR)
    evaluate(source)
    row = check(source, "volume")
    assert (row.status, row.value) == ("insufficient_data", None)
    assert row.detail == "volume: no delivery reported a row count"


# --- Completeness -----------------------------------------------------------------------------


def test_completeness_judges_each_field_and_keeps_the_worst(source):
    profile(
        source,
        {"name": "amount", "type": "float", "missing_share": 0.05},  # exactly warn: ok
        {"name": "channel", "type": "string", "missing_share": 0.21},  # past 20%: fail
        {"name": "note", "type": "string"},  # no missing share reported: not judged
        rows=1000,
    )
    assert evaluate(source)["completeness"] == "fail"
    row = check(source, "completeness")
    assert row.value == 0.21
    assert [(f["field"], f["status"], f["value"]) for f in row.fields] == [
        ("amount", "ok", 0.05),
        ("channel", "fail", 0.21),
    ]
    assert "worst field channel, 21.00% missing, over 2 fields" in row.detail
    assert field_row(source, "completeness", "amount")["detail"] == (
        "completeness: 5.00% missing of 1000 rows; warn past 5%, fail past 20%"
    )
    assert SourceDelivery.objects.get().missing_max == 0.21


def test_completeness_uses_the_sources_custom_levels(source):
    twin = DataSourceFactory(slug="twin")
    source.completeness_warn, source.completeness_fail = 0.01, 0.5
    source.save()
    fields = (
        {"name": "amount", "type": "float", "missing_share": 0.02},
        {"name": "channel", "type": "string", "missing_share": 0.0},
    )
    profile(source, *fields)
    profile(twin, *fields)
    assert evaluate(source)["completeness"] == "warn"  # 2% is past a 1% warn level
    assert evaluate(twin)["completeness"] == "ok"  # the default warns past 5% only
    row = check(source, "completeness")
    assert row.value == 0.02
    assert row.detail.endswith("warn past 1%, fail past 50%")
    assert [(f["field"], f["status"]) for f in row.fields] == [
        ("amount", "warn"),
        ("channel", "ok"),
    ]


def test_completeness_judges_the_newest_profiled_delivery_only(source):
    profile(source, {"name": "amount", "missing_share": 0.9}, at=NOW - 2 * HOUR)
    profile(source, {"name": "amount", "missing_share": 0.0}, at=NOW - HOUR)
    deliver(source, NOW - 10 * MINUTE)  # a later heartbeat carries no profile
    assert evaluate(source)["completeness"] == "ok"
    assert list(SourceDelivery.objects.order_by("at").values_list("missing_max", flat=True)) == [
        None,
        0.0,
        None,
    ]


def test_a_level_change_re_evaluates_the_source_once_committed(
    source, director, django_capture_on_commit_callbacks
):
    profile(source, {"name": "amount", "type": "float", "missing_share": 0.1})
    evaluate(source)
    assert check(source, "completeness").status == "warn"
    with django_capture_on_commit_callbacks(execute=True):
        data_source_update(
            source=source, by=director, completeness_warn=0.15, completeness_fail=0.3
        )
    assert check(source, "completeness").status == "ok"


# --- Schema -----------------------------------------------------------------------------------


def typed(name, kind):
    return {"name": name, "type": kind, "missing_share": 0.0}


@pytest.mark.parametrize(
    ("fields", "status", "changes", "rows"),
    [
        ([typed("amount", "float"), typed("channel", "string")], "ok", 0, []),
        (
            [typed("amount", "float"), typed("channel", "string"), typed("branch", "string")],
            "warn",
            1,
            [("branch", "added", None, "string")],
        ),
        ([typed("amount", "float")], "fail", 1, [("channel", "removed", "string", None)]),
        (
            [typed("amount", "float"), typed("channel", "int"), typed("branch", "string")],
            "fail",
            2,
            [("branch", "added", None, "string"), ("channel", "retyped", "string", "int")],
        ),
    ],
)
def test_schema_changes_are_detected_against_the_expected_schema(
    source, fields, status, changes, rows
):
    profile(source, *fields)
    assert evaluate(source)["schema"] == status
    row = check(source, "schema")
    assert row.value == changes
    assert [(f["field"], f["change"], f["expected"], f["observed"]) for f in row.fields] == rows


def test_a_field_profiled_without_a_type_is_not_a_retype(source):
    # "type" is optional in the contract: an unreported type is unknown, not changed.
    profile(source, {"name": "amount", "missing_share": 0.0}, typed("channel", "string"))
    assert evaluate(source)["schema"] == "ok"
    row = check(source, "schema")
    assert (row.value, row.fields) == (0.0, [])


def test_a_source_without_an_expected_schema_cannot_be_judged_for_schema(source):
    source.expected_schema = {}
    source.save()
    profile(source, typed("amount", "float"))
    evaluate(source)
    row = check(source, "schema")
    assert (row.status, row.value) == ("insufficient_data", None)
    assert row.fields == [
        {"field": "amount", "change": "added", "expected": None, "observed": "float"}
    ]


def test_an_expected_schema_set_later_is_judged_on_the_next_evaluation(source, director):
    profile(source, typed("amount", "float"), typed("channel", "int"))
    assert evaluate(source)["schema"] == "fail"
    data_source_update(
        source=source, by=director, expected_schema={"amount": "float", "channel": "int"}
    )
    assert evaluate(source)["schema"] == "ok"


# --- Drift ------------------------------------------------------------------------------------


def test_drift_is_psi_and_normalised_wasserstein_against_the_reference(source):
    reference(source, numeric(counts=[60, 40]))
    profile(source, numeric(counts=[50, 50]))
    # PSI 0.0405 is under its 0.1 warn level, but Wasserstein 0.204 is past its 0.1.
    assert evaluate(source)["drift"] == "warn"
    row = check(source, "drift")
    assert row.value == pytest.approx(PSI_60_40_VS_50_50, abs=1e-7)
    assert row.detail == "drift: 1 of 1 fields judged against their reference; largest PSI 0.0405"
    field = field_row(source, "drift", "amount")
    assert field["psi"] == pytest.approx(PSI_60_40_VS_50_50, abs=1e-7)
    assert field["wasserstein"] == pytest.approx(W_60_40_VS_50_50, abs=1e-7)
    assert (field["reference_version"], field["rows_reference"], field["rows_current"]) == (
        1,
        100,
        100,
    )
    assert (field["bins"], field["status"]) == (2, "warn")
    stored = FieldProfile.objects.get()
    assert stored.psi == pytest.approx(PSI_60_40_VS_50_50, abs=1e-7)
    assert stored.wasserstein == pytest.approx(W_60_40_VS_50_50, abs=1e-7)
    assert stored.reference_version == 1
    assert SourceDelivery.objects.get().drift_max == pytest.approx(PSI_60_40_VS_50_50, abs=1e-7)


def test_a_laxer_wasserstein_level_lets_the_same_drift_pass(source):
    source.wasserstein_warn = 0.5
    source.save()
    reference(source, numeric(counts=[60, 40]))
    profile(source, numeric(counts=[50, 50]))
    assert evaluate(source)["drift"] == "ok"


@pytest.mark.parametrize(
    ("ref_counts", "current", "psi", "wasserstein", "status"),
    [
        ([60, 40], [40, 60], PSI_60_40_VS_40_60, W_60_40_VS_40_60, "warn"),  # 0.1 < PSI <= 0.25
        ([80, 20], [20, 80], PSI_80_20_VS_20_80, W_80_20_VS_20_80, "fail"),  # PSI past 0.25
        ([60, 40], [60, 40], 0.0, 0.0, "ok"),
    ],
)
def test_psi_levels_decide_the_drift_verdict(source, ref_counts, current, psi, wasserstein, status):
    reference(source, numeric(counts=ref_counts))
    profile(source, numeric(counts=current))
    assert evaluate(source)["drift"] == status
    stored = FieldProfile.objects.get()
    assert stored.psi == pytest.approx(psi, abs=1e-7)
    assert stored.wasserstein == pytest.approx(wasserstein, abs=1e-7)


def test_categorical_drift_is_psi_over_the_categories(source):
    reference(source, categorical(categories={"branch": 50, "online": 50}))
    profile(source, categorical(categories={"branch": 30, "online": 70}))
    assert evaluate(source)["drift"] == "warn"
    field = field_row(source, "drift", "channel")
    assert field["psi"] == pytest.approx(PSI_CATEGORIES, abs=1e-7)
    assert (field["wasserstein"], field["bins"]) == (None, 2)
    assert field["method"] == "PSI over categories"


def test_the_drift_of_several_fields_is_the_worst_and_the_value_the_largest_psi(source):
    reference(source, numeric(counts=[80, 20]), categorical())
    profile(source, numeric(counts=[20, 80]), categorical())
    assert evaluate(source)["drift"] == "fail"
    row = check(source, "drift")
    assert row.value == pytest.approx(PSI_80_20_VS_20_80, abs=1e-7)
    assert [(f["field"], f["status"]) for f in row.fields] == [
        ("amount", "fail"),
        ("channel", "ok"),
    ]


def test_too_few_current_rows_is_insufficient_data(source):
    reference(source, numeric(counts=[60, 40]))  # 100 rows
    profile(source, numeric(counts=[10, 10]))  # 20 rows, under the 100 needed
    assert evaluate(source)["drift"] == "insufficient_data"
    field = field_row(source, "drift", "amount")
    assert field["status"] == "insufficient_data"
    assert "needs 100 rows on each side; 100 reference rows, 20 current rows" in field["detail"]


def test_too_few_reference_rows_is_insufficient_data(source):
    reference(source, numeric(counts=[6, 3]))  # 9 rows
    profile(source, numeric(counts=[500, 500]))
    assert evaluate(source)["drift"] == "insufficient_data"


def test_a_custom_drift_min_rows_lets_a_small_sample_be_judged(source):
    source.drift_min_rows = 20
    source.save()
    reference(source, numeric(counts=[60, 40]))
    profile(source, numeric(counts=[10, 10]))  # 20 rows: exactly enough; shares 0.5, 0.5
    assert evaluate(source)["drift"] == "warn"
    field = field_row(source, "drift", "amount")
    assert field["psi"] == pytest.approx(PSI_60_40_VS_50_50, abs=1e-7)
    assert field["wasserstein"] == pytest.approx(W_60_40_VS_50_50, abs=1e-7)


@pytest.mark.parametrize(
    "current",
    [
        numeric(edges=[0, 5, 20]),
        numeric(edges=[0, 10, 20, 30], counts=[40, 40, 20]),
        categorical("amount"),
    ],
)
def test_bins_that_differ_from_the_reference_are_insufficient_data(source, current):
    reference(source, numeric(counts=[60, 40]))
    profile(source, current)
    assert evaluate(source)["drift"] == "insufficient_data"
    field = field_row(source, "drift", "amount")
    assert (field["psi"], field["wasserstein"], field["reference_version"]) == (None, None, 1)
    assert "the bins differ from reference v1" in field["detail"]
    assert FieldProfile.objects.get().psi is None
    assert SourceDelivery.objects.get().drift_max is None


def test_a_field_without_a_reference_is_insufficient_data(source):
    profile(source, numeric())
    evaluate(source)
    field = field_row(source, "drift", "amount")
    assert (field["status"], field["detail"]) == (
        "insufficient_data",
        "drift: no reference profile yet",
    )
    assert (
        check(source, "drift").detail == "drift: none of 1 fields could be judged (see each field)"
    )


# --- References -------------------------------------------------------------------------------


def test_each_pushed_reference_is_a_new_version_and_the_newest_is_used(source, director):
    first = reference(source, numeric(counts=[80, 20]), categorical(), by=director)
    second = reference(source, numeric(counts=[60, 40]), by=director)
    assert [(r.field, r.version) for r in first] == [("amount", 1), ("channel", 1)]
    assert [(r.field, r.version) for r in second] == [("amount", 2)]
    assert list(
        ReferenceProfile.objects.filter(field="amount")
        .order_by("version")
        .values_list("version", "counts", "origin", "created_by")
    ) == [(1, [80, 20], "pushed", director.pk), (2, [60, 40], "pushed", director.pk)]
    profile(source, numeric(counts=[50, 50]), categorical())
    evaluate(source)
    field = field_row(source, "drift", "amount")
    assert field["reference_version"] == 2
    # v1 would give (0.5 - 0.8) ln(0.625) + (0.5 - 0.2) ln(2.5) = 0.4158883
    assert field["psi"] == pytest.approx(PSI_60_40_VS_50_50, abs=1e-7)
    assert field_row(source, "drift", "channel")["reference_version"] == 1
    events = AuditEvent.objects.filter(action="data_source.reference").order_by("id")
    assert [e.after for e in events] == [
        {"amount": {"version": 1, "rows": 100}, "channel": {"version": 1, "rows": 100}},
        {"amount": {"version": 2, "rows": 100}},
    ]


def window_history(source):
    """Four profiled deliveries: three in the window [NOW - 5h, NOW - 1h), one at its end."""
    profile(
        source,
        numeric(counts=[7, 3], edges=[0, 5, 20]),  # other bins than the newest: left out
        categorical(categories={"branch": 1}),
        at=NOW - 4 * HOUR,
    )
    profile(
        source,
        numeric(counts=[30, 20]),
        categorical(categories={"branch": 3, "online": 1}),
        at=NOW - 3 * HOUR,
    )
    profile(
        source,
        numeric(counts=[30, 20]),
        categorical(categories={"online": 4, "phone": 2}),
        {"name": "note", "type": "string", "missing_share": 0.5},  # no distribution
        at=NOW - 2 * HOUR,
    )
    profile(source, numeric(counts=[1000, 0]), at=NOW - HOUR)  # the end is exclusive


def test_a_reference_from_a_window_sums_its_histograms_and_categories(source, director):
    window_history(source)
    refs = reference_profile_from_window(
        source=source, by=director, start=NOW - 5 * HOUR, end=NOW - HOUR
    )
    assert [r.field for r in refs] == ["amount", "channel"]
    amount, channel = ReferenceProfile.objects.order_by("field")
    # The two histograms on the newest delivery's bins: [30 + 30, 20 + 20]; the older
    # one on other bins is left out, as is the delivery at the window's end.
    assert (amount.edges, amount.counts, amount.rows, amount.categories) == (
        EDGES,
        [60, 40],
        100,
        None,
    )
    # Every categorical profile of the window: branch 1 + 3, online 1 + 4, phone 2.
    assert (channel.categories, channel.rows, channel.edges) == (
        {"branch": 4, "online": 5, "phone": 2},
        11,
        None,
    )
    assert (amount.version, amount.origin, amount.window_start, amount.window_end) == (
        1,
        "window",
        NOW - 5 * HOUR,
        NOW - HOUR,
    )
    assert amount.created_by == director
    event = AuditEvent.objects.get(action="data_source.reference")
    assert event.reason == "Chosen from a window of deliveries"


def test_a_window_reference_may_name_its_fields(source, director):
    window_history(source)
    refs = reference_profile_from_window(
        source=source, by=director, start=NOW - 5 * HOUR, end=NOW - HOUR, names=["channel"]
    )
    assert [(r.field, r.version) for r in refs] == [("channel", 1)]
    assert list(ReferenceProfile.objects.values_list("field", flat=True)) == ["channel"]


def test_a_window_reference_refuses_a_field_the_window_did_not_profile(source, director):
    window_history(source)
    with pytest.raises(ApplicationError) as error:
        reference_profile_from_window(
            source=source,
            by=director,
            start=NOW - 5 * HOUR,
            end=NOW - HOUR,
            names=["channel", "balance", "note"],
        )
    assert error.value.field == "fields"
    assert error.value.message == "No delivery in that window profiled balance, note."
    assert not ReferenceProfile.objects.exists()


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (NOW - 30 * DAY, NOW - 20 * DAY),  # no delivery at all
        (NOW - HOUR - 30 * MINUTE, NOW - 30 * MINUTE),  # a delivery, with no distribution
    ],
)
def test_a_window_without_distributions_is_refused_and_writes_nothing(source, director, start, end):
    profile(source, {"name": "note", "type": "string", "missing_share": 0.1}, at=NOW - HOUR)
    with pytest.raises(ApplicationError) as error:
        reference_profile_from_window(source=source, by=director, start=start, end=end)
    assert error.value.field == "start"
    assert "No delivery in that window carries a field distribution" in error.value.message
    assert not ReferenceProfile.objects.exists()
    assert not AuditEvent.objects.filter(action="data_source.reference").exists()


def test_a_window_must_start_before_it_ends(source, director):
    with pytest.raises(ApplicationError, match="start must be before its end"):
        reference_profile_from_window(source=source, by=director, start=NOW, end=NOW)
    assert not ReferenceProfile.objects.exists()


def test_a_window_reference_is_versioned_after_pushed_ones(source, director):
    reference(source, numeric(counts=[80, 20]))
    window_history(source)
    refs = reference_profile_from_window(
        source=source, by=director, start=NOW - 5 * HOUR, end=NOW - HOUR
    )
    assert [(r.field, r.version) for r in refs] == [("amount", 2), ("channel", 1)]


# --- Integration tests and uptime -------------------------------------------------------------


def run(source, at, passed, failed):
    integration_run_record(
        source=source, body={"at": iso(at), "passed": passed, "failed": failed}, by=None
    )


def test_the_integration_error_rate_counts_the_last_30_days_only(source):
    run(source, NOW - 31 * DAY, passed=0, failed=100)  # outside: would make it 1.97%
    run(source, NOW - 29 * DAY, passed=4950, failed=50)
    run(source, NOW - DAY, passed=4951, failed=49)
    # (50 + 49) / 10000 = 0.99%: strictly below 1%
    assert evaluate(source)["integration"] == "ok"
    row = check(source, "integration")
    assert row.value == pytest.approx(0.0099)
    assert "99 failed of 10000 checks (0.99%) in the last 30 days" in row.detail


def test_an_integration_error_rate_of_exactly_one_percent_fails(source):
    run(source, NOW - DAY, passed=9900, failed=100)
    assert evaluate(source)["integration"] == "fail"
    assert check(source, "integration").value == 0.01


def test_only_runs_older_than_30_days_is_insufficient_data(source):
    run(source, NOW - 31 * DAY, passed=10, failed=0)
    evaluate(source)
    row = check(source, "integration")
    assert (row.status, row.value) == ("insufficient_data", None)


def hourly(source, missing=(), interval=HOUR, count=720):
    """One delivery ten minutes into each interval of the 30 days before NOW, but `missing`."""
    start = NOW - 30 * DAY
    SourceDelivery.objects.bulk_create(
        SourceDelivery(source=source, at=start + k * interval + 10 * MINUTE, received_at=NOW)
        for k in range(count)
        if k not in missing
    )


@pytest.mark.parametrize(
    ("missing", "up", "status"),
    [
        (set(), 720, "ok"),
        ({0, 300, 719}, 717, "ok"),  # 717 / 720 = 99.583%
        ({0, 1, 300, 719}, 716, "fail"),  # 716 / 720 = 99.444%: not above 99.5%
    ],
)
def test_uptime_is_the_share_of_hours_with_a_delivery_over_30_days(source, missing, up, status):
    hourly(source, missing)
    # Outside the window, or a second delivery in an hour already up: neither adds an hour.
    SourceDelivery.objects.create(source=source, at=NOW - 30 * DAY - MINUTE, received_at=NOW)
    SourceDelivery.objects.create(
        source=source, at=NOW - 30 * DAY + 5 * HOUR + 20 * MINUTE, received_at=NOW
    )
    assert evaluate(source)["uptime"] == status
    row = check(source, "uptime")
    assert row.value == pytest.approx(up / 720)
    assert row.detail.startswith(f"uptime: {up} of 720 expected intervals had a delivery")


def test_uptime_counts_intervals_of_the_sources_own_sla(source):
    source.expected_interval_seconds = 86400
    source.save()
    hourly(source, missing={4}, interval=DAY, count=30)  # 29 of 30 days
    evaluate(source)
    row = check(source, "uptime")
    assert (row.status, row.value) == ("fail", pytest.approx(29 / 30))
    assert row.detail.startswith("uptime: 29 of 30 expected intervals")


def test_the_dashboard_summary_counts_a_source_never_evaluated_as_unjudged(source):
    # A check not evaluated yet counts as unjudged, never as passing (as on each row).
    judged = DataSourceFactory(slug="judged")
    evaluate(judged)  # never delivered: freshness fails
    assert dashboard_summary() == {
        "total": 2,
        "fail": 1,
        "warn": 0,
        "insufficient_data": 1,
        "ok": 0,
    }
    rows = dashboard_rows(list(data_sources_filtered()), now=NOW)
    assert {row.source.slug: row.worst for row in rows} == {
        "core-crm": "insufficient_data",
        "judged": "fail",
    }


# --- On arrival -------------------------------------------------------------------------------


def test_a_profile_push_is_evaluated_by_the_celery_task_once_committed(
    client, source, django_capture_on_commit_callbacks
):
    secret = api_token_create(by=None, name="crm-etl", data_source=source)[1]
    reference(source, numeric(counts=[60, 40]))
    assert not SourceCheck.objects.exists()  # the reference's evaluation was not committed
    body = {
        "at": iso(NOW - MINUTE),
        "rows": 100,
        "fields": [numeric(counts=[50, 50], missing_share=0.3)],
    }
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(
            f"/api/v1/sources/{source.slug}/profiles/",
            json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {secret}",
        )
    assert response.status_code == 201, response.content
    assert len(callbacks) == 1
    checks = dict(SourceCheck.objects.filter(source=source).values_list("kind", "status"))
    assert checks == {
        "freshness": "ok",
        "volume": "insufficient_data",
        "completeness": "fail",  # 30% missing, past 20%
        "schema": "fail",  # channel is missing
        "drift": "warn",
        "integration": "insufficient_data",
        "uptime": "fail",
    }
    assert set(SourceCheck.objects.values_list("evaluated_at", flat=True)) == {NOW}
    assert FieldProfile.objects.get().psi == pytest.approx(PSI_60_40_VS_50_50, abs=1e-7)


def test_without_a_commit_no_evaluation_runs(client, source):
    secret = api_token_create(by=None, name="crm-etl", data_source=source)[1]
    response = client.post(
        f"/api/v1/sources/{source.slug}/deliveries/",
        json.dumps({}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert response.status_code == 201
    assert not SourceCheck.objects.exists()

"""The registry's browser pages: systems, a system's metrics, its versions and their comparison.

Personas (tests/conftest.py): Dana directs operations, Omar owns a system, Ada
approves, Vic only views, and Charlie has no role at all.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.staticfiles import finders
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from registry.models import AISystem, MetricRollup, MetricSpec, ModelVersion
from registry.rollups import day_start, sketch_add, sketch_quantile

pytestmark = pytest.mark.django_db


# --- Data ---------------------------------------------------------------------------------


def make_system(slug: str = "claims-triage", name: str = "Claims triage", **fields) -> AISystem:
    return AISystem.objects.create(
        slug=slug,
        name=name,
        business_unit=fields.pop("business_unit", "Claims"),
        risk_tier=fields.pop("risk_tier", "medium"),
        **fields,
    )


def make_version(system: AISystem, version: str, **fields) -> ModelVersion:
    return ModelVersion.objects.create(
        system=system,
        version=version,
        artifact_uri=f"s3://models/{version}",
        content_hash="x" * 64,
        **fields,
    )


def make_spec(system: AISystem, key: str, **fields) -> MetricSpec:
    values = {
        "name": key.replace("_", " ").capitalize(),
        "kind": "quality",
        "direction": "higher_is_better",
        "warning": 0.9,
        "critical": 0.8,
        "aggregation": "mean",
    }
    values.update(fields)
    return MetricSpec.objects.create(system=system, key=key, **values)


def make_daily(spec, version, day: datetime, values: list[float], *, sketch=False) -> MetricRollup:
    """A daily rollup of `values`, reported in that order, one hour apart from midnight."""
    return MetricRollup.objects.create(
        metric=spec,
        model_version=version,
        version_key=version.pk if version else 0,
        granularity="day",
        bucket_start=day,
        count=len(values),
        sum=sum(values),
        min=min(values),
        max=max(values),
        last_at=day + timedelta(hours=len(values) - 1),
        last_value=values[-1],
        sketch=sketch_add(None, values) if sketch else None,
    )


def today() -> datetime:
    return day_start(timezone.now())


def chart_config(response) -> dict:
    match = re.search(
        r'<script id="registry-chart-config" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.DOTALL,
    )
    assert match, "the page has no chart config"
    return json.loads(match.group(1))


@pytest.fixture
def system():
    return make_system()


# --- Access -------------------------------------------------------------------------------


def pages(slug: str) -> list[str]:
    return ["/systems/", f"/systems/{slug}/", f"/systems/{slug}/versions/"]


def test_an_anonymous_visitor_is_sent_to_login_from_every_page(client, system):
    for url in pages(system.slug):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/?next="), url


def test_charlie_without_a_role_gets_403_on_every_page(client, outsider, system):
    client.force_login(outsider)
    for url in pages(system.slug):
        response = client.get(url)
        assert response.status_code == 403, url
        assert "You need a role to read the registry" in response.content.decode()
        assert "Claims triage" not in response.content.decode()


@pytest.mark.parametrize("persona", ["director", "owner", "approver", "viewer"])
def test_everyone_with_a_role_reads_every_page(client, request, persona, system):
    client.force_login(request.getfixturevalue(persona))
    for url in pages(system.slug):
        assert client.get(url).status_code == 200, url


def test_an_unknown_system_is_404(client, viewer):
    client.force_login(viewer)
    assert client.get("/systems/no-such-system/").status_code == 404
    assert client.get("/systems/no-such-system/versions/").status_code == 404


def test_the_navigation_links_to_the_systems(client, viewer):
    client.force_login(viewer)
    assert 'href="/systems/"' in client.get("/").content.decode()


# --- System list --------------------------------------------------------------------------


def test_the_list_shows_each_system_with_its_deployed_version_and_counts(client, viewer):
    fraud = make_system("fraud-score", "Fraud score", business_unit="Payments", risk_tier="high")
    v1 = make_version(fraud, "1.0.0")
    make_version(fraud, "1.1.0")
    fraud.deployed_version = v1
    fraud.save()
    make_spec(fraud, "accuracy")
    make_system("chat-helper", "Chat helper")
    client.force_login(viewer)

    response = client.get("/systems/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "Fraud score" in page and "Chat helper" in page
    assert 'href="/systems/fraud-score/"' in page
    assert "Payments" in page and "High" in page
    row = next(system for system in response.context["page"] if system.slug == "fraud-score")
    assert (row.deployed_version.version, row.version_count, row.metric_count) == ("1.0.0", 2, 1)
    assert '<th scope="col">' in page and "<caption>" in page


def test_the_list_paginates_25_to_a_page(client, viewer):
    for number in range(30):
        make_system(f"system-{number:02d}", f"System {number:02d}")
    client.force_login(viewer)

    first = client.get("/systems/")
    second = client.get("/systems/?page=2")

    assert len(first.context["page"].object_list) == 25
    assert "System 24" in first.content.decode()
    assert "System 25" not in first.content.decode()
    assert 'href="?page=2"' in first.content.decode()
    assert [s.name for s in second.context["page"].object_list] == [
        f"System {number}" for number in range(25, 30)
    ]
    # A page number past the end shows the last page rather than an error.
    assert client.get("/systems/?page=99").context["page"].number == 2


def test_the_pager_swaps_the_table_alone_and_the_same_url_is_the_whole_page(client, viewer):
    for number in range(30):
        make_system(f"system-{number:02d}", f"System {number:02d}")
    client.force_login(viewer)

    fragment = client.get("/systems/?page=2", headers={"HX-Request": "true"})
    assert "HX-Request" in fragment["Vary"]
    text = fragment.content.decode()
    assert "<html" not in text and "<h1>" not in text
    assert "System 25" in text and "System 24" not in text
    assert 'hx-get="?page=1" hx-target="#system-results" hx-push-url="true"' in text

    page = client.get("/systems/?page=2").content.decode()
    assert page.startswith("<!DOCTYPE html>") and "<h1>AI systems</h1>" in page
    assert '<div id="system-results" class="list-results">' in page and "System 25" in page


def test_an_empty_registry_says_how_to_register_a_system(client, viewer):
    client.force_login(viewer)
    page = client.get("/systems/").content.decode()
    assert "No AI system is registered yet" in page
    assert "/api/v1/systems/" in page


def test_the_list_costs_the_same_queries_for_3_or_33_systems(client, viewer):
    def queries_for(count: int) -> int:
        # The second call adds to the first: 3 systems, then 33.
        for number in range(count):
            system = make_system(f"s-{count}-{number:02d}", f"System {count}-{number:02d}")
            version = make_version(system, "1.0")
            system.deployed_version = version
            system.save()
            make_spec(system, "accuracy")
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/systems/").status_code == 200
        return len(captured)

    client.force_login(viewer)
    assert queries_for(3) == queries_for(30)


# --- System detail ------------------------------------------------------------------------


def test_the_detail_page_lists_each_metric_with_its_thresholds_in_table_and_chart_config(
    client, viewer, system
):
    v1 = make_version(system, "1.0.0", deployed_at=datetime(2025, 1, 6, 12, 0, tzinfo=UTC))
    make_spec(system, "accuracy", name="Accuracy", warning=0.9, critical=0.8)
    make_spec(
        system,
        "latency_p95",
        name="Latency p95",
        kind="latency",
        unit="ms",
        direction="lower_is_better",
        warning=300,
        critical=500,
        aggregation="p95",
    )
    client.force_login(viewer)

    response = client.get(f"/systems/{system.slug}/")

    page = response.content.decode()
    assert response.status_code == 200
    # The no-JS table holds every metric with its thresholds.
    for name, warning, critical in [("Accuracy", "0.9", "0.8"), ("Latency p95", "300", "500")]:
        assert name in page
        assert f'<td class="num" data-threshold="warning">{warning}</td>' in page
        assert f'<td class="num" data-threshold="critical">{critical}</td>' in page
    # The chart config carries the same, the series URL and the deployments.
    config = chart_config(response)
    charts = {chart["key"]: chart for chart in config["charts"]}
    assert set(charts) == {"accuracy", "latency_p95"}
    assert (charts["accuracy"]["warning"], charts["accuracy"]["critical"]) == (0.9, 0.8)
    assert (charts["latency_p95"]["warning"], charts["latency_p95"]["critical"]) == (300, 500)
    assert charts["latency_p95"]["direction"] == "lower_is_better"
    assert charts["latency_p95"]["unit"] == "ms"
    assert charts["accuracy"]["url"] == f"/api/v1/systems/{system.slug}/metrics/accuracy/series/"
    assert charts["accuracy"]["deployments"] == [
        {"at": "2025-01-06T12:00:00Z", "version": v1.version}
    ]
    assert (config["kind"], config["buckets"], config["window_days"]) == ("series", 500, 30)
    # No inline script and no CDN: plotly.js and the chart code are static files.
    assert "/static/vendor/plotly.min.js" in page
    assert "/static/registry/charts.js" in page
    assert "cdn" not in page.lower()
    assert not re.search(r"<script(?![^>]*(src=|application/json))", page)


def test_the_detail_page_shows_daily_values_and_status_without_javascript(client, viewer, system):
    v1 = make_version(system, "1.0.0")
    v2 = make_version(system, "1.1.0")
    spec = make_spec(system, "accuracy", name="Accuracy")
    yesterday = today() - timedelta(days=1)
    # Two versions reported on the same day: the daily mean weighs every point,
    # (0.9 + 0.7 + 8 * 0.75) / 10 = 0.76, not the mean of the means (0.775).
    make_daily(spec, v1, yesterday, [0.9, 0.7])
    make_daily(spec, v2, yesterday, [0.75] * 8)
    client.force_login(viewer)

    response = client.get(f"/systems/{system.slug}/")

    metric = response.context["metrics"][0]
    assert metric.latest == (yesterday.date(), pytest.approx(0.76))
    assert metric.status == "critical"
    page = response.content.decode()
    assert "0.76" in page
    assert "✖</span> Critical" in page


def test_a_system_without_metrics_says_what_to_do_and_loads_no_chart_code(client, viewer, system):
    client.force_login(viewer)
    page = client.get(f"/systems/{system.slug}/").content.decode()
    assert "No metric is specified for this system yet" in page
    assert "plotly.min.js" not in page


# --- Versions and their comparison --------------------------------------------------------


@pytest.fixture
def two_versions(system):
    old = make_version(system, "1.0.0")
    new = make_version(system, "2.0.0")
    return old, new


def test_the_versions_page_lists_every_version(client, viewer, system, two_versions):
    client.force_login(viewer)
    page = client.get(f"/systems/{system.slug}/versions/").content.decode()
    assert "1.0.0" in page and "2.0.0" in page
    assert '<label for="id_a">Version A</label>' in page


def test_the_comparison_computes_daily_mean_p95_and_last_for_two_versions(
    client, viewer, system, two_versions
):
    old, new = two_versions
    accuracy = make_spec(system, "accuracy", name="Accuracy", aggregation="mean")
    latency = make_spec(
        system,
        "latency",
        name="Latency",
        kind="latency",
        unit="ms",
        direction="lower_is_better",
        warning=300,
        critical=500,
        aggregation="p95",
    )
    users = make_spec(
        system,
        "active_users",
        name="Active users",
        kind="adoption",
        warning=100,
        critical=50,
        aggregation="last",
    )
    day1 = today() - timedelta(days=2)
    day2 = today() - timedelta(days=1)
    # Mean: (0.9 + 0.8 + 1.0) / 3 = 0.9 and (0.7 + 0.8) / 2 = 0.75 on day 1; 0.95 for old on day 2.
    make_daily(accuracy, old, day1, [0.9, 0.8, 1.0])
    make_daily(accuracy, new, day1, [0.7, 0.8])
    make_daily(accuracy, old, day2, [0.95])
    # p95 of 1..100 is the 95th value, 95 (the sketch reads it to within 1%);
    # of 1..20 it is the 19th value, 19.
    make_daily(latency, old, day1, [float(v) for v in range(1, 101)], sketch=True)
    make_daily(latency, new, day1, [float(v) for v in range(1, 21)], sketch=True)
    # Last: the value reported last that day.
    make_daily(users, old, day1, [120, 130, 125])
    make_daily(users, new, day1, [80, 90])
    # Ignored: an hourly rollup, a day before the 30-day window, a third version.
    other = make_version(system, "3.0.0")
    make_daily(accuracy, other, day1, [0.1])
    make_daily(accuracy, old, today() - timedelta(days=30), [0.1])
    MetricRollup.objects.create(
        metric=accuracy,
        model_version=old,
        version_key=old.pk,
        granularity="hour",
        bucket_start=day1,
        count=1,
        sum=0.1,
        min=0.1,
        max=0.1,
        last_at=day1,
        last_value=0.1,
    )
    client.force_login(viewer)

    response = client.get(f"/systems/{system.slug}/versions/?a=1.0.0&b=2.0.0")

    assert response.status_code == 200
    table = {
        c.spec.key: {row.day: (row.a, row.b) for row in c.rows}
        for c in response.context["comparisons"]
    }
    assert table["accuracy"] == {
        day1.date(): (pytest.approx(0.9), pytest.approx(0.75)),
        day2.date(): (pytest.approx(0.95), None),
    }
    p95_old, p95_new = table["latency"][day1.date()]
    assert p95_old == pytest.approx(95, rel=0.01)
    assert p95_new == pytest.approx(19, rel=0.01)
    assert p95_old == sketch_quantile(sketch_add(None, range(1, 101)), 0.95)
    assert table["active_users"] == {day1.date(): (125, 90)}
    # The page shows the numbers and their difference, and charts them.
    page = response.content.decode()
    assert "0.75" in page and "-0.15" in page
    config = chart_config(response)
    assert config["kind"] == "comparison"
    accuracy_chart = next(chart for chart in config["charts"] if chart["key"] == "accuracy")
    assert accuracy_chart["days"] == [day1.date().isoformat(), day2.date().isoformat()]
    assert [trace["version"] for trace in accuracy_chart["traces"]] == ["1.0.0", "2.0.0"]
    assert accuracy_chart["traces"][0]["values"] == pytest.approx([0.9, 0.95])
    assert accuracy_chart["traces"][1]["values"] == [pytest.approx(0.75), None]


def test_an_unknown_version_in_the_comparison_gets_a_clear_message(
    client, viewer, system, two_versions
):
    client.force_login(viewer)

    response = client.get(f"/systems/{system.slug}/versions/?a=1.0.0&b=9.9.9")

    assert response.status_code == 200
    page = response.content.decode()
    assert "There is no version “9.9.9” of this system" in page
    assert 'role="alert"' in page
    assert response.context.get("comparisons") is None


def test_comparing_a_version_with_itself_is_refused(client, viewer, system, two_versions):
    client.force_login(viewer)
    response = client.get(f"/systems/{system.slug}/versions/?a=1.0.0&b=1.0.0")
    assert "Choose two different versions." in response.content.decode()


def test_the_versions_table_is_paged_and_the_comparison_still_offers_every_version(
    client, viewer, system
):
    for number in range(26):
        make_version(system, f"1.{number}.0")
    client.force_login(viewer)

    first = client.get(f"/systems/{system.slug}/versions/", {"a": "1.0.0", "b": "1.1.0"})
    assert len(first.context["page"].object_list) == 25
    text = first.content.decode()
    assert "26 registered versions, newest first, showing 1 to 25" in text
    assert 'href="?a=1.0.0&amp;b=1.1.0&amp;page=2#versions-title"' in text
    assert len(first.context["form"].fields["a"].choices) == 26

    second = client.get(f"/systems/{system.slug}/versions/?page=2")
    assert len(second.context["page"].object_list) == 1


def test_a_system_with_one_version_explains_that_comparing_needs_two(client, viewer, system):
    make_version(system, "1.0.0")
    client.force_login(viewer)
    page = client.get(f"/systems/{system.slug}/versions/").content.decode()
    assert "A comparison needs two versions of this system" in page


# --- Static files -------------------------------------------------------------------------


def test_plotly_js_is_served_from_the_plotly_package_by_the_finder():
    found = finders.find("vendor/plotly.min.js")
    assert found
    assert found.replace("\\", "/").endswith("plotly/package_data/plotly.min.js")


def test_the_page_assets_are_found():
    assert finders.find("registry/charts.js")
    assert finders.find("registry/registry.css")


def test_the_detail_and_comparison_pages_cost_a_fixed_number_of_queries(
    client, viewer, system, two_versions, django_assert_max_num_queries
):
    old, new = two_versions
    for number in range(8):
        spec = make_spec(system, f"metric_{number}")
        for days_ago in range(30):
            day = today() - timedelta(days=days_ago)
            make_daily(spec, old, day, [0.9, 0.95])
            make_daily(spec, new, day, [0.85])
    client.force_login(viewer)

    # Session, user, groups, inbox count, my-work count, webhook-tab check, system, specs,
    # versions, rollups, upstream data issues (system page only): a fixed number, none per
    # metric or day.
    with django_assert_max_num_queries(11):
        assert client.get(f"/systems/{system.slug}/").status_code == 200
    with django_assert_max_num_queries(10):
        assert client.get(f"/systems/{system.slug}/versions/?a=1.0.0&b=2.0.0").status_code == 200

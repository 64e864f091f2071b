"""The data-quality pages: the dashboard, a source's drill-down, its form, reference and tokens.

Personas (tests/conftest.py): Dana directs operations, Omar owns a system, Ada
approves, Vic only views, and Charlie has no role at all. The CRM feed feeds
the loan classifier.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry import views
from registry.models import (
    AISystem,
    ApiToken,
    DataSource,
    FieldProfile,
    ReferenceProfile,
    SourceCheck,
    SourceDelivery,
)
from registry.services import api_token_create
from tests.registry.factories import AISystemFactory, DataSourceFactory

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
GRID = ("freshness", "volume", "completeness", "schema", "drift", "integration")


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def system() -> AISystem:
    return AISystemFactory(slug="loan-classifier", name="Loan classifier")


@pytest.fixture
def source(system) -> DataSource:
    source = DataSourceFactory(slug="crm-feed", name="CRM feed")
    source.systems.set([system])
    return source


def make_check(source: DataSource, kind: str, status: str, **fields) -> SourceCheck:
    return SourceCheck.objects.create(
        source=source,
        kind=kind,
        status=status,
        value=fields.pop("value", None),
        detail=fields.pop("detail", f"{kind}: {status}"),
        fields=fields.pop("fields", []),
        since=NOW - timedelta(hours=2),
        evaluated_at=NOW,
    )


def make_delivery(source: DataSource, at: datetime, rows: int | None = 1000, **fields):
    return SourceDelivery.objects.create(source=source, at=at, rows=rows, received_at=at, **fields)


def audit_count() -> int:
    # The governance app records the registry's audit events; counted without importing it.
    return apps.get_model("governance", "AuditEvent").objects.count()


def page_config(response) -> dict:
    match = re.search(
        r'<script id="quality-config" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.DOTALL,
    )
    assert match, "the page has no chart config"
    return json.loads(match.group(1))


def text_of(html: str) -> str:
    """The page's text without tags and with spaces collapsed, as a screen reader reads it."""
    cells = re.sub(r"</?(td|th|tr|li|p|div|dt|dd|h\d|caption)\b[^>]*>", " ", html)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", cells))


def no_inline_script(page: str) -> bool:
    return not re.search(r"<script(?![^>]*(src=|application/json))", page)


# --- Access -------------------------------------------------------------------------------


def source_pages(slug: str) -> list[str]:
    return [
        "/data-quality/",
        "/data-quality/new/",
        f"/data-quality/{slug}/",
        f"/data-quality/{slug}/edit/",
        f"/data-quality/{slug}/reference/",
        f"/data-quality/{slug}/tokens/",
    ]


def test_an_anonymous_visitor_is_sent_to_login_from_every_page(client, source):
    for url in source_pages(source.slug):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/?next="), url


def test_charlie_without_a_role_gets_the_no_role_page_everywhere(client, outsider, source):
    client.force_login(outsider)
    for url in source_pages(source.slug):
        response = client.get(url)
        assert response.status_code == 403, url
        assert "You need a role to read the registry" in response.content.decode(), url
        assert "CRM feed" not in response.content.decode(), url


@pytest.mark.parametrize("persona", ["director", "owner", "approver", "viewer"])
def test_everyone_with_a_role_reads_the_dashboard_and_the_drill_down(
    client, request, persona, source
):
    client.force_login(request.getfixturevalue(persona))
    assert client.get("/data-quality/").status_code == 200
    assert client.get("/data-quality/crm-feed/").status_code == 200


@pytest.mark.parametrize("persona", ["viewer", "approver"])
def test_a_viewer_gets_403_on_every_page_that_changes_something(client, request, persona, source):
    client.force_login(request.getfixturevalue(persona))
    before = (DataSource.objects.count(), ReferenceProfile.objects.count(), audit_count())
    for url in source_pages(source.slug)[1:]:
        if url == "/data-quality/crm-feed/":
            continue
        assert client.get(url).status_code == 403, url
        assert client.post(url, {"name": "x", "slug": "x", "kind": "crm"}).status_code == 403, url
    assert not ApiToken.objects.exists()
    after = (DataSource.objects.count(), ReferenceProfile.objects.count(), audit_count())
    assert after == before


def test_a_viewer_sees_no_button_or_link_to_change_anything(client, viewer, source):
    client.force_login(viewer)
    dashboard = client.get("/data-quality/").content.decode()
    detail = client.get("/data-quality/crm-feed/").content.decode()
    assert "/data-quality/new/" not in dashboard
    for url in source_pages(source.slug)[3:]:
        assert f'href="{url}"' not in detail, url


def test_a_viewer_who_owns_the_source_may_edit_it(client, viewer, source):
    source.owner = viewer
    source.save()
    client.force_login(viewer)
    assert client.get("/data-quality/crm-feed/edit/").status_code == 200
    assert client.get("/data-quality/crm-feed/tokens/").status_code == 200
    # Registering new sources stays with directors and system owners.
    assert client.get("/data-quality/new/").status_code == 403


def test_an_unknown_source_is_404(client, director):
    client.force_login(director)
    for url in source_pages("no-such-source")[2:]:
        assert client.get(url).status_code == 404, url


def test_the_navigation_links_to_the_dashboard(client, viewer):
    client.force_login(viewer)
    page = client.get("/").content.decode()
    assert 'href="/data-quality/"' in page and "Data quality" in page
    dashboard = client.get("/data-quality/").content.decode()
    assert 'href="/data-quality/" aria-current="page"' in dashboard


# --- Dashboard ----------------------------------------------------------------------------


def test_an_empty_dashboard_says_who_registers_a_source_and_how(client, viewer, director):
    client.force_login(viewer)
    page = text_of(client.get("/data-quality/").content.decode())
    assert "No data source is registered yet" in page
    assert "operations director or a system owner" in page
    assert "POST /api/v1/sources/" in page and "Register a data source" in page
    client.force_login(director)
    page = client.get("/data-quality/").content.decode()
    assert 'href="/data-quality/new/"' in page


def test_the_grid_shows_each_check_by_icon_and_text_with_uptime_and_error_rate(
    client, viewer, source, system
):
    make_check(source, "freshness", "fail", value=9000.0, detail="freshness: 2.5 h old")
    make_check(source, "volume", "warn", value=120.0)
    make_check(source, "completeness", "ok", value=0.01)
    make_check(source, "drift", "insufficient_data")
    make_check(source, "integration", "ok", value=0.0025)
    make_check(source, "uptime", "ok", value=0.9971)
    other_system = AISystemFactory(slug="fraud-score", name="Fraud score")
    source.systems.add(other_system)
    source.owner = viewer
    source.save()
    make_delivery(source, NOW - timedelta(days=1), rows=1200, drift_max=0.04)
    client.force_login(viewer)

    response = client.get("/data-quality/")

    page = response.content.decode()
    cells = dict(re.findall(r'<td data-check="(\w+)"[^>]*>(.*?)</td>', page))
    assert set(cells) == set(GRID)
    assert "✖</span> Failing" in cells["freshness"]
    assert ": freshness: 2.5 h old" in cells["freshness"]  # the detail, for screen readers
    assert "▲</span> Warning" in cells["volume"]
    assert "✔</span> OK" in cells["completeness"]
    assert "Not evaluated yet" in cells["schema"]  # no row yet is never a pass
    assert "Insufficient data" in cells["drift"]
    assert "99.71%" in page and "✔</span> OK" in page.split("data-uptime")[1]
    assert re.search(r"<td class=\"num\" data-error-rate>0.25%</td>", page)
    assert 'href="/data-quality/crm-feed/">CRM feed</a>' in page
    assert 'href="/systems/loan-classifier/">Loan classifier</a>' in page
    assert 'href="/systems/fraud-score/">Fraud score</a>' in page
    assert "Vic Viewer" in page
    # Sparklines: drawn by quality.js from the config, with the text beside them.
    assert "1,200 rows on 2026-11-24" in page and "PSI 0.040 on 2026-11-24" in page
    config = page_config(response)
    assert config["kind"] == "dashboard" and len(config["days"]) == 30
    assert config["days"][-1] == "2026-11-25"
    series = config["sources"]["crm-feed"]
    assert series["volume"][-2] == 1200 and series["drift"][-2] == 0.04
    assert "/static/registry/quality.js" in page and "/static/vendor/plotly.min.js" in page
    assert no_inline_script(page) and "cdn" not in page.lower()
    summary = response.context["summary"]
    assert (summary["total"], summary["fail"]) == (1, 1)


def test_the_filters_narrow_the_grid(client, viewer, source):
    quiet = DataSourceFactory(slug="erp-ledger", name="ERP ledger", kind="erp")
    make_check(source, "freshness", "fail")
    make_check(quiet, "freshness", "ok")
    client.force_login(viewer)

    def names(query: str) -> list[str]:
        response = client.get(f"/data-quality/?{query}")
        assert response.status_code == 200, query
        return [row.source.name for row in response.context["rows"]]

    assert names("") == ["CRM feed", "ERP ledger"]
    assert names("kind=erp") == ["ERP ledger"]
    assert names("status=fail") == ["CRM feed"]
    assert names("system=loan-classifier") == ["CRM feed"]
    assert names("q=ledg") == ["ERP ledger"]
    page = client.get("/data-quality/?kind=stream").content.decode()
    assert "No data source matches these filters." in page


def test_a_bad_filter_is_refused_in_place_and_every_source_stays_listed(client, viewer, source):
    client.force_login(viewer)
    response = client.get("/data-quality/?kind=mainframe&system=nope")
    assert response.status_code == 400
    page = response.content.decode()
    assert 'aria-invalid="true"' in page and "Select a valid choice" in page
    assert [row.source.name for row in response.context["rows"]] == ["CRM feed"]


def test_the_grid_paginates_and_keeps_its_filters(client, viewer, monkeypatch):
    monkeypatch.setattr(views, "SOURCES_PER_PAGE", 2)
    for number in range(3):
        DataSourceFactory(slug=f"crm-{number}", name=f"CRM {number}")
    client.force_login(viewer)
    first = client.get("/data-quality/?kind=crm")
    assert [row.source.name for row in first.context["rows"]] == ["CRM 0", "CRM 1"]
    assert 'href="?kind=crm&amp;page=2"' in first.content.decode()
    second = client.get("/data-quality/?kind=crm&page=2")
    assert [row.source.name for row in second.context["rows"]] == ["CRM 2"]


def test_the_filters_swap_the_grid_with_its_sparklines_and_the_same_url_is_the_page(
    client, viewer, source
):
    quiet = DataSourceFactory(slug="erp-ledger", name="ERP ledger", kind="erp")
    make_check(source, "freshness", "fail")
    make_check(quiet, "freshness", "ok")
    client.force_login(viewer)

    swap = client.get("/data-quality/?status=fail", headers={"HX-Request": "true"})
    assert swap.status_code == 200 and "HX-Request" in swap["Vary"]
    fragment = swap.content.decode()
    assert "<html" not in fragment and "summary-title" not in fragment
    assert [row.source.name for row in swap.context["rows"]] == ["CRM feed"]
    assert 'id="quality-config"' in fragment  # the sparklines of the rows swapped in
    assert "summary" not in swap.context  # counted for the whole page only

    page = client.get("/data-quality/?status=fail").content.decode()
    assert page.startswith("<!DOCTYPE html>") and "summary-title" in page
    assert 'hx-get="/data-quality/?status=fail" hx-target="#quality-results"' in page


def test_a_bad_filter_in_a_swap_is_refused_in_the_fragment(client, viewer, source):
    client.force_login(viewer)
    swap = client.get("/data-quality/?kind=mainframe", headers={"HX-Request": "true"})
    # 400 with the form in place: base.html's htmx-config swaps a 400, not other errors.
    assert swap.status_code == 400
    fragment = swap.content.decode()
    assert "<html" not in fragment
    assert 'aria-invalid="true"' in fragment and 'id="id_kind_error"' in fragment


def _many_sources(count: int, start: int, system: AISystem) -> None:
    """`count` sources, each with all seven checks, three deliveries and one system fed."""
    sources = DataSource.objects.bulk_create(
        [
            DataSource(slug=f"bulk-{n:04d}", name=f"Bulk source {n:04d}", kind="database")
            for n in range(start, start + count)
        ]
    )
    statuses = ["ok", "warn", "fail", "insufficient_data"]
    SourceCheck.objects.bulk_create(
        [
            SourceCheck(
                source=source,
                kind=kind,
                status=statuses[(index + offset) % 4],
                value=0.5,
                detail=f"{kind} detail",
                since=NOW,
                evaluated_at=NOW,
            )
            for index, source in enumerate(sources)
            for offset, kind in enumerate((*GRID, "uptime"))
        ]
    )
    SourceDelivery.objects.bulk_create(
        [
            SourceDelivery(
                source=source,
                at=NOW - timedelta(days=days),
                rows=100 + days,
                received_at=NOW,
                drift_max=0.01 * days,
            )
            for source in sources
            for days in (0, 1, 5)
        ]
    )
    through = DataSource.systems.through
    through.objects.bulk_create(
        [through(datasource_id=source.pk, aisystem_id=system.pk) for source in sources]
    )


def test_the_dashboard_costs_the_same_queries_for_20_or_200_sources(client, viewer, system):
    client.force_login(viewer)

    def measure() -> tuple[int, str]:
        with CaptureQueriesContext(connection) as captured:
            response = client.get("/data-quality/")
        assert response.status_code == 200
        return len(captured), response.content.decode()

    _many_sources(20, 0, system)
    few, _page = measure()
    _many_sources(180, 20, system)
    many, page = measure()

    assert few == many <= 15
    assert all(f"Bulk source {n:04d}</a>" in page for n in range(200))
    assert len(re.findall(r'<td data-check="\w+"', page)) == 200 * 6
    assert page.count('href="/systems/loan-classifier/"') == 200


# --- Register and edit --------------------------------------------------------------------


def valid_form(**changes) -> dict:
    data = {
        "name": "Branch scanner feed",
        "slug": "branch-scanner",
        "kind": "file",
        "description": "Scanned loan documents",
        "owner": "",
        "expected_interval_seconds": "3600",
        "expected_schema": '{"amount": "float", "branch": "string"}',
        "completeness_warn": "0.05",
        "completeness_fail": "0.2",
        "psi_warn": "0.1",
        "psi_fail": "0.25",
        "wasserstein_warn": "0.1",
        "drift_min_rows": "100",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_dana_registers_a_source_that_feeds_a_system(client, director, owner, system):
    client.force_login(director)
    page = client.get("/data-quality/new/").content.decode()
    assert "Default: 0.05." in page and "Default: 100." in page  # the defaults, in help text
    assert 'aria-describedby="id_psi_warn_helptext"' in page

    response = client.post(
        "/data-quality/new/",
        valid_form(owner=str(owner.pk), systems=[str(system.pk)], psi_warn="0.15"),
    )

    assert response.status_code == 302
    assert response["Location"] == "/data-quality/branch-scanner/"
    source = DataSource.objects.get(slug="branch-scanner")
    assert (source.name, source.kind, source.owner) == ("Branch scanner feed", "file", owner)
    assert source.expected_schema == {"amount": "float", "branch": "string"}
    assert list(source.systems.all()) == [system]
    assert source.custom_levels == {"psi_warn": (0.1, 0.15)}
    detail = client.get(response["Location"]).content.decode()
    assert "registered" in detail
    assert "changed from default 0.1" in detail


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": ""}, "name", "This field is required."),
        ({"slug": "not a slug"}, "slug", "Enter a valid “slug”"),
        ({"slug": "new"}, "slug", "reserved"),
        ({"slug": "crm-feed"}, "slug", "A data source with slug &#x27;crm-feed&#x27; exists."),
        ({"kind": "mainframe"}, "kind", "Select a valid choice."),
        ({"expected_schema": "{amount: float"}, "expected_schema", "Enter a valid JSON."),
        ({"expected_schema": '["amount"]'}, "expected_schema", "Write a JSON object"),
        ({"expected_schema": '{"amount": 3}'}, "expected_schema", "Write a JSON object"),
        ({"expected_interval_seconds": "30"}, "expected_interval_seconds", "greater than or"),
        ({"completeness_warn": "0.5", "completeness_fail": "0.2"}, "completeness_fail", "warn"),
        ({"completeness_fail": "1.5"}, "completeness_fail", "less than or equal to 1"),
        ({"psi_warn": "0.5", "psi_fail": "0.25"}, "psi_fail", "must not be below"),
        ({"psi_warn": "-1"}, "psi_warn", "greater than or equal to 0"),
        ({"psi_warn": "nan"}, "psi_warn", "Enter a number."),
        ({"drift_min_rows": "0"}, "drift_min_rows", "greater than or equal to 1"),
        ({"drift_min_rows": "9" * 12}, "drift_min_rows", "less than or equal to"),
        ({"expected_interval_seconds": "9" * 12}, "expected_interval_seconds", "less than or"),
        ({"name": "x" * 201}, "name", "at most 200 characters"),
        ({"owner": "999999"}, "owner", "Select a valid choice."),
    ],
)
def test_bad_input_is_refused_in_place_and_registers_nothing(
    client, director, source, changes, field, message
):
    client.force_login(director)
    before = (DataSource.objects.count(), audit_count())

    response = client.post("/data-quality/new/", valid_form(**changes))

    assert response.status_code == 400
    page = response.content.decode()
    errors = re.search(rf'<ul class="form-error" id="id_{field}_error"[^>]*>(.*?)</ul>', page, re.S)
    assert errors, f"no error beside {field}"
    assert message in errors.group(1)
    widget = re.search(rf'<(?:input|select|textarea)[^>]*name="{field}"[^>]*>', page).group(0)
    assert 'aria-invalid="true"' in widget and f"id_{field}_error" in widget
    assert "Nothing was saved" in page
    assert (DataSource.objects.count(), audit_count()) == before


def test_an_owner_without_a_role_cannot_be_chosen(client, director, outsider, source):
    client.force_login(director)
    page = client.get("/data-quality/new/").content.decode()
    assert "Charlie Nobody" not in page and "Dana Director" in page
    response = client.post("/data-quality/new/", valid_form(owner=str(outsider.pk)))
    assert response.status_code == 400
    assert not DataSource.objects.filter(slug="branch-scanner").exists()


def test_editing_saves_only_what_changed_and_marks_a_custom_level(client, owner, source, system):
    client.force_login(owner)
    page = client.get("/data-quality/crm-feed/edit/").content.decode()
    assert 'value="CRM feed"' in page and 'name="slug"' not in page
    form = valid_form(
        name="CRM feed",
        slug=None,
        kind="crm",
        description="",
        expected_schema=json.dumps(source.expected_schema),
        systems=[str(system.pk)],
        completeness_warn="0.1",
    )
    audits = audit_count()

    response = client.post("/data-quality/crm-feed/edit/", form)

    assert response.status_code == 302
    source.refresh_from_db()
    assert source.completeness_warn == 0.1
    assert source.custom_levels == {"completeness_warn": (0.05, 0.1)}
    assert audit_count() == audits + 1
    event = apps.get_model("governance", "AuditEvent").objects.order_by("-pk").first()
    assert set(event.after) == {"completeness_warn"}
    detail = text_of(client.get("/data-quality/crm-feed/").content.decode())
    assert "changed from default 0.05" in detail


def test_a_bad_edit_is_refused_in_place_and_changes_nothing(client, owner, source):
    client.force_login(owner)
    audits = audit_count()
    form = valid_form(slug=None, kind="crm", psi_warn="0.3", psi_fail="0.2", name="Renamed")

    response = client.post("/data-quality/crm-feed/edit/", form)

    assert response.status_code == 400
    assert "The PSI fail level must not be below its warn level." in response.content.decode()
    source.refresh_from_db()
    assert (source.name, source.psi_warn, source.psi_fail) == ("CRM feed", 0.1, 0.25)
    assert audit_count() == audits


def test_an_edit_without_changes_writes_nothing(client, owner, source, system):
    client.force_login(owner)
    audits = audit_count()
    form = valid_form(
        name="CRM feed",
        slug=None,
        kind="crm",
        description="",
        expected_schema=json.dumps(source.expected_schema),
        systems=[str(system.pk)],
    )
    response = client.post("/data-quality/crm-feed/edit/", form, follow=True)
    assert "Nothing changed." in response.content.decode()
    assert audit_count() == audits


# --- Drill-down ---------------------------------------------------------------------------


def profiled_delivery(source: DataSource, at: datetime, *, psi: float | None = 0.02):
    delivery = make_delivery(source, at, rows=500, drift_max=psi, missing_max=0.03)
    FieldProfile.objects.create(
        delivery=delivery,
        field="amount",
        observed_type="float",
        missing_share=0.03,
        rows=500,
        edges=[0, 10, 20, 30],
        counts=[100, 300, 100],
        psi=psi,
        wasserstein=0.01,
        reference_version=1,
    )
    FieldProfile.objects.create(
        delivery=delivery,
        field="channel",
        observed_type="string",
        missing_share=0.0,
        rows=500,
        categories={"web": 300, "branch": 200},
    )
    return delivery


def test_the_drill_down_shows_facts_levels_every_check_and_per_field_results(
    client, viewer, source
):
    source.psi_fail = 0.3
    source.save()
    make_check(
        source,
        "completeness",
        "warn",
        value=0.07,
        fields=[{"field": "amount", "status": "warn", "value": 0.07, "detail": "7% missing"}],
    )
    make_check(
        source,
        "schema",
        "fail",
        value=1,
        fields=[{"field": "channel", "change": "retyped", "expected": "string", "observed": "int"}],
    )
    make_check(
        source,
        "drift",
        "insufficient_data",
        fields=[
            {
                "field": "amount",
                "status": "ok",
                "method": "PSI and normalised Wasserstein over binned numbers",
                "bins": 3,
                "rows_reference": 2000,
                "rows_current": 500,
                "psi": 0.0213,
                "wasserstein": 0.0112,
                "reference_version": 4,
                "detail": "PSI 0.0213 ok",
            },
            {
                "field": "channel",
                "status": "insufficient_data",
                "rows_reference": 0,
                "rows_current": 500,
                "psi": None,
                "wasserstein": None,
                "reference_version": None,
                "detail": "drift: no reference profile yet",
            },
        ],
    )
    make_check(source, "uptime", "ok", value=0.999)
    ReferenceProfile.objects.create(
        source=source,
        field="amount",
        version=1,
        edges=[0, 10, 20, 30],
        counts=[50, 100, 50],
        rows=200,
        origin="window",
    )
    profiled_delivery(source, NOW - timedelta(hours=3))
    client.force_login(viewer)

    response = client.get("/data-quality/crm-feed/")

    html = response.content.decode()
    page = text_of(html)
    assert "CRM" in page and "A delivery every 3,600 s" in page
    assert 'href="/systems/loan-classifier/">Loan classifier</a>' in html
    assert "amount: float" in page
    assert "changed from default 0.25" in page  # psi_fail, shown, never silent
    assert page.count("changed from default") == 1
    # Every check, in the dashboard's order, with its status as icon and text.
    for label in ("Freshness", "Volume", "Completeness", "Schema", "Drift", "Integration tests"):
        assert label in page
    assert "Not evaluated yet" in page
    assert "30-day uptime" in page and "99.90%" in page
    assert "amount 7.00% ▲ Warning 7% missing" in page
    assert "channel type changed string int" in page
    drift = re.search(r'<tr data-drift-field="amount">(.*?)</tr>', html, re.S).group(1)
    assert "binned numbers" in drift and ">3<" in drift and ">2,000<" in drift
    assert "0.0213" in drift and "0.0112" in drift and "v4" in drift
    channel = text_of(re.search(r'<tr data-drift-field="channel">(.*?)</tr>', html, re.S).group(1))
    assert "Insufficient data" in channel and "no reference profile yet" in channel
    # History and distributions: drawn by quality.js, with tables or text beside them.
    config = page_config(response)
    assert config["kind"] == "source"
    assert config["history"]["volume"]["rows"] == [500]
    assert set(config["history"]["fields"]) == {"amount", "channel"}
    assert config["history"]["levels"]["psi_fail"] == 0.3
    amount, channel = config["distributions"]
    assert (amount["field"], amount["reference"], amount["current"]) == (
        "amount",
        [50, 100, 50],
        [100, 300, 100],
    )
    assert channel["reference"] is None and channel["categories"] == ["branch", "web"]
    assert "0 to 10 50 100" in page  # the first bin of the table: reference, then current
    assert "web — 300" in page
    assert no_inline_script(html) and "/static/registry/quality.js" in html


def test_a_new_source_page_says_what_to_do_next(client, director, source):
    client.force_login(director)
    page = text_of(client.get("/data-quality/crm-feed/").content.decode())
    assert "No delivery received yet" in page
    assert "POST /api/v1/sources/crm-feed/deliveries/" in page
    assert "No field distribution yet" in page
    assert "Not evaluated yet" in page


def test_the_deliveries_paginate_25_to_a_page(client, viewer, source):
    SourceDelivery.objects.bulk_create(
        [
            SourceDelivery(source=source, at=NOW - timedelta(hours=h), rows=h, received_at=NOW)
            for h in range(30)
        ]
    )
    client.force_login(viewer)
    first = client.get("/data-quality/crm-feed/")
    assert len(first.context["deliveries"].object_list) == 25
    assert 'href="?page=2#deliveries-title"' in first.content.decode()
    second = client.get("/data-quality/crm-feed/?page=2")
    assert len(second.context["deliveries"].object_list) == 5


# --- Reference ----------------------------------------------------------------------------


WINDOW = {"start": "2026-11-24T00:00", "end": "2026-11-25T00:00"}


def test_setting_a_reference_asks_first_then_sets_it(client, owner, source):
    profiled_delivery(source, datetime(2026, 11, 24, 6, tzinfo=UTC))
    client.force_login(owner)
    assert "calm window" in client.get("/data-quality/crm-feed/reference/").content.decode()
    audits = audit_count()

    asked = client.post("/data-quality/crm-feed/reference/", {**WINDOW, "names": "amount"})

    assert asked.status_code == 200
    page = text_of(asked.content.decode())
    assert "Set the new reference?" in page
    assert "2026-11-24 00:00" in page and "amount: its first reference (v1)" in page
    assert 'name="confirmed" value="1"' in asked.content.decode()
    assert not ReferenceProfile.objects.exists() and audit_count() == audits

    done = client.post(
        "/data-quality/crm-feed/reference/", {**WINDOW, "names": "amount", "confirmed": "1"}
    )

    assert done.status_code == 302 and done["Location"] == "/data-quality/crm-feed/"
    ref = ReferenceProfile.objects.get()
    assert (ref.field, ref.version, ref.counts, ref.origin) == (
        "amount",
        1,
        [100, 300, 100],
        "window",
    )
    assert ref.window_start == datetime(2026, 11, 24, tzinfo=UTC)
    assert (
        "A new reference was set for 1 field: amount."
        in client.get(done["Location"]).content.decode()
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"start": "2026-11-25T00:00", "end": "2026-11-24T00:00"}, "must end after it starts"),
        ({"start": "2026-11-24T00:00", "end": "2026-11-24T00:00"}, "must end after it starts"),
        ({"start": "yesterday", "end": "2026-11-24T00:00"}, "Enter a valid date/time."),
        ({"end": "2026-11-24T00:00"}, "This field is required."),
    ],
)
def test_a_bad_window_is_refused_at_the_first_step(client, owner, source, data, message):
    profiled_delivery(source, datetime(2026, 11, 24, 6, tzinfo=UTC))
    client.force_login(owner)
    for confirmed in ("", "1"):
        response = client.post(
            "/data-quality/crm-feed/reference/", {**data, "confirmed": confirmed}
        )
        assert response.status_code == 400
        assert message in response.content.decode()
        assert "No reference was set." in response.content.decode()
    assert not ReferenceProfile.objects.exists()


@pytest.mark.parametrize(
    ("names", "message"),
    [
        ("", "No delivery in that window carries a field distribution"),
        ("amount, colour", "No delivery in that window profiled colour."),
    ],
)
def test_a_window_without_profiles_is_refused_in_place(client, owner, source, names, message):
    profiled_delivery(source, datetime(2026, 11, 20, tzinfo=UTC))  # outside the window
    if names:
        profiled_delivery(source, datetime(2026, 11, 24, 6, tzinfo=UTC))
    client.force_login(owner)
    audits = audit_count()
    response = client.post(
        "/data-quality/crm-feed/reference/", {**WINDOW, "names": names, "confirmed": "1"}
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not ReferenceProfile.objects.exists() and audit_count() == audits


# --- Tokens -------------------------------------------------------------------------------


def secret_in(page: str) -> str | None:
    match = re.search(r'id="new-token" class="secret" type="text" readonly value="([^"]+)"', page)
    return match.group(1) if match else None


def test_omar_creates_a_source_token_that_is_shown_once_and_reaches_the_source(
    client, owner, source
):
    client.force_login(owner)
    assert "No token yet" in client.get("/data-quality/crm-feed/tokens/").content.decode()

    response = client.post("/data-quality/crm-feed/tokens/", {"name": "nightly export"})

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    secret = secret_in(response.content.decode())
    assert secret and secret.startswith("agp_")
    token = ApiToken.objects.get()
    assert (token.data_source, token.system, token.kind) == (source, None, "source")
    page = client.get("/data-quality/crm-feed/tokens/").content.decode()
    assert secret_in(page) is None and token.prefix in page
    client.logout()
    api = client.get("/api/v1/sources/crm-feed/", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.status_code == 200


def test_a_source_token_without_a_name_is_refused_in_place(client, owner, source):
    client.force_login(owner)
    response = client.post("/data-quality/crm-feed/tokens/", {"name": " "})
    assert response.status_code == 400
    assert 'aria-invalid="true"' in response.content.decode()
    assert not ApiToken.objects.exists()


def test_revoking_a_source_token_asks_first_then_returns_to_the_source(client, owner, source):
    token, _secret = api_token_create(by=owner, name="nightly", data_source=source)
    client.force_login(owner)

    asked = client.get(f"/tokens/{token.pk}/revoke/")

    assert asked.status_code == 200
    assert "pipeline token of the data source CRM feed" in asked.content.decode()
    assert 'href="/data-quality/crm-feed/tokens/"' in asked.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is None

    done = client.post(f"/tokens/{token.pk}/revoke/")

    assert done.status_code == 302 and done["Location"] == "/data-quality/crm-feed/tokens/"
    token.refresh_from_db()
    assert token.revoked_at == NOW


def test_a_viewer_cannot_revoke_a_source_token(client, viewer, owner, source):
    token, _secret = api_token_create(by=owner, name="nightly", data_source=source)
    client.force_login(viewer)
    assert client.get(f"/tokens/{token.pk}/revoke/").status_code == 403
    assert client.post(f"/tokens/{token.pk}/revoke/").status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None


# --- The systems a source feeds -----------------------------------------------------------


def test_a_failing_check_marks_the_systems_the_source_feeds(client, viewer, source, system):
    make_check(source, "freshness", "fail")
    make_check(source, "drift", "warn")
    bystander = AISystemFactory(slug="fraud-score", name="Fraud score")
    client.force_login(viewer)

    page = client.get("/systems/loan-classifier/").content.decode()

    assert "Upstream data issue: CRM feed, Freshness" in text_of(page)
    assert 'href="/data-quality/crm-feed/#check-freshness"' in page
    assert "Drift" not in text_of(page.split("upstream-title")[1].split("</section>")[0])
    assert "Upstream data issue" not in client.get(f"/systems/{bystander.slug}/").content.decode()


def test_a_passing_source_leaves_the_system_page_alone(client, viewer, source, system):
    for kind in GRID:
        make_check(source, kind, "ok")
    client.force_login(viewer)
    assert "Upstream data issue" not in client.get("/systems/loan-classifier/").content.decode()

"""The portfolio on the home page: every system with its stage, readiness, rollout and work.

Dana directs operations, Omar owns the loan classifier, Ada approves changes and
Bo leads the business unit. The loan classifier is in Stage 4 (readiness
conditional: the drill is waived), its 2.0.0 rollout paused at 10% by a failed
checkpoint, and 3.0.0 waits for approval. The fraud screen is a high-risk Stage 1
system of the insurance unit whose claims feed stopped delivering. The clock is frozen.
"""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.roles import Role
from registry.models import AISystem
from registry.services import data_source_evaluate, delivery_record
from rollout.services import gates_evaluate, rollout_evaluate, rollout_plan, rollout_start
from tests.registry.factories import AISystemFactory, DataSourceFactory
from tests.rollout.test_rollouts import approved_version, feed, person, stage_4_system

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def lead(django_user_model):
    return person(django_user_model, "bo", "Bo Lead", Role.BUSINESS_UNIT_LEAD)


def stale_source(system, owner, name="Claims feed"):
    """A source feeding `system` that last delivered three days ago: freshness fails."""
    source = DataSourceFactory(systems=[system], owner=owner, name=name)
    delivery_record(source=source, body={"at": (NOW - timedelta(days=3)).isoformat()}, by=None)
    data_source_evaluate(source_id=source.pk)
    return source


@pytest.fixture
def loan(director, owner, approver, lead):
    system = stage_4_system("loan-classifier", "medium", director, owner, lead)
    candidate = approved_version(system, owner, [approver])
    rollout = rollout_plan(
        system=system,
        candidate=candidate,
        by=director,
        cohorts=[10, 25, 50, 100],
        observation_seconds=3600,
        min_points=5,
    )
    rollout = rollout_start(rollout=rollout, by=director)
    feed(rollout, 0.5)
    assert rollout_evaluate(rollout_id=rollout.pk) == "fail"
    approved_version(system, owner, [], version="3.0.0")  # submitted, nobody approved yet
    return system


@pytest.fixture
def fraud(owner):
    system = AISystemFactory(
        slug="fraud-screen", name="Fraud screen", business_unit="Insurance", risk_tier="high"
    )
    stale_source(system, owner)
    return system


def row_of(page: str, slug: str) -> str:
    match = re.search(rf'<tr data-system="{slug}">(.*?)</tr>', page, re.DOTALL)
    assert match, f"no row for {slug}"
    return " ".join(match.group(1).split())


def slugs(response) -> list[str]:
    return [row.system.slug for row in response.context["rows"]]


def test_the_home_page_shows_each_system_with_its_facts(client, director, loan, fraud):
    client.force_login(director)
    page = client.get("/").content.decode()

    loan_row = row_of(page, "loan-classifier")
    assert "Step 4 of 4" in loan_row and "Staged rollout" in loan_row
    assert "Conditional" in loan_row
    assert "Paused" in loan_row and "10% of traffic" in loan_row
    assert "1 critical" in loan_row  # the failed checkpoint
    assert "1 warning" in loan_row  # the test alert, acknowledged but not resolved
    assert "1 change request submitted" in loan_row

    fraud_row = row_of(page, "fraud-screen")
    assert "Step 1 of 4" in fraud_row and "Operational architecture" in fraud_row
    assert "Defer" in fraud_row
    assert "No rollout" in fraud_row
    assert "1 critical" in fraud_row  # the data-quality failure
    assert "Claims feed" in fraud_row and "Freshness" in fraud_row
    # What the page showed before the portfolio is still there, below it.
    assert page.index("portfolio-title") < page.index("roles-title")


def test_a_system_in_production_is_past_step_4(client, viewer):
    AISystemFactory(slug="chatbot", name="Chatbot", stage="production")
    client.force_login(viewer)
    chatbot = row_of(client.get("/").content.decode(), "chatbot")
    assert "Production" in chatbot and "(after step 4)" in chatbot
    assert "Step" not in chatbot.split("Production")[0]


def test_the_filters_narrow_the_portfolio(client, viewer, loan, fraud):
    client.force_login(viewer)
    assert slugs(client.get("/", {"business_unit": "Insurance"})) == ["fraud-screen"]
    assert slugs(client.get("/", {"stage": "staged_rollout"})) == ["loan-classifier"]
    assert slugs(client.get("/", {"risk_tier": "high"})) == ["fraud-screen"]
    assert slugs(client.get("/", {"risk_tier": "low"})) == []
    assert "No system matches these filters." in client.get("/", {"risk_tier": "low"}).text


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", ["fraud-screen", "loan-classifier"]),
        ("stage", ["fraud-screen", "loan-classifier"]),
        ("risk", ["loan-classifier", "fraud-screen"]),
        ("readiness", ["loan-classifier", "fraud-screen"]),
    ],
)
def test_the_portfolio_sorts(client, viewer, loan, fraud, sort, expected):
    client.force_login(viewer)
    assert slugs(client.get("/", {"sort": sort})) == expected


def test_a_bad_sort_or_filter_is_a_message_and_the_default_order(client, viewer, loan, fraud):
    client.force_login(viewer)
    response = client.get("/", {"sort": "password; drop table", "stage": "stage-9"})
    assert response.status_code == 200
    assert "is not a way to sort; sorted by name instead." in response.text
    assert "Unknown filter value" in response.text
    assert slugs(response) == ["fraud-screen", "loan-classifier"]


def test_the_chart_counts_systems_by_stage_per_day(client, viewer, loan, fraud, clock):
    gates_evaluate()
    clock.shift(timedelta(days=1))
    AISystem.objects.filter(pk=fraud.pk).update(stage="evaluation_infrastructure")
    gates_evaluate()
    client.force_login(viewer)
    response = client.get("/")
    config = response.context["chart"]["config"]
    assert config["days"] == ["2026-11-25", "2026-11-26"]
    counts = {series["stage"]: series["counts"] for series in config["series"]}
    assert counts["operational_architecture"] == [1, 0]
    assert counts["evaluation_infrastructure"] == [0, 1]
    assert counts["staged_rollout"] == [1, 1]
    page = response.text
    assert 'id="portfolio-chart-config"' in page
    assert "portal/portfolio.js" in page and "vendor/plotly.min.js" in page
    assert "data-chart-table" in page  # the table that stands in for the chart
    # No inline script: every <script> loads a file or carries JSON data.
    for tag in re.findall(r"<script[^>]*>", page):
        assert "src=" in tag or 'type="application/json"' in tag


def test_without_snapshots_the_chart_says_why(client, viewer, fraud):
    client.force_login(viewer)
    page = client.get("/").text
    assert "No daily record yet" in page
    assert "portal/portfolio.js" not in page


def build_systems(count: int, owner) -> None:
    for n in range(count):
        system = AISystemFactory(name=f"System {n:02d}", risk_tier=["low", "high"][n % 2])
        stale_source(system, owner, name=f"Feed {n}")
    gates_evaluate()


def home_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/", {"sort": "readiness"}).status_code == 200
    return len(queries)


def test_the_query_count_does_not_grow_with_the_systems(client, director, owner):
    client.force_login(director)
    build_systems(3, owner)
    few = home_queries(client)
    build_systems(9, owner)
    assert AISystem.objects.count() == 12
    assert home_queries(client) == few


def test_home_sends_an_anonymous_visitor_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


# --- htmx: the filters and the pager swap the table alone -------------------------------------

HTMX = {"HX-Request": "true"}


def test_a_person_without_a_role_sees_no_system_only_what_to_ask_for(client, outsider, loan, fraud):
    client.force_login(outsider)
    response = client.get("/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "You need a role to read the registry" in page
    assert loan.name not in page and fraud.name not in page
    assert "Back to the start page" not in page  # this is the start page


def test_an_htmx_filter_gets_only_the_portfolio_table(client, viewer, loan, fraud):
    client.force_login(viewer)
    response = client.get("/", {"risk_tier": "high"}, headers=HTMX)
    assert response.status_code == 200
    assert "HX-Request" in response["Vary"]
    fragment = response.text
    assert "<html" not in fragment and "roles-title" not in fragment
    assert '<tr data-system="fraud-screen">' in fragment
    assert 'data-system="loan-classifier"' not in fragment
    assert "portfolio-chart-config" not in fragment  # the chart is not rebuilt for a swap
    assert "chart" not in response.context


def test_the_same_url_without_htmx_is_the_whole_page(client, viewer, loan, fraud):
    client.force_login(viewer)
    page = client.get("/", {"risk_tier": "high"}).text
    assert page.startswith("<!DOCTYPE html>")
    assert 'hx-get="/" hx-trigger="change, submit" hx-target="#portfolio-results"' in page
    assert '<div id="portfolio-results" class="list-results"' in page
    assert '<tr data-system="fraud-screen">' in page and "roles-title" in page


def test_a_bad_filter_in_a_swap_is_said_in_the_fragment(client, viewer, fraud):
    client.force_login(viewer)
    fragment = client.get("/", {"stage": "stage-9"}, headers=HTMX).text
    assert 'role="alert"' in fragment and "Unknown filter value" in fragment


def test_the_portfolio_is_paged_fifty_to_a_page_keeping_the_filters(client, viewer):
    for n in range(51):
        AISystemFactory(slug=f"system-{n:02d}", name=f"System {n:02d}", risk_tier="high")
    client.force_login(viewer)

    first = client.get("/", {"risk_tier": "high"})
    assert len(first.context["rows"]) == 50
    assert "51 AI systems, showing 1 to 50" in first.text
    assert (
        'href="?risk_tier=high&amp;sort=name&amp;page=2" rel="next" id="page-next"'
        ' hx-get="?risk_tier=high&amp;sort=name&amp;page=2" hx-target="#portfolio-results"'
    ) in first.text

    second = client.get("/", {"risk_tier": "high", "sort": "name", "page": 2}, headers=HTMX)
    assert slugs(second) == ["system-50"]
    assert "Page 2 of 2" in second.text


def test_an_empty_filter_result_offers_the_whole_portfolio(client, viewer, fraud):
    client.force_login(viewer)
    text = client.get("/", {"risk_tier": "low"}).text
    assert "No system matches these filters." in text
    assert '<a href="/">Show every system</a>' in text


def test_without_systems_the_portfolio_says_who_registers_them(client, viewer):
    client.force_login(viewer)
    text = client.get("/").text
    assert "No AI system is registered yet. Operations directors register systems" in text
    assert 'href="/systems/">Open the Systems page</a>' in text

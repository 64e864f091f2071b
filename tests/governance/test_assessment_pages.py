"""The root-cause assessment pages: who sees which controls, and the server refuses the rest.

Omar owns the loan classifier and Dana directs; Ada approves and is its AI-ops member,
so she may assess it; Vic only views; Charlie has no role.
"""

import json
import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.functional import Promise

from governance import assessment, services
from governance.models import ActionItem, AssessmentAnswer, AuditEvent
from tests.registry.factories import AISystemFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
URL = "/systems/loan-classifier/assessment/"
PLAN = f"{URL}plan/"
PORTFOLIO = "/assessment/"


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def system(director, owner, approver):
    system = AISystemFactory(
        slug="loan-classifier", name="Loan classifier", stage="evaluation_infrastructure"
    )
    services.ownership_assign(system=system, by=director, owner=owner, budget_authority="HKD 2m")
    services.ai_ops_member_add(system=system, by=director, user=approver)
    return system


@pytest.fixture
def planned(system, director):
    services.action_plan_generate(system=system, by=director)
    return system


@pytest.fixture
def item(planned):
    return ActionItem.objects.order_by("priority").first()


def main(response) -> str:
    """The page's own content, without the layout's forms (language, log out)."""
    page = response.content.decode()
    return page[page.index('<main id="main"') : page.index("</main>")]


def item_url(item, action=""):
    return f"{URL}items/{item.pk}/{action}"


# --- Reading -------------------------------------------------------------------------------------


def test_vic_reads_every_score_and_answer_but_sees_no_control(client, viewer, planned, owner):
    services.assessment_answers_save(system=planned, by=owner, answers={"o_owner": 3})
    client.force_login(viewer)
    response = client.get(URL)
    assert response.status_code == 200
    page = main(response)
    for label in (
        "Integration complexity with legacy systems",
        "Inconsistent output quality at volume",
        "Absence of monitoring tooling",
        "Unclear organisational ownership",
        "Insufficient domain training data",
    ):
        assert label in page
    assert "no data source is documented: the integration is unknown" in page
    assert "3 · Mostly" in page and "not answered" in page
    assert "Name the owner with budget authority and have them sign the statement" in page
    assert "<form" not in page and 'type="radio"' not in page
    assert PLAN not in page and "/items/" not in page


def test_each_score_is_named_by_its_band_in_words(client, viewer, system):
    client.force_login(viewer)
    page = main(client.get(URL))
    # No source (60), no quality metric (60), monitoring 80: high; training data (no
    # version recorded, 50) and ownership (named, not signed, 30): medium.
    bands = dict(
        re.findall(r'<tr data-cause="(\w+)">.*?class="risk-band[^"]*">(.*?)</span>', page, re.S)
    )
    assert bands == {
        "integration": "<strong>60</strong> high",
        "output_quality": "<strong>60</strong> high",
        "monitoring": "<strong>80</strong> high",
        "ownership": "<strong>30</strong> medium",
        "training_data": "<strong>50</strong> medium",
    }


def test_the_tab_and_the_main_nav_lead_to_the_assessment(client, viewer, system):
    client.force_login(viewer)
    page = client.get("/systems/loan-classifier/").content.decode()
    assert f'href="{URL}"' in page and "Root causes" in page
    page = client.get(PORTFOLIO).content.decode()
    assert f'href="{PORTFOLIO}" aria-current="page"' in page


def test_an_overdue_action_says_so_in_words(client, viewer, item, clock):
    clock.move_to(datetime(2027, 2, 1, tzinfo=UTC))
    client.force_login(viewer)
    row = re.search(rf'data-item="{item.pk}">(.*?)</tr>', main(client.get(URL)), re.S).group(1)
    assert "overdue" in row


@pytest.mark.parametrize("page", ["assessment", "plan", "portfolio", "edit", "done", "drop"])
def test_charlie_without_a_role_gets_the_no_role_page(client, outsider, item, page):
    paths = {
        "assessment": URL,
        "plan": PLAN,
        "portfolio": PORTFOLIO,
        "edit": item_url(item),
        "done": item_url(item, "done/"),
        "drop": item_url(item, "drop/"),
    }
    client.force_login(outsider)
    response = client.get(paths[page])
    assert response.status_code == 403
    assert "You need a role" in response.content.decode()


@pytest.mark.parametrize("path", [URL, PLAN, PORTFOLIO])
def test_anonymous_visitors_are_sent_to_log_in(client, system, path):
    response = client.get(path)
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.parametrize("action", ["", "done/", "drop/"])
def test_vic_may_not_open_the_forms_of_an_action(client, viewer, item, action):
    client.force_login(viewer)
    assert client.get(item_url(item, action)).status_code == 403
    assert client.get(PLAN).status_code == 403


# --- The questionnaire ---------------------------------------------------------------------------


def test_the_questionnaire_is_a_fieldset_per_cause_with_the_scale_as_radios(client, owner, system):
    client.force_login(owner)
    page = main(client.get(URL))
    assert page.count('<fieldset class="cause"') == 5
    assert page.count('<fieldset class="question') == len(assessment.QUESTIONS)
    assert page.count('type="radio"') == 5 * len(assessment.QUESTIONS)
    assert "<legend>Unclear organisational ownership</legend>" in page
    assert "4 · Fully, and checked" in page


def test_omar_saves_answers_and_the_score_moves(client, owner, system):
    client.force_login(owner)
    response = client.post(URL, {"o_owner": "4", "o_ops": "4", "t_volume": "0"}, follow=True)
    assert response.status_code == 200
    assert dict(AssessmentAnswer.objects.values_list("question", "value")) == {
        "o_owner": 4,
        "o_ops": 4,
        "t_volume": 0,
    }
    page = main(response)
    assert "Saved 3 answer(s)" in page
    assert "questionnaire: risk 0 from 2 answers" in page
    assert re.search(r'name="o_owner" value="4"[^>]* checked', page)


def test_ada_as_ai_ops_member_may_answer(client, approver, system):
    client.force_login(approver)
    assert client.post(URL, {"m_alerts": "2"}).status_code == 302
    assert AssessmentAnswer.objects.get().answered_by == approver


def test_a_bad_answer_is_shown_in_place_and_nothing_is_written(client, owner, system):
    client.force_login(owner)
    events = AuditEvent.objects.count()
    response = client.post(URL, {"o_owner": "4", "o_ops": "7"})
    assert response.status_code == 400
    page = main(response)
    assert 'id="id_o_ops_errors"' in page and 'role="alert"' in page
    assert "Nothing was saved" in page
    assert not AssessmentAnswer.objects.exists()
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize("persona", ["viewer", "outsider"])
def test_a_forged_answer_is_refused(client, request, persona, system):
    client.force_login(request.getfixturevalue(persona))
    assert client.post(URL, {"o_owner": "4"}).status_code == 403
    assert not AssessmentAnswer.objects.exists()


def test_every_question_and_scale_label_is_translatable():
    untranslated = [q.key for q in assessment.QUESTIONS if not isinstance(q.text, Promise)]
    assert untranslated == []
    assert all(isinstance(label, Promise) for _value, label in assessment.SCALE)


# --- Generating the plan -------------------------------------------------------------------------


def test_generating_asks_first_and_the_question_writes_nothing(client, director, system):
    client.force_login(director)
    assert PLAN in main(client.get(URL))
    events = AuditEvent.objects.count()
    response = client.get(PLAN)
    assert response.status_code == 200
    page = main(response)
    assert "Generate the action plan of Loan classifier from its scores?" in page
    assert "Name the owner with budget authority and have them sign the statement" in page
    assert not ActionItem.objects.exists()
    assert AuditEvent.objects.count() == events
    response = client.post(PLAN, follow=True)
    assert "Added 8 action(s) to the plan." in main(response)
    assert ActionItem.objects.count() == 8


def test_generating_again_adds_nothing_and_says_so(client, director, planned):
    client.force_login(director)
    assert "Nothing to add" in main(client.get(PLAN))
    response = client.post(PLAN, follow=True)
    assert "no action that was not proposed before" in main(response)
    assert ActionItem.objects.count() == 8


@pytest.mark.parametrize("persona", ["viewer", "outsider"])
def test_a_forged_generate_is_refused(client, request, persona, system):
    client.force_login(request.getfixturevalue(persona))
    assert client.post(PLAN).status_code == 403
    assert not ActionItem.objects.exists()


# --- Editing, completing and dropping an action ---------------------------------------------------


def test_dana_edits_an_action_with_an_owner_from_the_people_with_a_role(
    client, director, viewer, outsider, item
):
    client.force_login(director)
    page = main(client.get(item_url(item)))
    assert f'<option value="{viewer.pk}"' in page
    assert f'<option value="{outsider.pk}"' not in page
    response = client.post(
        item_url(item),
        {"title": "Sign it", "owner": viewer.pk, "due_date": "2027-01-15", "priority": "2"},
    )
    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.title, item.owner, str(item.due_date), item.priority) == (
        "Sign it",
        viewer,
        "2027-01-15",
        2,
    )
    event = AuditEvent.objects.get(action="action_item.update")
    assert set(event.after) == {"title", "owner", "due_date", "priority"}


def test_an_owner_without_a_role_stays_selected_instead_of_being_cleared(
    client, director, outsider, item
):
    # The owner lost their role after being given the action.
    ActionItem.objects.filter(pk=item.pk).update(owner=outsider)
    client.force_login(director)
    page = main(client.get(item_url(item)))
    assert f'<option value="{outsider.pk}" selected>' in page
    client.post(
        item_url(item),
        {"title": "Renamed", "owner": outsider.pk, "due_date": item.due_date, "priority": 1},
    )
    item.refresh_from_db()
    assert (item.title, item.owner) == ("Renamed", outsider)


def test_a_bad_edit_is_shown_in_place_and_nothing_is_written(client, director, item):
    client.force_login(director)
    response = client.post(
        item_url(item), {"title": "", "owner": "", "due_date": "soon", "priority": "0"}
    )
    assert response.status_code == 400
    assert main(response).count('class="form-error" role="alert"') == 3
    before = (item.title, item.due_date, item.priority)
    item.refresh_from_db()
    assert (item.title, item.due_date, item.priority) == before
    assert not AuditEvent.objects.filter(action="action_item.update").exists()


def test_a_forged_edit_is_refused(client, viewer, item):
    client.force_login(viewer)
    response = client.post(
        item_url(item), {"title": "x", "owner": "", "due_date": "2027-01-01", "priority": "1"}
    )
    assert response.status_code == 403
    item.refresh_from_db()
    assert item.title != "x"


def test_an_action_is_completed_through_its_confirmation(client, owner, item):
    client.force_login(owner)
    response = client.get(item_url(item, "done/"))
    assert response.status_code == 200
    assert f"Mark “{item.title}” as done?" in main(response)
    item.refresh_from_db()
    assert item.status == "open"
    response = client.post(item_url(item, "done/"), {"note": "Signed on paper"}, follow=True)
    assert "Marked as done." in main(response)
    item.refresh_from_db()
    assert (item.status, item.closed_by, item.note) == ("done", owner, "Signed on paper")
    assert AuditEvent.objects.filter(action="action_item.done").count() == 1


def test_dropping_needs_a_note_on_its_confirmation(client, director, item):
    client.force_login(director)
    response = client.post(item_url(item, "drop/"), {"note": ""})
    assert response.status_code == 400 and 'role="alert"' in main(response)
    item.refresh_from_db()
    assert item.status == "open"
    client.post(item_url(item, "drop/"), {"note": "The owner is named elsewhere"})
    item.refresh_from_db()
    assert (item.status, item.note) == ("dropped", "The owner is named elsewhere")


def test_a_closed_action_says_so_and_does_not_change(client, director, item):
    services.action_item_close(item=item, by=director, status="done")
    client.force_login(director)
    for action in ("", "done/", "drop/"):
        response = client.get(item_url(item, action), follow=True)
        assert "This action is done already" in main(response)
    response = client.post(item_url(item, "drop/"), {"note": "x"}, follow=True)
    assert "This action is done already" in main(response)
    item.refresh_from_db()
    assert item.status == "done"
    page = main(client.get(URL))
    assert "1 closed action" in page


def test_vic_closes_the_action_he_owns_and_sees_only_its_controls(client, director, viewer, item):
    services.action_item_update(item=item, by=director, owner=viewer)
    client.force_login(viewer)
    page = main(client.get(URL))
    assert item_url(item, "done/") in page and item_url(item, "") + '"' not in page
    other = ActionItem.objects.exclude(pk=item.pk).first()
    assert item_url(other, "done/") not in page
    assert client.post(item_url(other, "done/")).status_code == 403
    client.post(item_url(item, "done/"), {"note": ""})
    item.refresh_from_db()
    assert (item.status, item.closed_by) == ("done", viewer)


@pytest.mark.parametrize("action", ["done/", "drop/"])
def test_a_forged_close_is_refused(client, viewer, item, action):
    client.force_login(viewer)
    assert client.post(item_url(item, action), {"note": "x"}).status_code == 403
    item.refresh_from_db()
    assert item.status == "open"


# --- The portfolio ------------------------------------------------------------------------------


def _systems(count):
    return [
        AISystemFactory(slug=f"fleet-{index:02}", name=f"Fleet {index:02}")
        for index in range(count)
    ]


def test_the_portfolio_lists_every_system_with_five_linked_cells(client, viewer, system):
    _systems(3)
    client.force_login(viewer)
    page = main(client.get(PORTFOLIO))
    rows = re.findall(r'<tr data-system="([^"]+)">(.*?)</tr>', page, re.S)
    assert [slug for slug, _row in rows] == ["fleet-00", "fleet-01", "fleet-02", "loan-classifier"]
    for slug, row in rows:
        assert row.count("<td data-cause=") == 5
        assert row.count(f'href="/systems/{slug}/assessment/"') == 6
    assert "2 · Evaluation infrastructure" in page and "1 · Operational architecture" in page


def test_the_heat_map_is_described_in_a_json_script(client, viewer, system):
    _systems(2)
    client.force_login(viewer)
    page = client.get(PORTFOLIO).content.decode()
    assert "<script>" not in page and "governance/assessment.js" in page
    raw = re.search(
        r'<script id="assessment-chart-config" type="application/json">(.*?)</script>', page, re.S
    ).group(1)
    config = json.loads(raw)
    assert config["systems"] == ["Fleet 00", "Fleet 01", "Loan classifier"]
    assert len(config["causes"]) == 5
    assert config["z"][2] == [60, 60, 80, 30, 50]
    assert config["text"][2][2] == "80 · high"
    assert config["urls"][2] == [URL] * 5
    assert config["levels"] == {"medium": 30, "high": 60}


def test_the_portfolio_without_systems_says_so(client, viewer):
    client.force_login(viewer)
    page = main(client.get(PORTFOLIO))
    assert "No AI system is registered yet" in page and "assessment-chart-config" not in page


def test_the_portfolio_shows_25_systems_a_page_in_the_heat_map_and_the_table(client, viewer):
    _systems(26)
    client.force_login(viewer)
    first = client.get(PORTFOLIO)
    page = main(first)
    assert len(re.findall(r'<tr data-system="', page)) == 25
    assert "26 systems: risk per root cause" in page and "showing 1 to 25" in page
    assert 'href="?page=2" rel="next"' in page
    second = client.get(PORTFOLIO, {"page": 2})
    assert [row["system"].slug for row in second.context["rows"]] == ["fleet-25"]
    assert second.context["chart_config"]["systems"] == ["Fleet 25"]


def _portfolio_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(PORTFOLIO).status_code == 200
    return len(queries)


def test_the_portfolio_takes_the_same_queries_for_3_and_12_systems(client, viewer, director):
    def add(count, start):
        for index in range(start, start + count):
            system = AISystemFactory(slug=f"fleet-{index:02}")
            services.assessment_answers_save(system=system, by=director, answers={"o_owner": 2})
            services.action_plan_generate(system=system, by=director)

    client.force_login(viewer)
    add(3, 0)
    three = _portfolio_queries(client)
    add(9, 3)
    assert _portfolio_queries(client) == three

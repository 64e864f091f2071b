"""The ownership page: each role sees its own controls, and the server refuses the rest."""

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.utils import timezone

from core.roles import Role
from governance import services
from governance.models import (
    AccountabilitySignature,
    AiOpsMember,
    BusinessUnitLead,
    Notification,
)
from governance.selectors import orphaned_systems
from tests.registry.factories import AISystemFactory

pytestmark = pytest.mark.django_db
URL = "/systems/loan-classifier/ownership/"


@pytest.fixture
def system():
    return AISystemFactory(slug="loan-classifier", name="Loan classifier")


@pytest.fixture
def owned(system, director, owner):
    services.ownership_assign(system=system, by=director, owner=owner, budget_authority="HKD 2m")
    return system


@pytest.fixture
def bo(django_user_model):
    user = django_user_model.objects.create_user(username="bo", password="pw")
    user.groups.add(Group.objects.get(name=Role.BUSINESS_UNIT_LEAD.value))
    return user


def test_every_reader_sees_the_page_and_the_tab(client, viewer, system):
    client.force_login(viewer)
    page = client.get(URL).content.decode()
    assert "Accountable owner" in page and "none named" in page
    assert URL in client.get("/systems/loan-classifier/").content.decode()


def test_dana_names_the_owner_in_the_browser(client, director, owner, system):
    client.force_login(director)
    response = client.post(
        f"{URL}owner/", {"owner": owner.pk, "budget_authority": "HKD 2m", "reason": "new unit"}
    )
    assert response.status_code == 302
    assert services.ownership_for(system).owner == owner


def test_a_missing_budget_authority_is_shown_in_place(client, director, owner, system):
    client.force_login(director)
    response = client.post(f"{URL}owner/", {"owner": owner.pk, "budget_authority": ""})
    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()
    assert services.ownership_for(system).owner is None


@pytest.mark.parametrize("persona", ["owner", "approver", "viewer"])
def test_only_directors_see_and_use_the_owner_form(client, request, persona, owner, system):
    client.force_login(request.getfixturevalue(persona))
    assert "Save owner" not in client.get(URL).content.decode()
    response = client.post(f"{URL}owner/", {"owner": owner.pk, "budget_authority": "x"})
    assert response.status_code == 403
    assert services.ownership_for(system).owner is None


def test_omar_signs_after_ticking_the_box(client, owner, owned):
    client.force_login(owner)
    page = client.get(URL).content.decode()
    assert "Sign the statement" in page
    assert client.post(f"{URL}sign/", {}).status_code == 400
    assert not AccountabilitySignature.objects.exists()
    response = client.post(f"{URL}sign/", {"confirm": "on"}, follow=True)
    assert "Signed." in response.content.decode()
    assert "signed by" in response.content.decode()
    assert AccountabilitySignature.objects.get().signer == owner


@pytest.mark.parametrize("persona", ["director", "approver", "viewer"])
def test_nobody_but_the_owner_sees_or_uses_the_sign_button(client, request, persona, owned):
    client.force_login(request.getfixturevalue(persona))
    assert "Sign the statement" not in client.get(URL).content.decode()
    assert client.post(f"{URL}sign/", {"confirm": "on"}).status_code == 403
    assert not AccountabilitySignature.objects.exists()


def test_the_owner_staffs_the_system_and_names_leads(client, owner, owned, viewer, bo):
    client.force_login(owner)
    client.post(f"{URL}members/", {"user": viewer.pk})
    client.post(f"{URL}leads/", {"user": bo.pk, "business_unit": "Lending"})
    assert AiOpsMember.objects.get().user == viewer
    lead = BusinessUnitLead.objects.get()
    assert lead.business_unit == "Lending"
    client.post(f"{URL}members/{AiOpsMember.objects.get().pk}/remove/")
    assert not AiOpsMember.objects.exists()


def test_a_viewer_cannot_staff_the_system(client, viewer, owned):
    client.force_login(viewer)
    assert client.post(f"{URL}members/", {"user": viewer.pk}).status_code == 403
    assert not AiOpsMember.objects.exists()


def test_bo_attests_his_briefing_and_only_his(client, owner, owned, bo, viewer):
    lead = services.business_unit_lead_add(system=owned, by=owner, user=bo, business_unit="Lending")
    client.force_login(viewer)
    assert "I attest" not in client.get(URL).content.decode()
    assert client.post(f"{URL}leads/{lead.pk}/attest/").status_code == 403
    client.force_login(bo)
    assert "I attest" in client.get(URL).content.decode()
    response = client.post(f"{URL}leads/{lead.pk}/attest/", follow=True)
    assert "attested" in response.content.decode()
    lead.refresh_from_db()
    assert lead.briefing_attested_at is not None


def test_an_orphaned_system_is_flagged(client, director, owned, owner):
    owner.is_active = False
    owner.save()
    client.force_login(director)
    assert "Orphaned" in client.get(URL).content.decode()


def test_reading_needs_a_role_and_writing_needs_a_post(client, outsider, viewer, system):
    client.force_login(outsider)
    assert client.get(URL).status_code == 403
    client.force_login(viewer)
    assert client.get(f"{URL}sign/").status_code == 405
    assert client.get("/systems/nope/ownership/").status_code == 404


def test_directors_find_orphaned_systems_on_their_home_page(client, director, viewer, owned, owner):
    owner.is_active = False
    owner.save()
    client.force_login(director)
    page = client.get("/").content.decode()
    assert "Orphaned systems" in page and "inactive" in page
    client.force_login(viewer)
    assert "Orphaned systems" not in client.get("/").content.decode()


def test_a_lapsed_signature_makes_an_orphan(owned, owner):
    services.accountability_sign(system=owned, by=owner)
    assert orphaned_systems() == []
    with time_machine.travel(timezone.now() + timedelta(days=366)):
        assert orphaned_systems() == [(owned, ["the accountability signature lapsed"])]


def test_orphans_reach_every_directors_inbox_once_until_read(owned, owner, director):
    owner.is_active = False
    owner.save()
    assert services.orphans_notify() == 1
    assert services.orphans_notify() == 0
    note = Notification.objects.get(user=director)
    assert note.title == "Orphaned: Loan classifier"
    assert note.url == URL

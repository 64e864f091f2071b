"""Ownership and accountability: naming the owner, signing, voiding, briefings.

Dana directs operations, Omar owns the system, Ada approves, Bo leads a
business unit, Vic views.
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group

from core.errors import ApplicationError
from core.roles import Role
from governance import services
from governance.models import AccountabilitySignature, AiOpsMember, BusinessUnitLead
from tests.registry.factories import AISystemFactory

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def system():
    return AISystemFactory(slug="loan-classifier")


@pytest.fixture
def bo(django_user_model):
    user = django_user_model.objects.create_user(username="bo", password="pw")
    user.groups.add(Group.objects.get(name=Role.BUSINESS_UNIT_LEAD.value))
    return user


@pytest.fixture
def owned(system, director, owner):
    services.ownership_assign(system=system, by=director, owner=owner, budget_authority="HKD 2m")
    return system


def live_signatures(system):
    return AccountabilitySignature.objects.filter(system=system, voided_at__isnull=True)


def test_dana_names_omar_owner_and_omar_signs_the_exact_statement(owned, owner):
    signature = services.accountability_sign(system=owned, by=owner)
    assert signature.signer == owner
    assert signature.statement_text == owned.ownership.statement
    assert signature.statement_hash == owned.ownership.statement_hash
    assert signature.budget_authority == "HKD 2m"
    assert signature.signed_at == NOW
    assert signature.expires_at == NOW + timedelta(days=365)


@pytest.mark.parametrize("persona", ["owner", "approver", "viewer"])
def test_only_a_director_names_the_owner(system, request, persona, owner):
    with pytest.raises(ApplicationError) as error:
        services.ownership_assign(
            system=system, by=request.getfixturevalue(persona), owner=owner, budget_authority="x"
        )
    assert error.value.status == 403
    assert services.ownership_for(system).owner is None


def test_an_owner_needs_a_recorded_budget_authority(system, director, owner):
    with pytest.raises(ApplicationError, match="budget authority"):
        services.ownership_assign(system=system, by=director, owner=owner, budget_authority=" ")
    assert services.ownership_for(system).owner is None


def test_an_inactive_person_cannot_be_named(system, director, owner):
    owner.is_active = False
    owner.save()
    with pytest.raises(ApplicationError, match="inactive"):
        services.ownership_assign(system=system, by=director, owner=owner, budget_authority="x")


@pytest.mark.parametrize("persona", ["director", "approver", "viewer"])
def test_only_the_named_owner_can_sign(owned, request, persona):
    with pytest.raises(ApplicationError, match="Only the named owner") as error:
        services.accountability_sign(system=owned, by=request.getfixturevalue(persona))
    assert error.value.status == 403
    assert not AccountabilitySignature.objects.exists()


def test_nobody_signs_before_an_owner_is_named(system, owner):
    with pytest.raises(ApplicationError, match="Name an owner"):
        services.accountability_sign(system=system, by=owner)


def test_a_change_of_owner_voids_the_signature(owned, owner, director, approver):
    services.accountability_sign(system=owned, by=owner)
    services.ownership_assign(system=owned, by=director, owner=approver, budget_authority="x")
    assert not live_signatures(owned).exists()
    assert AccountabilitySignature.objects.get().void_reason == "owner changed"


def test_keeping_the_same_owner_keeps_the_signature(owned, owner, director):
    services.accountability_sign(system=owned, by=owner)
    services.ownership_assign(system=owned, by=director, owner=owner, budget_authority="HKD 3m")
    assert live_signatures(owned).count() == 1


def test_a_changed_statement_voids_the_signature(owned, owner, director):
    services.accountability_sign(system=owned, by=owner)
    services.accountability_statement_update(
        system=owned,
        by=director,
        statement="I answer for this system's outcomes, budget and staff.",
    )
    assert not live_signatures(owned).exists()
    assert AccountabilitySignature.objects.get().void_reason == "statement changed"


def test_the_same_statement_text_changes_nothing(owned, owner):
    services.accountability_sign(system=owned, by=owner)
    services.accountability_statement_update(
        system=owned, by=owner, statement=owned.ownership.statement
    )
    assert live_signatures(owned).count() == 1


def test_a_statement_must_say_something(owned, director):
    with pytest.raises(ApplicationError, match="40 characters"):
        services.accountability_statement_update(system=owned, by=director, statement="ok")


def test_signing_again_renews(owned, owner, frozen_clock):
    services.accountability_sign(system=owned, by=owner)
    frozen_clock.shift(timedelta(days=300))
    renewed = services.accountability_sign(system=owned, by=owner)
    assert live_signatures(owned).get() == renewed
    assert renewed.expires_at == NOW + timedelta(days=300 + 365)
    assert AccountabilitySignature.objects.filter(void_reason="renewed").count() == 1


def test_ai_ops_members_are_added_once(owned, owner, viewer):
    services.ai_ops_member_add(system=owned, by=owner, user=viewer)
    with pytest.raises(ApplicationError, match="already"):
        services.ai_ops_member_add(system=owned, by=owner, user=viewer)
    assert AiOpsMember.objects.count() == 1


def test_a_viewer_cannot_staff_the_system(owned, viewer):
    with pytest.raises(ApplicationError) as error:
        services.ai_ops_member_add(system=owned, by=viewer, user=viewer)
    assert error.value.status == 403
    assert not AiOpsMember.objects.exists()


def test_a_lead_attests_the_briefing_for_themselves_only_once(owned, owner, bo, viewer):
    lead = services.business_unit_lead_add(system=owned, by=owner, user=bo, business_unit="Lending")
    with pytest.raises(ApplicationError, match="themselves"):
        services.briefing_attest(lead=lead, by=owner)
    lead = services.briefing_attest(lead=lead, by=bo)
    assert lead.briefing_attested_at == NOW
    with pytest.raises(ApplicationError, match="already"):
        services.briefing_attest(lead=lead, by=bo)


def test_a_lead_needs_a_business_unit(owned, owner, bo):
    with pytest.raises(ApplicationError, match="business unit"):
        services.business_unit_lead_add(system=owned, by=owner, user=bo, business_unit="")
    assert not BusinessUnitLead.objects.exists()

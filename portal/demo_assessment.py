"""The demo's root-cause assessment: three systems answered, their action plans, one item done.

The customer-service assistant (in staged rollout) is answered by its owner: sound on
ownership and monitoring, weaker on quality at volume and training data. The
loan-document classifier (waiting for its owner's signature) and the contract reviewer
(still mapping its data flow, with no owner yet) are answered by the operations
director. Each gets the action plan its scores call for, owned by the system's owner
where there is one, and the owner has done the assistant's most urgent action.
Everything goes through the services, so the audit trail records it; running it again
changes nothing.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from governance import services as governance
from governance.models import ActionItem
from registry.models import AISystem

# slug: (who answers, {question: 0 to 4})
DEMO_ANSWERS = {
    "customer-service-assistant": (
        "owner",
        {
            "int_sources_mapped": 3,
            "int_schemas_stable": 2,
            "int_tests": 3,
            "int_errors_handled": 2,
            "q_measured_at_volume": 2,
            "q_error_cost": 1,
            "q_human_review": 3,
            "q_segments": 1,
            "m_dashboards": 4,
            "m_drift": 3,
            "m_alerts": 4,
            "o_owner": 4,
            "o_ops": 3,
            "o_handover": 3,
            "o_escalation": 4,
            "t_volume": 3,
            "t_representative": 2,
            "t_labelling": 2,
        },
    ),
    "loan-document-classifier": (
        "director",
        {
            "int_sources_mapped": 2,
            "int_schemas_stable": 1,
            "int_tests": 2,
            "int_errors_handled": 1,
            "q_measured_at_volume": 2,
            "q_error_cost": 2,
            "q_human_review": 4,
            "m_dashboards": 3,
            "m_alerts": 1,
            "o_owner": 3,
            "o_ops": 0,
            "o_handover": 1,
            "o_escalation": 1,
            "t_volume": 2,
            "t_labelling": 1,
        },
    ),
    "contract-reviewer": (
        "director",
        {
            "int_sources_mapped": 1,
            "int_schemas_stable": 0,
            "int_tests": 0,
            "q_measured_at_volume": 1,
            "m_dashboards": 1,
            "o_owner": 2,
            "t_volume": 1,
            "t_representative": 0,
            "t_labelling": 1,
        },
    ),
}
# The system whose owner has already done its most urgent action.
DONE_ON = "customer-service-assistant"


@transaction.atomic
def demo_assessment_load() -> None:
    """Answers, action plans and one completed action for the demo systems (idempotent)."""
    users = {
        user.username: user
        for user in get_user_model().objects.filter(username__in=["owner", "director"])
    }
    for slug, (username, answers) in DEMO_ANSWERS.items():
        system = AISystem.objects.get(slug=slug)
        # Unchanged answers write nothing, and a plan proposes each action once.
        governance.assessment_answers_save(system=system, by=users[username], answers=answers)
        governance.action_plan_generate(system=system, by=users["director"])
    items = ActionItem.objects.filter(system__slug=DONE_ON)
    if not items.filter(status=ActionItem.Status.DONE).exists():
        first = items.filter(status=ActionItem.Status.OPEN).order_by("priority", "pk").first()
        if first is not None:
            governance.action_item_close(
                item=first,
                by=users["owner"],
                status=ActionItem.Status.DONE,
                note="Done in the demo: the first step of the plan, closed by the owner.",
            )

"""Who may do what with change requests, in one place (used by the API and the pages).

The services enforce every transition (they raise 403 or 409); `change_actions`
only decides which controls a page shows. Opening a request is the one check
made here, since the service records whoever opens one.
"""

from __future__ import annotations

from core.roles import Role, has_role
from governance.choices import OPEN_CHANGE_STATES, ChangeState
from governance.models import ChangeRequest
from registry.models import AISystem
from registry.permissions import can_read_system, has_any_role, is_pipeline, pipeline_system_id

# The states each action starts from (the graph of ChangeState's docstring).
ACTION_STATES = {
    "submit": {ChangeState.DRAFT},
    "cancel": set(OPEN_CHANGE_STATES),
    "approve": {ChangeState.SUBMITTED},
    "reject": {ChangeState.SUBMITTED},
    "deploy": {ChangeState.APPROVED},
    "roll_back": {ChangeState.DEPLOYED},
}
# Viewers read everything and change nothing; business-unit leads attest briefings.
CHANGE_REQUESTERS = (Role.OPERATIONS_DIRECTOR, Role.SYSTEM_OWNER, Role.APPROVER)


def can_read_change(user, change: ChangeRequest) -> bool:
    """People with a role read every request; a pipeline only its own system's."""
    return can_read_system(user, change.system)


def can_open_change(user, system: AISystem) -> bool:
    """Open a request: directors, owners and approvers, and the system's own pipeline (CI/CD)."""
    if is_pipeline(user):
        return pipeline_system_id(user) == system.pk
    return has_any_role(user, CHANGE_REQUESTERS)


def change_actions(user, change: ChangeRequest, *, approved_already: bool = False) -> set[str]:
    """The transitions `user` may start on `change` now, as the services would allow them."""
    if is_pipeline(user) or not getattr(user, "is_authenticated", False):
        return set()
    is_requester = change.requester_id is not None and change.requester_id == user.pk
    director = has_role(user, Role.OPERATIONS_DIRECTOR)
    decider = has_role(user, Role.APPROVER) and not is_requester
    who = {
        "submit": is_requester or director,
        "cancel": is_requester,
        "approve": decider and not approved_already,
        "reject": decider,
        "deploy": is_requester or director,
        "roll_back": is_requester or director,
    }
    return {
        action for action, states in ACTION_STATES.items() if who[action] and change.state in states
    }

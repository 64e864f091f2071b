"""Who may do what in the registry, in one place (used by the API and the pages)."""

from __future__ import annotations

from rest_framework import permissions

from core.roles import Role, has_role
from registry.models import AISystem

READ_ROLES = tuple(Role)
SYSTEM_MANAGERS = (Role.OPERATIONS_DIRECTOR,)
REGISTRY_EDITORS = (Role.OPERATIONS_DIRECTOR, Role.SYSTEM_OWNER)


def is_pipeline(user) -> bool:
    return getattr(user, "is_pipeline", False)


def pipeline_system_id(user) -> int | None:
    """The system a pipeline token is scoped to; None for a data source's token or a person."""
    system = getattr(user, "system", None) if is_pipeline(user) else None
    return system.pk if system is not None else None


def has_any_role(user, roles) -> bool:
    return any(has_role(user, role) for role in roles)


def can_read_system(user, system: AISystem) -> bool:
    """People with any role read every system; a pipeline reads only its own."""
    if is_pipeline(user):
        return pipeline_system_id(user) == system.pk
    return has_any_role(user, READ_ROLES)


def can_manage_systems(user) -> bool:
    """Register systems and change their description: operations directors."""
    return not is_pipeline(user) and has_any_role(user, SYSTEM_MANAGERS)


def can_edit_registry(user, system: AISystem) -> bool:
    """Declare metrics and change thresholds: operations directors and system owners."""
    return not is_pipeline(user) and has_any_role(user, REGISTRY_EDITORS)


def can_register_versions(user, system: AISystem) -> bool:
    """Register model versions: editors, and the system's own pipeline (CI/CD)."""
    if is_pipeline(user):
        return pipeline_system_id(user) == system.pk
    return has_any_role(user, REGISTRY_EDITORS)


def can_push_metrics(user, system: AISystem) -> bool:
    """Push points: the system's own pipeline, or an editor (scripts, backfills)."""
    if is_pipeline(user):
        return pipeline_system_id(user) == system.pk
    return has_any_role(user, REGISTRY_EDITORS)


def can_manage_tokens(user, system: AISystem) -> bool:
    """Create and revoke a system's pipeline tokens: editors, never a pipeline."""
    return not is_pipeline(user) and has_any_role(user, REGISTRY_EDITORS)


class HasRoleOrPipeline(permissions.BasePermission):
    """Any API caller must be a person with a role, or a pipeline."""

    message = "You need a role in the portal (ask an administrator), or a pipeline token."

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated) and (
            is_pipeline(user) or has_any_role(user, READ_ROLES)
        )


# --- Data sources ------------------------------------------------------------------------


def _source_token_of(user, source) -> bool:
    token_source = getattr(user, "data_source", None)
    return token_source is not None and token_source.pk == source.pk


def _feeds_pipeline_system(user, source) -> bool:
    system_id = pipeline_system_id(user)
    return system_id is not None and source.systems.filter(pk=system_id).exists()


def can_read_source(user, source) -> bool:
    """People with a role read every source; a pipeline, its own source or one its system uses."""
    if is_pipeline(user):
        return _source_token_of(user, source) or _feeds_pipeline_system(user, source)
    return has_any_role(user, READ_ROLES)


def can_push_source(user, source) -> bool:
    """Deliveries, profiles and test runs: the source's pipeline, a fed system's, or an editor."""
    if is_pipeline(user):
        return _source_token_of(user, source) or _feeds_pipeline_system(user, source)
    return can_edit_source(user, source)


def can_manage_sources(user) -> bool:
    """Register data sources: operations directors and system owners."""
    return not is_pipeline(user) and has_any_role(user, REGISTRY_EDITORS)


def can_edit_source(user, source) -> bool:
    """Levels, schema, references and tokens: directors, system owners and the source's owner.

    A pipeline never changes what it is judged against.
    """
    if is_pipeline(user):
        return False
    if has_any_role(user, REGISTRY_EDITORS):
        return True
    return (
        source.owner_id is not None
        and source.owner_id == getattr(user, "pk", None)
        and (has_any_role(user, READ_ROLES))
    )

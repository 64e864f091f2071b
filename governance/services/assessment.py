"""The root-cause assessment's writes: questionnaire answers and the action plan."""

from __future__ import annotations

from datetime import date, datetime

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext

from core.errors import ApplicationError
from core.roles import Role, has_role
from governance import assessment
from governance.audit import audit_record
from governance.choices import RootCause
from governance.models import ActionItem, AiOpsMember, AssessmentAnswer, SystemOwnership
from governance.selectors import action_plan_preview, system_assessment
from registry.models import AISystem
from registry.permissions import READ_ROLES, has_any_role

ITEM_FIELDS = frozenset({"title", "owner", "due_date", "priority", "note"})


def may_assess(system: AISystem, by) -> bool:
    """Directors, system owners and the system's AI-ops members answer and plan."""
    if has_role(by, Role.OPERATIONS_DIRECTOR) or has_role(by, Role.SYSTEM_OWNER):
        return True
    user_id = getattr(by, "pk", None)
    return (
        user_id is not None and AiOpsMember.objects.filter(system=system, user_id=user_id).exists()
    )


def _require(system: AISystem, by) -> None:
    if not may_assess(system, by):
        raise ApplicationError(
            gettext(
                "Only operations directors, system owners and the system's AI-ops members may."
            ),
            status=403,
        )


def assessment_answers_save(*, system: AISystem, by, answers: dict[str, int]) -> dict[str, int]:
    """Record questionnaire answers (0 to 4 per question); unchanged ones write nothing."""
    _require(system, by)
    unknown = sorted(set(answers) - assessment.QUESTION_KEYS)
    if unknown:
        raise ApplicationError(
            gettext("Unknown question(s): %(unknown)s.") % {"unknown": ", ".join(unknown)},
            field="answers",
        )
    for key, value in answers.items():
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 4:
            raise ApplicationError(
                gettext("%(key)s: an answer is a whole number from 0 to 4.") % {"key": key},
                field=key,
            )
    now = timezone.now()
    with transaction.atomic():
        AISystem.objects.select_for_update().get(pk=system.pk)
        current = dict(
            AssessmentAnswer.objects.filter(system=system).values_list("question", "value")
        )
        changed = {key: value for key, value in answers.items() if current.get(key) != value}
        for key, value in changed.items():
            AssessmentAnswer.objects.update_or_create(
                system=system,
                question=key,
                defaults={"value": value, "answered_by": by, "answered_at": now},
            )
        if changed:
            audit_record(
                actor=by,
                action="assessment.answer",
                obj=system,
                before={key: current.get(key) for key in changed},
                after=changed,
            )
    return changed


def action_plan_generate(*, system: AISystem, by, now: datetime | None = None) -> list[ActionItem]:
    """Add the actions the scores call for that were never proposed before; audited.

    Each proposed action has a key and is proposed once per system, so an
    item someone closed or dropped does not come back.
    """
    _require(system, by)
    now = now or timezone.now()
    with transaction.atomic():
        AISystem.objects.select_for_update().get(pk=system.pk)
        state = system_assessment(system, now=now)
        planned = action_plan_preview(system, state, today=now.date())
        # New items rank after the open ones already planned.
        offset = (
            ActionItem.objects.filter(system=system, status=ActionItem.Status.OPEN).aggregate(
                top=Max("priority")
            )["top"]
            or 0
        )
        owner = (
            SystemOwnership.objects.filter(system=system).values_list("owner", flat=True).first()
        )
        created = [
            ActionItem.objects.create(
                system=system,
                key=action.key,
                cause=action.cause,
                title=str(action.title),
                owner_id=owner,
                due_date=action.due,
                priority=offset + action.priority,
                created_at=now,
            )
            for action in planned
        ]
        if created:
            audit_record(
                actor=by,
                action="action_plan.generate",
                obj=system,
                after={"items": [item.key for item in created]},
            )
    return created


def action_item_create(
    *, system: AISystem, by, cause: str, title: str, due_date: date, owner=None
) -> ActionItem:
    """Add an action of one's own to the plan."""
    _require(system, by)
    if cause not in RootCause.values:
        raise ApplicationError(gettext("Choose the root cause it addresses."), field="cause")
    if not (title or "").strip():
        raise ApplicationError(gettext("Say what is to be done."), field="title")
    _check_owner(owner)
    with transaction.atomic():
        item = ActionItem.objects.create(
            system=system,
            cause=cause,
            title=title.strip()[:200],
            owner=owner,
            due_date=due_date,
            created_at=timezone.now(),
        )
        audit_record(
            actor=by,
            action="action_item.create",
            obj=item,
            system=system,
            after={"title": item.title},
        )
    return item


def _locked(item: ActionItem) -> ActionItem:
    return ActionItem.objects.select_for_update().select_related("system").get(pk=item.pk)


def _check_owner(owner) -> None:
    if owner is not None and not (owner.is_active and has_any_role(owner, READ_ROLES)):
        raise ApplicationError(
            gettext("An action's owner is an active person with a role in the portal."),
            field="owner",
        )


def may_close_action(item: ActionItem, by) -> bool:
    """Those who assess the system, and the item's own owner, close it."""
    return item.owner_id == getattr(by, "pk", None) or may_assess(item.system, by)


def action_item_update(*, item: ActionItem, by, **changes) -> ActionItem:
    """Change an open item's title, owner, due date, priority or note."""
    unknown = set(changes) - ITEM_FIELDS
    if unknown:
        raise ApplicationError(
            gettext("Cannot change %(unknown)s of an action.")
            % {"unknown": ", ".join(sorted(unknown))}
        )
    if "title" in changes and not (changes["title"] or "").strip():
        raise ApplicationError(gettext("Say what is to be done."), field="title")
    with transaction.atomic():
        locked = _locked(item)
        _require(locked.system, by)
        if locked.status != ActionItem.Status.OPEN:
            raise ApplicationError(gettext("A closed action cannot change."), status=409)
        # A new owner must be someone who can act; one who since lost their role may stay.
        if "owner" in changes and changes["owner"] != locked.owner:
            _check_owner(changes["owner"])
        before = {name: str(getattr(locked, name)) for name in changes}
        for name, value in changes.items():
            setattr(locked, name, value)
        locked.save()
        audit_record(
            actor=by,
            action="action_item.update",
            obj=locked,
            system=locked.system,
            before=before,
            after={name: str(value) for name, value in changes.items()},
        )
    return locked


def action_item_close(*, item: ActionItem, by, status: str, note: str = "") -> ActionItem:
    """open -> done or dropped, by those who plan or the item's owner; audited."""
    if status not in (ActionItem.Status.DONE, ActionItem.Status.DROPPED):
        raise ApplicationError(gettext("An action closes as done or dropped."), field="status")
    if status == ActionItem.Status.DROPPED and not (note or "").strip():
        raise ApplicationError(gettext("Say why the action is dropped."), field="note")
    with transaction.atomic():
        locked = _locked(item)
        if not may_close_action(locked, by):
            _require(locked.system, by)
        if locked.status != ActionItem.Status.OPEN:
            raise ApplicationError(
                gettext("This action is %(status)s already.")
                % {"status": locked.get_status_display().lower()},
                status=409,
            )
        locked.status, locked.closed_at, locked.closed_by = status, timezone.now(), by
        if note.strip():
            locked.note = note.strip()
        locked.save()
        audit_record(
            actor=by,
            action=f"action_item.{status}",
            obj=locked,
            system=locked.system,
            before={"status": "open"},
            after={"status": status},
            reason=note,
        )
    return locked

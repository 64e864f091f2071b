"""Change-management writes: requests, four-eyes approvals, deployment, voiding.

Approvals needed by risk classification: settings.CHANGE_APPROVALS_BY_TIER
(low 1, medium 1, high 2, critical 3). The requester never approves their own
request and nobody is exempt (administrators included: a superuser holds no
role implicitly). One person counts once. An approval is bound to the hash of
what it approved; if the version or parameters change, it is void and an
approved request returns to submitted.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from core.errors import ApplicationError
from core.roles import Role, has_role
from governance.audit import audit_record
from governance.choices import OPEN_CHANGE_STATES, VERSION_KINDS, ChangeKind, ChangeState
from governance.models import Approval, ChangeRequest
from registry.choices import RiskTier
from registry.models import AISystem, MetricSpec, ModelVersion
from registry.selectors import system_metrics_daily
from registry.services import metric_spec_update

TIER_ORDER = [RiskTier.LOW, RiskTier.MEDIUM, RiskTier.HIGH, RiskTier.CRITICAL]


def approvals_required(risk_tier: str) -> int:
    """How many different approvers a change of this risk classification needs."""
    return settings.CHANGE_APPROVALS_BY_TIER[risk_tier]


def parameters_hash(parameters: dict) -> str:
    """SHA-256 of a parameter set's canonical JSON (what a parameter change is bound to)."""
    canonical = json.dumps(parameters, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _requester(by) -> tuple[Any, str]:
    """The requesting person (or None for a pipeline) and a label for the record."""
    if getattr(by, "is_pipeline", False):
        return None, f"pipeline:{by.token.name}"
    return by, by.get_username()


def _check_risk(system: AISystem, risk_tier: str | None, reason: str, by) -> str:
    """The change's risk: the system's tier by default; raised by anyone, lowered by approvers."""
    tier = risk_tier or system.risk_tier
    if tier not in RiskTier.values:
        raise ApplicationError(
            gettext("%(tier)s is not a risk tier.") % {"tier": f"{tier!r}"}, field="risk_tier"
        )
    if TIER_ORDER.index(tier) < TIER_ORDER.index(system.risk_tier):
        if not has_role(by, Role.APPROVER):
            raise ApplicationError(
                gettext("Only an approver may classify a change below the system's risk tier."),
                field="risk_tier",
            )
        if not reason.strip():
            raise ApplicationError(
                gettext("Say why the risk is lower than the system's."), field="risk_reason"
            )
    return tier


def change_request_open(
    *,
    system: AISystem,
    by,
    kind: str,
    title: str,
    description: str,
    rationale: str,
    model_version: ModelVersion | None = None,
    parameters: dict | None = None,
    risk_tier: str | None = None,
    risk_reason: str = "",
    planned_for: date | None = None,
) -> ChangeRequest:
    """Open a draft change request bound to a model version or a parameter set."""
    if kind not in ChangeKind.values:
        raise ApplicationError(
            gettext("%(kind)s is not a kind of change.") % {"kind": f"{kind!r}"}, field="kind"
        )
    parameters = parameters or {}
    if kind in VERSION_KINDS:
        if model_version is None:
            raise ApplicationError(
                gettext("Name the model version this change concerns."), field="model_version"
            )
        if model_version.system_id != system.pk:
            raise ApplicationError(
                gettext("That version belongs to another system."), field="model_version"
            )
        bound = model_version.content_hash
    else:
        if model_version is not None:
            raise ApplicationError(
                gettext(
                    "A parameter or data-source change concerns a parameter set, not a version."
                ),
                field="model_version",
            )
        if not parameters:
            raise ApplicationError(
                gettext("Describe the parameter set to change."), field="parameters"
            )
        bound = parameters_hash(parameters)
    for field, value in (("title", title), ("description", description), ("rationale", rationale)):
        if not (value or "").strip():
            raise ApplicationError(gettext("This field is required."), field=field)
    tier = _check_risk(system, risk_tier, risk_reason, by)
    person, label = _requester(by)
    with transaction.atomic():
        change = ChangeRequest.objects.create(
            system=system,
            kind=kind,
            title=title.strip()[:200],
            description=description.strip(),
            rationale=rationale.strip(),
            model_version=model_version,
            parameters=parameters,
            bound_hash=bound,
            risk_tier=tier,
            risk_reason=risk_reason.strip(),
            planned_for=planned_for,
            requester=person,
            requester_label=label,
        )
        audit_record(
            actor=by,
            action="change.open",
            obj=change,
            system=system,
            after={"kind": kind, "bound_hash": bound, "risk_tier": tier},
        )
    return change


def _locked(change: ChangeRequest) -> ChangeRequest:
    # Every transition locks the row first, so two people acting at once on one
    # request are serialised and the second sees the first one's outcome.
    return ChangeRequest.objects.select_for_update().get(pk=change.pk)


def _require_state(change: ChangeRequest, *, allowed: set[str], to: str) -> None:
    """Refuse (409) a transition to `to` from a state not in `allowed`."""
    if change.state not in allowed:
        raise ApplicationError(
            gettext("A %(state)s request cannot become %(to)s.")
            % {"state": change.get_state_display().lower(), "to": to},
            status=409,
            code="wrong_state",
        )


def _move(change: ChangeRequest, *, by, to: str, action: str, reason: str = "", **stamps) -> None:
    """Put a locked request in state `to` with its time stamps, save it, and audit the move."""
    before = change.state
    change.state = to
    for field, value in stamps.items():
        setattr(change, field, value)
    change.save(update_fields=["state", *stamps])
    audit_record(
        actor=by,
        action=action,
        obj=change,
        system=change.system,
        before={"state": before},
        after={"state": to},
        reason=reason,
    )


def _is_requester(change: ChangeRequest, by) -> bool:
    return change.requester_id is not None and change.requester_id == getattr(by, "pk", None)


def change_request_submit(*, change: ChangeRequest, by) -> ChangeRequest:
    """The requester (or a director, for a pipeline's request) submits a draft for review."""
    with transaction.atomic():
        change = _locked(change)
        if not (_is_requester(change, by) or has_role(by, Role.OPERATIONS_DIRECTOR)):
            raise ApplicationError(gettext("Only the requester submits a request."), status=403)
        _require_state(change, allowed={ChangeState.DRAFT}, to="submitted")
        _move(
            change,
            by=by,
            to=ChangeState.SUBMITTED,
            action="change.submit",
            submitted_at=timezone.now(),
        )
    return change


def _metric_snapshot(system: AISystem) -> list[dict]:
    """The system's metric summary now: each metric's latest daily value and thresholds."""
    snapshot = []
    for metric in system_metrics_daily(system=system, days=7):
        latest = metric.latest
        snapshot.append(
            {
                "metric": metric.spec.key,
                "day": latest[0].isoformat() if latest else None,
                "value": latest[1] if latest else None,
                "warning": metric.spec.warning,
                "critical": metric.spec.critical,
                "direction": metric.spec.direction,
                "status": metric.status,
            }
        )
    return snapshot


def _current_hash(change: ChangeRequest) -> str:
    if change.kind in VERSION_KINDS:
        return ModelVersion.objects.values_list("content_hash", flat=True).get(
            pk=change.model_version_id
        )
    return parameters_hash(change.parameters)


def live_approvals(change: ChangeRequest):
    """Approvals in force (not voided), oldest first."""
    return change.approvals.filter(voided_at__isnull=True).select_related("approver")


def change_request_approve(*, change: ChangeRequest, by, comment: str = "") -> ChangeRequest:
    """An approver approves; enough different approvers make the request approved.

    Refused for the requester (whoever they are), for a second approval by the
    same person, for anyone without the Approver role, and when the bound
    version or parameters no longer match what was submitted.
    """
    if not has_role(by, Role.APPROVER):
        raise ApplicationError(gettext("Only approvers approve change requests."), status=403)
    with transaction.atomic():
        change = _locked(change)
        if _is_requester(change, by):
            raise ApplicationError(gettext("You cannot approve your own request."), status=403)
        _require_state(change, allowed={ChangeState.SUBMITTED}, to="approved")
        current = _current_hash(change)
        if current != change.bound_hash:
            raise ApplicationError(
                gettext(
                    "The version or parameters changed since submission; they must be resubmitted."
                ),
                status=409,
            )
        try:
            with transaction.atomic():
                Approval.objects.create(
                    change_request=change,
                    approver=by,
                    decided_at=timezone.now(),
                    bound_hash=current,
                    metric_snapshot=_metric_snapshot(change.system),
                    comment=comment.strip(),
                )
        except IntegrityError:
            raise ApplicationError(
                gettext("You have already approved this request."), status=409
            ) from None
        count = live_approvals(change).count()
        needed = approvals_required(change.risk_tier)
        after = {"approvals": count, "needed": needed}
        if count >= needed:
            change.state = ChangeState.APPROVED
            change.decided_at = timezone.now()
            change.save(update_fields=["state", "decided_at"])
            after["state"] = "approved"
        audit_record(
            actor=by,
            action="change.approve",
            obj=change,
            system=change.system,
            after=after,
            reason=comment,
        )
    return change


def change_request_reject(*, change: ChangeRequest, by, reason: str) -> ChangeRequest:
    """An approver rejects with a reason; the request ends."""
    if not has_role(by, Role.APPROVER):
        raise ApplicationError(gettext("Only approvers reject change requests."), status=403)
    if not (reason or "").strip():
        raise ApplicationError(gettext("A rejection needs a reason."), field="reason")
    with transaction.atomic():
        change = _locked(change)
        if _is_requester(change, by):
            raise ApplicationError(gettext("You cannot decide on your own request."), status=403)
        _require_state(change, allowed={ChangeState.SUBMITTED}, to="rejected")
        now = timezone.now()
        _move(
            change,
            by=by,
            to=ChangeState.REJECTED,
            action="change.reject",
            reason=reason,
            decided_at=now,
            closed_at=now,
            closing_reason=reason.strip(),
        )
    return change


def change_request_cancel(*, change: ChangeRequest, by, reason: str = "") -> ChangeRequest:
    """The requester withdraws a draft or submitted request."""
    with transaction.atomic():
        change = _locked(change)
        if not _is_requester(change, by):
            raise ApplicationError(gettext("Only the requester cancels a request."), status=403)
        _require_state(change, allowed=set(OPEN_CHANGE_STATES), to="cancelled")
        _move(
            change,
            by=by,
            to=ChangeState.CANCELLED,
            action="change.cancel",
            reason=reason,
            closed_at=timezone.now(),
            closing_reason=reason.strip(),
        )
    return change


def change_request_mark_deployed(*, change: ChangeRequest, by) -> ChangeRequest:
    """Record that an approved change went live (operations directors or the requester)."""
    with transaction.atomic():
        change = _locked(change)
        if not (has_role(by, Role.OPERATIONS_DIRECTOR) or _is_requester(change, by)):
            raise ApplicationError(
                gettext("Only an operations director or the requester records a deployment."),
                status=403,
            )
        _require_state(change, allowed={ChangeState.APPROVED}, to="deployed")
        if _current_hash(change) != change.bound_hash:
            raise ApplicationError(
                gettext("What was approved has changed since; it cannot go live."), status=409
            )
        if change.kind == ChangeKind.PARAMETER_CHANGE:
            _apply_parameters(change, by=by)
        _move(
            change,
            by=by,
            to=ChangeState.DEPLOYED,
            action="change.deploy",
            deployed_at=timezone.now(),
        )
    return change


def _apply_parameters(change: ChangeRequest, *, by) -> None:
    """Apply an approved parameter set: a metric's settings, or the escalation routing.

    Conventions: {"metric_spec": "<key>", "warning": ..., "critical": ..., ...}
    and {"routing": {"ack_timeout_minutes": 30, "level3_user": "<username>",
    "level3_group": "<group name>"}}. Parameter sets for other targets (cohort
    plans) are applied by the app that owns them when it reads the deployed request.
    """
    parameters = change.parameters
    if "routing" in parameters:
        _apply_routing(change.system, parameters["routing"], by=by, change=change)
    key = parameters.get("metric_spec")
    if not key:
        return
    spec = MetricSpec.objects.filter(system=change.system, key=key).first()
    if spec is None:
        raise ApplicationError(
            gettext("The system has no metric %(key)s any more.") % {"key": f"{key!r}"}, status=409
        )
    new_settings = {k: v for k, v in parameters.items() if k != "metric_spec"}
    metric_spec_update(spec=spec, by=by, change_request_id=change.pk, **new_settings)


def _apply_routing(system: AISystem, routing: dict, *, by, change: ChangeRequest) -> None:
    """Set the system's escalation routing from an approved parameter change."""
    from governance.services.escalations import routing_for  # escalations import this module

    if not isinstance(routing, dict) or not set(routing) <= {
        "ack_timeout_minutes",
        "level3_user",
        "level3_group",
    }:
        raise ApplicationError(
            gettext("routing takes ack_timeout_minutes, level3_user and level3_group."), status=409
        )
    policy = routing_for(system)
    before = {
        "ack_timeout_minutes": policy.ack_timeout_minutes,
        "level3_user": policy.level3_user_id,
        "level3_group": policy.level3_group_id,
    }
    if "ack_timeout_minutes" in routing:
        minutes = routing["ack_timeout_minutes"]
        if not isinstance(minutes, int) or isinstance(minutes, bool) or minutes < 1:
            raise ApplicationError(
                gettext("ack_timeout_minutes must be a whole number of minutes."), status=409
            )
        policy.ack_timeout_minutes = minutes
    if "level3_user" in routing:
        name = routing["level3_user"]
        policy.level3_user = (
            get_user_model().objects.filter(username=name, is_active=True).first() if name else None
        )
        if name and policy.level3_user is None:
            raise ApplicationError(
                gettext("No active person named %(name)s.") % {"name": f"{name!r}"}, status=409
            )
    if "level3_group" in routing:
        name = routing["level3_group"]
        policy.level3_group = Group.objects.filter(name=name).first() if name else None
        if name and policy.level3_group is None:
            raise ApplicationError(
                gettext("No group named %(name)s.") % {"name": f"{name!r}"}, status=409
            )
    policy.save()
    audit_record(
        actor=by,
        action="routing.update",
        obj=policy,
        system=system,
        before=before,
        after={
            "ack_timeout_minutes": policy.ack_timeout_minutes,
            "level3_user": policy.level3_user_id,
            "level3_group": policy.level3_group_id,
        },
        reason=f"change request {change.pk}",
    )


def change_request_roll_back(*, change: ChangeRequest, by, reason: str) -> ChangeRequest:
    """Record that a deployed change was rolled back, with why."""
    if not (reason or "").strip():
        raise ApplicationError(gettext("Say why the change was rolled back."), field="reason")
    with transaction.atomic():
        change = _locked(change)
        if not (has_role(by, Role.OPERATIONS_DIRECTOR) or _is_requester(change, by)):
            raise ApplicationError(
                gettext("Only an operations director or the requester records a rollback."),
                status=403,
            )
        _require_state(change, allowed={ChangeState.DEPLOYED}, to="rolled back")
        _move(
            change,
            by=by,
            to=ChangeState.ROLLED_BACK,
            action="change.roll_back",
            reason=reason,
            closed_at=timezone.now(),
            closing_reason=reason.strip(),
        )
    return change


def change_requests_rebind(*, model_version: ModelVersion, by=None) -> int:
    """A version's hash changed: void approvals of other hashes; approved requests resubmit.

    Called when the registry announces `version.rehash`. Returns how many
    requests were affected.
    """
    affected = 0
    with transaction.atomic():
        changes = ChangeRequest.objects.select_for_update().filter(
            model_version=model_version,
            state__in=[ChangeState.SUBMITTED, ChangeState.APPROVED],
        )
        now = timezone.now()
        for change in changes:
            voided = (
                Approval.objects.filter(change_request=change, voided_at__isnull=True)
                .exclude(bound_hash=model_version.content_hash)
                .update(voided_at=now, void_reason="version changed after approval")
            )
            before = change.state
            change.bound_hash = model_version.content_hash
            fields = ["bound_hash"]
            if change.state == ChangeState.APPROVED:
                change.state = ChangeState.SUBMITTED
                change.decided_at = None
                fields += ["state", "decided_at"]
            change.save(update_fields=fields)
            affected += 1
            audit_record(
                actor=by,
                action="change.rebind",
                obj=change,
                system=change.system,
                before={"state": before},
                after={"state": change.state, "voided_approvals": voided},
                reason="the bound model version changed",
            )
    return affected


def version_deployable(*, system: AISystem, model_version: ModelVersion) -> dict:
    """May this version go live? Yes when an approved change request is bound to it as it is now."""
    changes = list(
        ChangeRequest.objects.filter(system=system, model_version=model_version)
        .exclude(kind=ChangeKind.PARAMETER_CHANGE)
        .order_by("-created_at")
    )
    reasons: list[str] = []
    chosen = None
    for change in changes:
        if change.state in (ChangeState.APPROVED, ChangeState.DEPLOYED):
            if change.bound_hash != model_version.content_hash:
                reasons.append(f"CR-{change.pk} approved a different content hash.")
                continue
            approved = live_approvals(change).filter(bound_hash=model_version.content_hash).count()
            if approved >= approvals_required(change.risk_tier):
                chosen = change
                break
            reasons.append(f"CR-{change.pk} has {approved} of the approvals it needs.")
    if chosen:
        return {"deployable": True, "reasons": [], "change_request": chosen.pk}
    if not changes:
        reasons.append("No change request concerns this version; open one.")
    else:
        latest = changes[0]
        reasons.append(f"CR-{latest.pk} is {latest.get_state_display().lower()}.")
    return {
        "deployable": False,
        "reasons": reasons,
        "change_request": changes[0].pk if changes else None,
    }

"""The evidence pack of one AI system: a JSON bundle of what the portal holds, and its report.

`evidence_bundle` reads through the selectors and models and returns plain
JSON data, one section per question an auditor asks: how did the system move
through the stages, was it ready, who answers for it, which changes were
approved on what evidence, what went wrong, how each rollout went, and can the
audit trail be trusted. `evidence_html` renders that bundle (and nothing else)
as a self-contained HTML page, so the report can never say more or less than
the JSON beside it.

The sections (keys of the bundle, beside "format" and "generated_at"):
"system" (slug, name, tier, stage, deployed version and its hash);
"stage_history" (the audited transitions, and the daily gate snapshots);
"readiness" (verdict now, each indicator with value, threshold, window and
evidence, the exit criteria of the current stage, every waiver); "ownership"
(owner, budget authority, the signature in force with its text and hash, every
signature, AI-ops members, business-unit leads and their attestations);
"change_requests" (state, bound hash, every approval with its hash and the
metric snapshot it saw); "escalations"; "rollouts" (each cohort's verdict and
checkpoint metrics, approvals with their snapshots, pauses with root causes);
"audit_chain" (whether the whole trail verifies, counts, head hash, first break).

Every list is in chronological order (oldest first): an evidence pack is read
as a history. Times are ISO 8601 in UTC; the report shows them as UTC too.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from django.db.models import Prefetch
from django.template.loader import render_to_string
from django.utils.translation import ngettext

from governance.audit import HASHED_FIELDS, event_fields, plain_json, verify_chain
from governance.choices import (
    ChangeKind,
    ChangeState,
    EscalationSource,
    EscalationState,
    RootCause,
    Severity,
)
from governance.models import AccountabilitySignature, AuditEvent, Escalation
from governance.selectors import change_request_detail, ownership_status
from governance.services import approvals_required
from registry.choices import RiskTier, Stage
from registry.models import AISystem
from rollout.choices import CheckpointStatus, DrillOutcome, RolloutState, StepState, Verdict
from rollout.models import EvidencePack, GateSnapshot, Pause, Rollout, Waiver
from rollout.selectors import rollouts_list, system_gates
from rollout.views.common import INDICATOR_LABELS

# Bumped when a section changes shape, so a reader of old bundles can tell them apart.
BUNDLE_FORMAT = 1
AUDIT_CHUNK_SIZE = 2000
SECTIONS = (
    "system",
    "stage_history",
    "readiness",
    "ownership",
    "change_requests",
    "escalations",
    "rollouts",
    "audit_chain",
)


def _iso(at: datetime | None) -> str | None:
    return at.astimezone(UTC).isoformat() if at is not None else None


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _person(user) -> dict | None:
    if user is None:
        return None
    return {"username": user.get_username(), "name": user.get_full_name()}


# --- Sections ----------------------------------------------------------------------------------


def _system(system: AISystem) -> dict:
    deployed = system.deployed_version
    return {
        "slug": system.slug,
        "name": system.name,
        "business_unit": system.business_unit,
        "tier": system.risk_tier,
        "stage": system.stage,
        "created_at": _iso(system.created_at),
        "deployed_version": (
            {"version": deployed.version, "content_hash": deployed.content_hash}
            if deployed is not None
            else None
        ),
    }


def _stage_history(system: AISystem) -> dict:
    """The audited stage transitions, and the daily record of stage, criteria and readiness."""
    # system_id is indexed and survives a renamed slug; the events carry their own copy.
    events = AuditEvent.objects.filter(system_id=system.pk, action="system.stage").order_by("id")
    transitions = [
        {
            "event_id": event.pk,
            "at": _iso(event.at),
            "from": (event.before or {}).get("stage"),
            "to": (event.after or {}).get("stage"),
            "actor": event.actor_label,
            "reason": event.reason,
        }
        for event in events
    ]
    daily = [
        {
            "day": snapshot.day.isoformat(),
            "stage": snapshot.stage,
            "criteria_met": snapshot.criteria_met,
            "criteria_total": snapshot.criteria_total,
            "verdict": snapshot.verdict,
            "indicators_met": snapshot.indicators_met,
            "unmet": [i.get("key") for i in snapshot.indicators if not i.get("met")],
        }
        for snapshot in GateSnapshot.objects.filter(system=system).order_by("day")
    ]
    return {"transitions": transitions, "daily": daily}


def _readiness(system: AISystem, now: datetime) -> dict:
    """The seven indicators and the verdict as computed now, the exit criteria, the waivers."""
    gates = system_gates(system, now=now)
    waivers = Waiver.objects.filter(system=system).select_related("granted_by")
    return {
        "evaluated_at": _iso(now),
        "verdict": gates["verdict"],
        "indicators_met": sum(1 for i in gates["indicators"] if i.met),
        "unmet": gates["unmet"],
        "indicators": [
            {
                "number": i.number,
                "key": i.key,
                "label": str(INDICATOR_LABELS.get(i.key, i.key)),
                "met": i.met,
                "value": i.value,
                "threshold": i.threshold,
                "window": i.window,
                "evidence": list(i.evidence),
            }
            for i in gates["indicators"]
        ],
        "exit_criteria": {
            "stage": system.stage,
            "met": gates["criteria_met"],
            "criteria": [
                {"key": c.key, "label": c.label, "met": c.met, "evidence": c.evidence}
                for c, _url in gates["criteria"]
            ],
        },
        "waivers": [
            {
                "id": waiver.pk,
                "granted_at": _iso(waiver.granted_at),
                "granted_by": _person(waiver.granted_by),
                "unmet": waiver.unmet,
                "justification": waiver.justification,
                "indicators": waiver.indicators,
            }
            for waiver in waivers.order_by("granted_at", "id")
        ],
    }


def _signature(signature: AccountabilitySignature | None) -> dict | None:
    if signature is None:
        return None
    return {
        "signer": _person(signature.signer),
        "statement_text": signature.statement_text,
        "statement_hash": signature.statement_hash,
        # Recomputed here: the stored hash must be the hash of the stored text.
        "statement_hash_matches_text": _sha256(signature.statement_text)
        == signature.statement_hash,
        "budget_authority": signature.budget_authority,
        "signed_at": _iso(signature.signed_at),
        "expires_at": _iso(signature.expires_at),
    }


def _ownership(system: AISystem, now: datetime) -> dict:
    status = ownership_status(system, now=now)
    ownership = status.ownership
    history = (
        AccountabilitySignature.objects.filter(system=system)
        .select_related("signer")
        .order_by("signed_at", "id")
    )
    return {
        "owner": _person(ownership.owner),
        "owner_active": status.owner_active,
        "budget_authority": ownership.budget_authority,
        "statement_hash": ownership.statement_hash,
        "signed": status.signed,
        "signature": _signature(status.signature),
        "lapsed_signature": _signature(status.lapsed_signature),
        "signature_history": [
            {
                "signer": _person(signature.signer),
                "statement_hash": signature.statement_hash,
                "signed_at": _iso(signature.signed_at),
                "expires_at": _iso(signature.expires_at),
                "voided_at": _iso(signature.voided_at),
                "void_reason": signature.void_reason,
            }
            for signature in history
        ],
        "orphan_reasons": status.orphan_reasons,
        "ai_ops": [
            {"person": _person(member.user), "added_at": _iso(member.added_at)}
            for member in status.ai_ops
        ],
        "leads": [
            {
                "person": _person(lead.user),
                "business_unit": lead.business_unit,
                "briefing_attested_at": _iso(lead.briefing_attested_at),
            }
            for lead in status.leads
        ],
    }


def _change_requests(system: AISystem) -> list[dict]:
    changes = change_request_detail().filter(system_id=system.pk).order_by("created_at", "id")
    return [
        {
            "id": change.pk,
            "title": change.title,
            "kind": change.kind,
            "state": change.state,
            "risk_tier": change.risk_tier,
            "model_version": change.model_version.version if change.model_version else None,
            "parameters": change.parameters,
            "bound_hash": change.bound_hash,
            "requester": change.requester_label,
            "created_at": _iso(change.created_at),
            "submitted_at": _iso(change.submitted_at),
            "decided_at": _iso(change.decided_at),
            "deployed_at": _iso(change.deployed_at),
            "closed_at": _iso(change.closed_at),
            "closing_reason": change.closing_reason,
            "approvals_needed": approvals_required(change.risk_tier),
            "approvals_live": change.live_approval_count,
            "approvals": [
                {
                    "approver": _person(approval.approver),
                    "at": _iso(approval.decided_at),
                    "bound_hash": approval.bound_hash,
                    # Whether the approval was given for what the request binds now.
                    "matches_bound_hash": approval.bound_hash == change.bound_hash,
                    "comment": approval.comment,
                    "voided_at": _iso(approval.voided_at),
                    "void_reason": approval.void_reason,
                    "snapshot": approval.metric_snapshot,
                }
                for approval in change.approvals.all()
            ],
        }
        for change in changes
    ]


def _escalations(system: AISystem) -> list[dict]:
    escalations = (
        Escalation.objects.filter(system=system)
        .select_related("acknowledged_by", "resolved_by")
        .order_by("first_seen", "id")
    )
    return [
        {
            "id": escalation.pk,
            "title": escalation.title,
            "source": escalation.source,
            "severity": escalation.severity,
            "state": escalation.state,
            "level": escalation.level,
            "dedup_key": escalation.dedup_key,
            "occurrences": escalation.occurrences,
            "is_test": escalation.is_test,
            "first_seen": _iso(escalation.first_seen),
            "last_seen": _iso(escalation.last_seen),
            "acknowledged_at": _iso(escalation.acknowledged_at),
            "acknowledged_by": _person(escalation.acknowledged_by),
            "resolved_at": _iso(escalation.resolved_at),
            "resolved_by": _person(escalation.resolved_by),
            "root_cause": escalation.root_cause,
            "resolution_note": escalation.resolution_note,
        }
        for escalation in escalations
    ]


def _rollout(rollout: Rollout) -> dict:
    steps = sorted(rollout.steps.all(), key=lambda step: step.index)
    pauses = sorted(rollout.pauses.all(), key=lambda pause: (pause.at, pause.pk))
    return {
        "id": rollout.pk,
        "candidate": {
            "version": rollout.candidate.version,
            "content_hash": rollout.candidate.content_hash,
        },
        "previous_version": rollout.previous.version if rollout.previous else None,
        "change_request_id": rollout.change_request_id,
        "waiver_id": rollout.waiver_id,
        "state": rollout.state,
        "is_rehearsal": rollout.is_rehearsal,
        "cohorts": rollout.cohorts,
        "observation_seconds": rollout.observation_seconds,
        "min_points": rollout.min_points,
        "created_by": _person(rollout.created_by),
        "created_at": _iso(rollout.created_at),
        "started_at": _iso(rollout.started_at),
        "ended_at": _iso(rollout.ended_at),
        "rollback": (
            {
                "is_drill": rollout.rollback_is_drill,
                "outcome": rollout.rollback_outcome,
                "note": rollout.rollback_note,
            }
            if rollout.state == RolloutState.ROLLED_BACK
            else None
        ),
        "checkpoint_metrics": sorted(
            (
                {"metric": checkpoint.metric.key, "threshold": checkpoint.threshold}
                for checkpoint in rollout.checkpoint_metrics.all()
            ),
            key=lambda item: item["metric"],
        ),
        "steps": [
            {
                "index": step.index,
                "percent": step.percent,
                "state": step.state,
                "started_at": _iso(step.started_at),
                "awaiting_since": _iso(step.awaiting_since),
                "approved_at": _iso(step.approved_at),
                "verdict": step.verdict,
                "evaluated_at": _iso(step.evaluated_at),
                "metrics": step.verdict_detail,
                "approvals": [
                    {
                        "approver": _person(approval.approver),
                        "at": _iso(approval.at),
                        "snapshot": approval.snapshot,
                    }
                    for approval in sorted(step.approvals.all(), key=lambda a: (a.at, a.pk))
                ],
            }
            for step in steps
        ],
        "pauses": [
            {
                "at": _iso(pause.at),
                "cohort_percent": pause.step.percent,
                "reason": pause.reason,
                "automatic": pause.automatic,
                "paused_by": _person(pause.paused_by),
                "escalation_id": pause.escalation_id,
                "resumed_at": _iso(pause.resumed_at),
                "resumed_by": _person(pause.resumed_by),
                "root_cause": pause.root_cause,
                "root_cause_note": pause.root_cause_note,
            }
            for pause in pauses
        ],
    }


def _rollouts(system: AISystem) -> list[dict]:
    pauses = Pause.objects.select_related("step", "paused_by", "resumed_by")
    rollouts = (
        rollouts_list(system=system)
        .select_related("previous", "created_by")
        .prefetch_related(
            "steps__approvals__approver",
            "checkpoint_metrics__metric",
            Prefetch("pauses", queryset=pauses),
        )
        .order_by("created_at", "id")
    )
    return [_rollout(rollout) for rollout in rollouts]


def _audit_rows() -> Iterator[tuple[int, str, str, dict]]:
    """Every audit event as verify_chain reads it, in id order, streamed in chunks."""
    events = (
        AuditEvent.objects.order_by("id")
        .values("id", "prev_hash", "hash", *HASHED_FIELDS)
        .iterator(chunk_size=AUDIT_CHUNK_SIZE)
    )
    for event in events:
        yield event["id"], event["prev_hash"], event["hash"], event_fields(event)


def audit_chain_status(system: AISystem | None = None) -> dict:
    """The whole audit trail's verification (governance.audit.verify_chain), as JSON data.

    The chain is one for the whole portal, so it is verified whole; the count of
    this system's events is given beside it. `head_hash` is the hash of the last
    event that verified: kept with the pack, it reveals a later truncation.
    """
    result = verify_chain(_audit_rows())
    first_broken = None
    total = result.count
    if not result.ok:
        total = AuditEvent.objects.count()
        event = AuditEvent.objects.filter(pk=result.first_broken_id).first()
        first_broken = {
            "event_id": result.first_broken_id,
            "action": event.action if event else None,
            "at": _iso(event.at) if event else None,
            "reason": result.reason,
        }
    return {
        "verified": result.ok,
        "events": total,
        "verified_events": result.count if result.ok else result.count - 1,
        "system_events": (
            AuditEvent.objects.filter(system_id=system.pk).count() if system is not None else None
        ),
        "head_hash": result.head,
        "first_broken": first_broken,
    }


def evidence_bundle(system: AISystem, *, now: datetime) -> dict:
    """Everything the evidence pack says about `system`, as JSON-ready data (see the module)."""
    system = AISystem.objects.select_related("deployed_version").get(pk=system.pk)
    bundle = {
        "format": BUNDLE_FORMAT,
        "generated_at": _iso(now),
        "system": _system(system),
        "stage_history": _stage_history(system),
        "readiness": _readiness(system, now),
        "ownership": _ownership(system, now),
        "change_requests": _change_requests(system),
        "escalations": _escalations(system),
        "rollouts": _rollouts(system),
        # Last, so that it covers every event the sections above could have read.
        "audit_chain": audit_chain_status(system),
    }
    # As the database will give it back (jsonb), so the stored bundle hashes the same.
    return plain_json(bundle)


# --- Serialisation ----------------------------------------------------------------------------


def bundle_json(bundle: dict) -> bytes:
    """The downloaded file: UTF-8 JSON, keys sorted, indented; its SHA-256 is kept on the pack."""
    return (json.dumps(bundle, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def bundle_sha256(bundle: dict) -> str:
    return hashlib.sha256(bundle_json(bundle)).hexdigest()


# --- The report -------------------------------------------------------------------------------

TIME_KEYS = frozenset({"at", "first_seen", "last_seen", "awaiting_since"})


def _times(value: Any, key: str = "") -> Any:
    """A copy of `value` with every ISO time string (keys "at", "*_at", ...) as a datetime."""
    if isinstance(value, dict):
        return {k: _times(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_times(item, key) for item in value]
    if isinstance(value, str) and (key in TIME_KEYS or key.endswith("_at")):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def _duration(seconds: int) -> str:
    """A whole number of days, hours, minutes or seconds, in words."""
    if seconds and seconds % 86400 == 0:
        count = seconds // 86400
        return ngettext("%(count)d day", "%(count)d days", count) % {"count": count}
    if seconds and seconds % 3600 == 0:
        count = seconds // 3600
        return ngettext("%(count)d hour", "%(count)d hours", count) % {"count": count}
    if seconds and seconds % 60 == 0:
        count = seconds // 60
        return ngettext("%(count)d minute", "%(count)d minutes", count) % {"count": count}
    return ngettext("%(count)d second", "%(count)d seconds", seconds) % {"count": seconds}


def _label(choices, value: str) -> str:
    if not value:
        return ""
    return str(dict(choices.choices).get(value, value))


def _display(bundle: dict) -> dict:
    """The bundle as the template reads it: times as datetimes, choice values with labels."""
    view = _times(copy.deepcopy(bundle))
    system = view["system"]
    system["tier_label"] = _label(RiskTier, system["tier"])
    system["stage_label"] = _label(Stage, system["stage"])
    for transition in view["stage_history"]["transitions"]:
        transition["from_label"] = _label(Stage, transition["from"] or "")
        transition["to_label"] = _label(Stage, transition["to"] or "")
    for day in view["stage_history"]["daily"]:
        day["stage_label"] = _label(Stage, day["stage"])
        day["verdict_label"] = _label(Verdict, day["verdict"])
    readiness = view["readiness"]
    readiness["verdict_label"] = _label(Verdict, readiness["verdict"])
    readiness["exit_criteria"]["stage_label"] = _label(Stage, readiness["exit_criteria"]["stage"])
    for change in view["change_requests"]:
        change["kind_label"] = _label(ChangeKind, change["kind"])
        change["state_label"] = _label(ChangeState, change["state"])
        change["risk_label"] = _label(RiskTier, change["risk_tier"])
    for escalation in view["escalations"]:
        escalation["source_label"] = _label(EscalationSource, escalation["source"])
        escalation["severity_label"] = _label(Severity, escalation["severity"])
        escalation["state_label"] = _label(EscalationState, escalation["state"])
        escalation["root_cause_label"] = _label(RootCause, escalation["root_cause"])
    for rollout in view["rollouts"]:
        rollout["state_label"] = _label(RolloutState, rollout["state"])
        rollout["observation"] = _duration(rollout["observation_seconds"])
        if rollout["rollback"]:
            rollout["rollback"]["outcome_label"] = _label(
                DrillOutcome, rollout["rollback"]["outcome"]
            )
        for step in rollout["steps"]:
            step["state_label"] = _label(StepState, step["state"])
            step["verdict_label"] = _label(CheckpointStatus, step["verdict"])
            for metric in step["metrics"]:
                metric["status_label"] = _label(CheckpointStatus, metric.get("status", ""))
        for pause in rollout["pauses"]:
            pause["root_cause_label"] = _label(RootCause, pause["root_cause"])
    view["summary"] = {
        "open_escalations": sum(1 for e in view["escalations"] if e["state"] != "resolved"),
        "approvals": sum(len(c["approvals"]) for c in view["change_requests"]),
        "completed_rollouts": sum(1 for r in view["rollouts"] if r["state"] == "completed"),
    }
    return view


def evidence_html(bundle: dict) -> str:
    """The bundle as one self-contained HTML page: inline CSS with a print stylesheet, no script.

    The page is downloaded, not served under the portal's pages, so it loads
    nothing: no stylesheet, font, image or script from anywhere.
    """
    return render_to_string(
        "rollout/evidence_pack.html",
        {"pack": _display(bundle), "sha256": bundle_sha256(bundle)},
    )


# --- Reads ------------------------------------------------------------------------------------


def evidence_packs_list(*, system: AISystem):
    """A system's packs, newest first, without their (large) bundle and report."""
    return (
        EvidencePack.objects.filter(system=system)
        .select_related("system", "requested_by")
        .defer("bundle", "html")
        .order_by("-requested_at", "-id")
    )

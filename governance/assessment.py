"""The root-cause assessment of DOMAIN.md, as pure functions over plain data.

Each of the five root causes of scaling failure gets a risk score from 0 (no
sign of it) to 100 (it is what holds the system back), from two halves:

- the questionnaire: 3 to 5 questions per cause, each answered on a scale of 0
  (not at all) to 4 (fully, and checked); the cause's questionnaire risk is
  100 x (1 - mean answer / 4) over the questions answered;
- the evidence the portal already holds (`Evidence`), turned into a risk with
  the reasons listed, so the score moves by itself as data changes.

The score is the mean of the two halves when both exist, else the one there
is, else None (not assessed). The action plan is generated from the scores and
the system's stage: causes at or above `ACTION_LEVEL`, worst first, the causes
the current stage is about first among equals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

INTEGRATION = "integration"
OUTPUT_QUALITY = "output_quality"
MONITORING = "monitoring"
OWNERSHIP = "ownership"
TRAINING_DATA = "training_data"
CAUSES = (INTEGRATION, OUTPUT_QUALITY, MONITORING, OWNERSHIP, TRAINING_DATA)

SCALE = (
    (0, _("Not at all")),
    (1, _("Planned, not started")),
    (2, _("Partly")),
    (3, _("Mostly")),
    (4, _("Fully, and checked")),
)
ACTION_LEVEL = 30
HIGH_LEVEL = 60


@dataclass(frozen=True)
class Question:
    """One question of the questionnaire, answered on SCALE."""

    key: str
    cause: str
    text: str


QUESTIONS = (
    Question(
        "int_sources_mapped",
        INTEGRATION,
        _(
            "Is every production system the AI reads from or writes to (CRM, ERP, legacy "
            "databases, APIs) mapped, with an owner and a schema?"
        ),
    ),
    Question(
        "int_schemas_stable",
        INTEGRATION,
        _("Are the schemas of those systems versioned, with changes announced before they ship?"),
    ),
    Question(
        "int_tests",
        INTEGRATION,
        _("Do integration tests run against every production source on a schedule?"),
    ),
    Question(
        "int_errors_handled",
        INTEGRATION,
        _("Are failed calls, timeouts and malformed records handled without manual work?"),
    ),
    Question(
        "q_measured_at_volume",
        OUTPUT_QUALITY,
        _("Is output quality measured on production traffic, not only on the pilot's test set?"),
    ),
    Question(
        "q_error_cost",
        OUTPUT_QUALITY,
        _("Is the cost of an error at production volume known (errors a day, their impact)?"),
    ),
    Question(
        "q_human_review",
        OUTPUT_QUALITY,
        _("Are low-confidence or high-impact outputs routed to people for review?"),
    ),
    Question(
        "q_segments",
        OUTPUT_QUALITY,
        _("Is quality tracked per segment (product, region, channel), not only on average?"),
    ),
    Question(
        "m_dashboards",
        MONITORING,
        _("Are dashboards live for every required metric, fed automatically?"),
    ),
    Question("m_drift", MONITORING, _("Is input drift detected against a reference distribution?")),
    Question(
        "m_alerts",
        MONITORING,
        _("Do alerts reach a named person, and has the alert path been tested?"),
    ),
    Question(
        "o_owner",
        OWNERSHIP,
        _("Is there a named owner with budget authority after the pilot team hands over?"),
    ),
    Question(
        "o_ops",
        OWNERSHIP,
        _("Is there an AI-operations function that runs the system day to day?"),
    ),
    Question(
        "o_handover",
        OWNERSHIP,
        _("Has the pilot team handed over its knowledge (runbooks, decisions, contacts)?"),
    ),
    Question(
        "o_escalation",
        OWNERSHIP,
        _("Is it written down who decides when the system misbehaves, and how fast?"),
    ),
    Question(
        "t_volume",
        TRAINING_DATA,
        _("Is there enough labelled production-like data to train and evaluate on?"),
    ),
    Question(
        "t_representative",
        TRAINING_DATA,
        _("Does the training data cover production's noise, languages and edge cases?"),
    ),
    Question(
        "t_labelling",
        TRAINING_DATA,
        _("Is there a labelling process that keeps up with new production data?"),
    ),
)
QUESTION_KEYS = frozenset(question.key for question in QUESTIONS)


@dataclass(frozen=True)
class Evidence:
    """What the portal knows of one system, for the evidence half of each score."""

    stage: str
    # 1. integration
    sources: int = 0
    sources_without_schema: int = 0
    worst_integration_error_rate: float | None = None
    schema_failures: int = 0
    schema_warnings: int = 0
    # 2. output quality at volume
    quality_metrics: int = 0
    quality_cv: float | None = None
    breaches_recent: int = 0
    breaches_before: int = 0
    # 3. monitoring
    required_metrics: int = 0
    reporting_metrics: int = 0
    alert_tested: bool = False
    sources_evaluated: int = 0
    # 4. ownership
    owner: bool = False
    signed: bool = False
    budget_authority: bool = False
    ai_ops: int = 0
    orphaned: bool = False
    # 5. training data
    training_rows: int | None = None
    labelled_share: float | None = None
    worst_psi: float | None = None


@dataclass(frozen=True)
class CauseScore:
    """One cause's score and how it was reached."""

    cause: str
    score: int | None
    questionnaire: int | None
    evidence: int
    answered: int
    questions: int
    reasons: list[str] = field(default_factory=list)


def questionnaire_risk(cause: str, answers: Mapping[str, int]) -> tuple[int | None, int]:
    """The cause's questionnaire risk (None if unanswered) and how many questions were answered."""
    values = [answers[q.key] for q in QUESTIONS if q.cause == cause and q.key in answers]
    for value in values:
        if not 0 <= value <= 4:
            raise ValueError(f"an answer is from 0 to 4, got {value}")
    if not values:
        return None, 0
    return round(100 * (1 - sum(values) / (4 * len(values)))), len(values)


def _cap(value: float) -> int:
    return max(0, min(100, round(value)))


def integration_evidence(e: Evidence) -> tuple[int, list[str]]:
    """Cause 1: the integration error rate, schema changes and undocumented sources."""
    if e.sources == 0:
        return 60, [gettext("no data source is documented: the integration is unknown")]
    risk, reasons = 0.0, []
    if e.worst_integration_error_rate is None:
        risk += 30
        reasons.append(gettext("no integration-test run in the last 30 days"))
    else:
        risk += 60 * min(e.worst_integration_error_rate / 0.01, 1)
        reasons.append(
            gettext("worst integration error rate %(rate)s")
            % {"rate": f"{e.worst_integration_error_rate:.2%}"}
        )
    if e.schema_failures:
        risk += 20
        reasons.append(
            gettext("%(count)s source(s) with a removed or retyped field")
            % {"count": e.schema_failures}
        )
    elif e.schema_warnings:
        risk += 10
        reasons.append(
            gettext("%(count)s source(s) with an unannounced new field")
            % {"count": e.schema_warnings}
        )
    if e.sources_without_schema:
        risk += 20 * e.sources_without_schema / e.sources
        reasons.append(
            gettext("%(count)s of %(sources)s sources without a schema")
            % {"count": e.sources_without_schema, "sources": e.sources}
        )
    return _cap(risk), reasons


def output_quality_evidence(e: Evidence) -> tuple[int, list[str]]:
    """Cause 2: quality variance, breach counts, and breaches rising as use grows."""
    if e.quality_metrics == 0:
        return 60, [gettext("no output-quality metric is declared")]
    risk, reasons = 0.0, []
    if e.quality_cv is None:
        risk += 20
        reasons.append(gettext("no daily quality value in the last 30 days"))
    else:
        risk += 40 * min(e.quality_cv / 0.05, 1)
        reasons.append(
            gettext("daily quality varies by %(cv)s (coefficient of variation)")
            % {"cv": f"{e.quality_cv:.1%}"}
        )
    breaches = e.breaches_recent + e.breaches_before
    risk += 40 * min(breaches / 10, 1)
    reasons.append(gettext("%(count)s threshold breach(es) in 30 days") % {"count": breaches})
    if e.breaches_recent > e.breaches_before:
        risk += 20
        reasons.append(
            gettext("breaches rising: %(recent)s in the last 15 days, %(before)s in the 15 before")
            % {"recent": e.breaches_recent, "before": e.breaches_before}
        )
    return _cap(risk), reasons


def monitoring_evidence(e: Evidence) -> tuple[int, list[str]]:
    """Cause 3: coverage of the required metrics, a tested alert path, evaluated sources."""
    risk, reasons = 0.0, []
    if e.required_metrics == 0:
        risk += 50
        reasons.append(gettext("no required metric is declared"))
    else:
        coverage = e.reporting_metrics / e.required_metrics
        risk += 50 * (1 - coverage)
        reasons.append(
            gettext("%(reporting)s of %(required)s required metrics reported in 24 h")
            % {"reporting": e.reporting_metrics, "required": e.required_metrics}
        )
    if not e.alert_tested:
        risk += 30
        reasons.append(gettext("no test alert acknowledged in the last 30 days"))
    if e.sources:
        risk += 20 * (1 - e.sources_evaluated / e.sources)
        if e.sources_evaluated < e.sources:
            reasons.append(
                gettext("%(count)s source(s) never checked")
                % {"count": e.sources - e.sources_evaluated}
            )
    return _cap(risk), reasons


def ownership_evidence(e: Evidence) -> tuple[int, list[str]]:
    """Cause 4: a named, signed, funded owner, an AI-ops function, no orphan flag."""
    risk, reasons = 0.0, []
    if not e.owner:
        risk += 40
        reasons.append(gettext("no owner is named"))
    elif not e.signed:
        risk += 30
        reasons.append(gettext("the owner has not signed the accountability statement"))
    if not e.budget_authority:
        risk += 10
        reasons.append(gettext("no budget authority recorded"))
    if e.ai_ops == 0:
        risk += 20
        reasons.append(gettext("no AI-operations member"))
    if e.orphaned:
        risk += 30
        reasons.append(gettext("flagged orphaned (inactive owner or lapsed signature)"))
    return _cap(risk), reasons


def training_data_evidence(e: Evidence) -> tuple[int, list[str]]:
    """Cause 5: training rows and labelled share of the model version, drift from the reference."""
    risk, reasons = 0.0, []
    if e.training_rows is None:
        risk += 30
        reasons.append(gettext("the model version records no training-data size"))
    elif e.training_rows < 10_000:
        risk += 40
        reasons.append(gettext("only %(rows)s training rows") % {"rows": f"{e.training_rows:,}"})
    elif e.training_rows < 100_000:
        risk += 20
        reasons.append(gettext("%(rows)s training rows") % {"rows": f"{e.training_rows:,}"})
    if e.labelled_share is None:
        risk += 20
        reasons.append(gettext("no labelled share recorded"))
    elif e.labelled_share < 0.2:
        risk += 30
        reasons.append(
            gettext("only %(share)s of the training data is labelled")
            % {"share": f"{e.labelled_share:.0%}"}
        )
    elif e.labelled_share < 0.5:
        risk += 15
        reasons.append(
            gettext("%(share)s of the training data is labelled")
            % {"share": f"{e.labelled_share:.0%}"}
        )
    if e.worst_psi is not None and e.worst_psi > 0.25:
        risk += 30
        reasons.append(
            gettext("production inputs drift from the reference (PSI %(psi)s)")
            % {"psi": f"{e.worst_psi:.2f}"}
        )
    elif e.worst_psi is not None and e.worst_psi > 0.1:
        risk += 15
        reasons.append(
            gettext("production inputs drift a little (PSI %(psi)s)")
            % {"psi": f"{e.worst_psi:.2f}"}
        )
    return _cap(risk), reasons


EVIDENCE = {
    INTEGRATION: integration_evidence,
    OUTPUT_QUALITY: output_quality_evidence,
    MONITORING: monitoring_evidence,
    OWNERSHIP: ownership_evidence,
    TRAINING_DATA: training_data_evidence,
}


def scores(evidence: Evidence, answers: Mapping[str, int]) -> list[CauseScore]:
    """The five causes' scores, in DOMAIN.md's order."""
    result = []
    for cause in CAUSES:
        from_answers, answered = questionnaire_risk(cause, answers)
        from_evidence, reasons = EVIDENCE[cause](evidence)
        if from_answers is not None:
            reasons = [
                *reasons,
                gettext("questionnaire: risk %(risk)s from %(count)s answers")
                % {"risk": from_answers, "count": answered},
            ]
            score = round((from_answers + from_evidence) / 2)
        else:
            reasons = [*reasons, gettext("questionnaire not answered: the evidence alone")]
            score = from_evidence
        result.append(
            CauseScore(
                cause,
                score,
                from_answers,
                from_evidence,
                answered,
                sum(q.cause == cause for q in QUESTIONS),
                reasons,
            )
        )
    return result


# --- The action plan -----------------------------------------------------------------------

# The causes each stage is about (DOMAIN.md's four stages): they come first among equals.
STAGE_FOCUS = {
    "operational_architecture": (INTEGRATION, TRAINING_DATA),
    "evaluation_infrastructure": (MONITORING, OUTPUT_QUALITY),
    "ownership_governance": (OWNERSHIP,),
    "staged_rollout": (OUTPUT_QUALITY, MONITORING),
    "production": (OUTPUT_QUALITY, MONITORING),
}

ACTIONS = {
    INTEGRATION: (
        ("int-map", _("Map every production source the system touches, with its owner and schema")),
        ("int-tests", _("Run integration tests against every source daily and push the results")),
        ("int-schema", _("Agree schema-change notice with the owners of the sources that changed")),
    ),
    OUTPUT_QUALITY: (
        ("q-prod", _("Measure output quality on a sample of production traffic every day")),
        ("q-review", _("Route low-confidence outputs to a human reviewer queue")),
        ("q-segments", _("Break quality down by segment and find where it drops at volume")),
    ),
    MONITORING: (
        ("m-metrics", _("Instrument every required metric so it reports automatically")),
        ("m-alert", _("Send a test alert and have the owner acknowledge it")),
        ("m-drift", _("Set reference distributions and watch drift on every source")),
    ),
    OWNERSHIP: (
        ("o-sign", _("Name the owner with budget authority and have them sign the statement")),
        ("o-ops", _("Staff the AI-operations function and hand over the pilot's runbooks")),
        ("o-path", _("Write down the escalation path and who decides in an incident")),
    ),
    TRAINING_DATA: (
        ("t-label", _("Label a sample of recent production data for evaluation and retraining")),
        ("t-coverage", _("Check the training data covers production's noise and edge cases")),
        ("t-drift", _("Retrain or re-reference where production inputs drift")),
    ),
}


@dataclass(frozen=True)
class PlannedAction:
    """An item the plan proposes: its key (so it is proposed once), cause, title, due date."""

    key: str
    cause: str
    title: str
    priority: int
    due: date


def action_plan(scored: Sequence[CauseScore], *, stage: str, today: date) -> list[PlannedAction]:
    """Actions for every cause at or above ACTION_LEVEL, most urgent first.

    Causes are ordered by score, then by whether the stage is about them; a
    cause at HIGH_LEVEL or above gets two actions (due in 14 days), others one
    (due in 30). Priorities count from 1.
    """
    focus = STAGE_FOCUS.get(stage, ())
    ranked = sorted(
        (s for s in scored if s.score is not None and s.score >= ACTION_LEVEL),
        key=lambda s: (-s.score, s.cause not in focus, CAUSES.index(s.cause)),
    )
    plan: list[PlannedAction] = []
    for cause_score in ranked:
        high = cause_score.score >= HIGH_LEVEL
        for key, title in ACTIONS[cause_score.cause][: 2 if high else 1]:
            plan.append(
                PlannedAction(
                    key,
                    cause_score.cause,
                    title,
                    len(plan) + 1,
                    today + timedelta(days=14 if high else 30),
                )
            )
    return plan

"""Who may do what: every route of the portal x its methods x eleven actors, in one table.

test_access_matrix.py turns each cell into a test against one seeded dataset,
and fails when the URL resolver has a route this table does not list.

The actors (columns)
--------------------
anonymous, and people signed in through the browser session: Vic (viewer),
Ada (approver), Omar (System owner role, the named owner of the system under
test, "loan-classifier"), Olga (System owner role, the named owner of another
system, "fraud-screen"), Dana (operations director), Bo (business unit lead,
named lead of the system under test), Charlie (signed in, no role); then three
bearer tokens: the system's pipeline token, another system's pipeline token,
and Omar's personal API token.

The outcome classes (cells)
---------------------------
allowed
    The request passes the permission check: never 401, 403, 404 or 405, never
    a 5xx, never a redirect to a login page. A state-changing action may still
    answer 400 (bad input) or 409 (wrong state): that is the service deciding,
    after the permission check. Each row's object is seeded in a state where the
    action is possible, so for most rows "allowed" is a 2xx or a redirect.
refused: login (302 to a login page), 401, 403 or 404
    And a refused request writes nothing: no SQL INSERT, UPDATE or DELETE at all
    (the session table aside), so no audit event and no change of state.

The rules the cells follow (read from the code, its tests and docs/architecture.md)
----------------------------------------------------------------------------------
1. Pages use the browser session only. A bearer token is not a session, so on a
   page every token is anonymous: anonymous and tokens are sent to log in (302).
2. On a page, a signed-in person without a role gets the no-role page (403), as
   does a role whose rights do not cover the action (403). The portal's own home
   and "my work" pages are the exception: they greet anyone signed in (they say
   what a role would allow).
3. On the API, no credentials is 401; a signed-in person or token without the
   right is 403, except where a queryset is scoped to the caller, so that an
   object out of scope does not exist for them: a system or a data source out of
   a pipeline token's scope, and another person's personal token, are 404.
4. A personal token is its person on the API, with exactly that person's rights
   (so the "personal token" column equals Omar's on every API row), and nobody on
   the pages. One exception: a personal token cannot create personal tokens (a
   leaked one must not mint a successor that outlives its revocation).
5. Everyone with a role reads everything (the viewer is the auditor). Writes by
   role: operations directors register systems, direct ownership, plan and decide
   rollouts, move stages and grant waivers. The System owner role stewards the
   registry and the readiness drills of every system (architecture.md:
   "directors and system owners declare metrics, register versions, ... manage
   the system's pipeline tokens"; they register and edit data sources, answer
   the assessment, write rollback plans). Being the *named* owner of one system
   is what signs its statement, manages its webhooks, AI-ops staff and leads,
   handles its escalations and mutes its alerts. Approvers decide change
   requests (never their own); the requester (or a director) submits, deploys
   and rolls back, and only the requester cancels. A business unit lead attests
   their own briefing. Viewers, directors and system owners build evidence packs.
6. A pipeline token reads and writes only its own system (versions, points,
   reports, change requests; never thresholds, tokens, references or evidence),
   and pushes to the data sources that feed its system. Lists (systems, sources,
   change requests) answer it 200 with its own system's items only.
7. The Django admin (admin/...) is for staff only, and no actor here is staff:
   each is sent to the admin's login page. Its many model routes are covered by
   the rows of the admin's index and login (ADMIN_PREFIX).

Paths and bodies hold {placeholders}, filled from the seeded data of the test
(see test_access_matrix.World): the system, its source, one object per state
the actions start from, and the people's ids.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# --- The actors -------------------------------------------------------------------------------

ANONYMOUS = "anonymous"
VIEWER = "viewer"
APPROVER = "approver"
OWNER = "owner"
OTHER_OWNER = "other owner"
DIRECTOR = "director"
LEAD = "business unit lead"
OUTSIDER = "outsider"
PIPELINE = "pipeline"
OTHER_PIPELINE = "other pipeline"
PERSONAL = "personal token"

ACTORS = (
    ANONYMOUS,
    VIEWER,
    APPROVER,
    OWNER,
    OTHER_OWNER,
    DIRECTOR,
    LEAD,
    OUTSIDER,
    PIPELINE,
    OTHER_PIPELINE,
    PERSONAL,
)
TOKENS = frozenset({PIPELINE, OTHER_PIPELINE, PERSONAL})
# The person each session actor and the personal token stand for (usernames of the seed).
PEOPLE_BY_ACTOR = {
    VIEWER: "vic",
    APPROVER: "ada",
    OWNER: "omar",
    OTHER_OWNER: "olga",
    DIRECTOR: "dana",
    LEAD: "bo",
    OUTSIDER: "charlie",
}

# --- The outcome classes ----------------------------------------------------------------------

ALLOWED = "allowed"
LOGIN = "login"
UNAUTHORIZED = "401"
FORBIDDEN = "403"
HIDDEN = "404"

# --- Who: the sets the rows name --------------------------------------------------------------

PEOPLE = frozenset({VIEWER, APPROVER, OWNER, OTHER_OWNER, DIRECTOR, LEAD})  # with a role
SIGNED_IN = PEOPLE | {OUTSIDER}
EVERYONE = frozenset(ACTORS)
NOBODY: frozenset[str] = frozenset()
DIRECTORS = frozenset({DIRECTOR})
STEWARDS = frozenset({DIRECTOR, OWNER, OTHER_OWNER})  # directors and the System owner role
ACCOUNTABLE = frozenset({DIRECTOR, OWNER})  # directors and the system's named owner
REQUESTERS = frozenset({DIRECTOR, OWNER, OTHER_OWNER, APPROVER})  # open change requests
EVIDENCE_BUILDERS = frozenset({DIRECTOR, OWNER, OTHER_OWNER, VIEWER})

# On the API a personal token is Omar (rule 4); the system's pipeline joins where it may.
API_READERS = PEOPLE | {PIPELINE, PERSONAL}
API_LISTS = API_READERS | {OTHER_PIPELINE}  # answered with the caller's own items
API_PEOPLE = PEOPLE | {PERSONAL}
API_DIRECTORS = DIRECTORS
API_STEWARDS = STEWARDS | {PERSONAL}
API_STEWARDS_AND_PIPELINE = API_STEWARDS | {PIPELINE}

ADMIN_PREFIX = "admin/"

# Bodies that pass validation, so that a refusal can only be the permission check's.
SOURCE_FORM = {
    "name": "Branch scanner feed",
    "slug": "branch-scanner",
    "kind": "file",
    "description": "Scanned loan documents",
    "owner": "",
    "expected_interval_seconds": "3600",
    "expected_schema": '{"amount": "float", "branch": "string"}',
    "completeness_warn": "0.05",
    "completeness_fail": "0.2",
    "psi_warn": "0.1",
    "psi_fail": "0.25",
    "wasserstein_warn": "0.1",
    "drift_min_rows": "100",
}
CHANGE_FORM = {
    "kind": "parameter_change",
    "parameters": '{"review_threshold": 0.72}',
    "title": "Raise the review threshold",
    "description": "Fewer manual reviews",
    "rationale": "Precision is high enough",
    "risk_tier": "medium",
}
WINDOW = {"start": "2026-11-24 00:00", "end": "2026-11-25 00:00", "names": "amount"}
SYSTEM_JSON = {
    "slug": "{system}",
    "name": "Loan classifier",
    "purpose": "Scores loan applications",
    "business_unit": "Retail banking",
    "risk_tier": "medium",
}
VERSION_JSON = {"version": "{version}", "artifact_uri": "{artifact_uri}", "notes": "Reviewed"}
SPEC_JSON = {
    "key": "{metric}",
    "name": "Output quality",
    "kind": "quality",
    "unit": "",
    "direction": "higher_is_better",
    "warning": 0.92,
    "critical": 0.8,
    "aggregation": "mean",
    "required": True,
    "expected_interval_seconds": 3600,
    "pending_seconds": 0,
}
SOURCE_JSON = {
    "slug": "{source}",
    "name": "CRM feed",
    "kind": "crm",
    "description": "Core CRM",
    "expected_interval_seconds": 3600,
    "expected_schema": {"amount": "float", "channel": "string"},
}


@dataclass(frozen=True)
class Row:
    """One route and method (and, where one route serves several objects, a variant).

    `allowed` names the actors whose request passes the permission check; every
    other actor is refused, as the module's rules say, unless `hidden` says 404
    for them or `refusal` gives one class for all.
    """

    method: str
    name: str
    route: str
    path: str
    allowed: frozenset[str]
    data: Mapping | None = None
    hidden: frozenset[str] = field(default_factory=frozenset)
    refusal: str | None = None

    @property
    def is_api(self) -> bool:
        return self.route.startswith("api/")

    def outcome(self, actor: str) -> str:
        """The expected outcome class of this row for `actor`."""
        if actor in self.allowed:
            return ALLOWED
        if self.refusal:
            return self.refusal
        if actor in self.hidden:
            return HIDDEN
        if self.is_api:
            return UNAUTHORIZED if actor == ANONYMOUS else FORBIDDEN
        return LOGIN if actor == ANONYMOUS or actor in TOKENS else FORBIDDEN


def page(method, name, route, allowed, *, path=None, data=None, **kw) -> Row:
    """A browser page: its path is the route with the placeholders of the seed."""
    return Row(method, name, route, path or "/" + route, frozenset(allowed), data, **kw)


def api(method, name, route, allowed, *, path=None, data=None, **kw) -> Row:
    """An API route, mounted at /api/v1/ (bodies are JSON)."""
    return Row(
        method,
        name,
        "api/v1/" + route,
        path or "/api/v1/" + route,
        frozenset(allowed),
        data,
        **kw,
    )


def _both(name, route, allowed, *, data=None, **kw) -> list[Row]:
    """A page whose GET asks for confirmation and whose POST (with that data) does it."""
    return [
        page("GET", name, route, allowed, **kw),
        page("POST", name, route, allowed, data=data, **kw),
    ]


S = "systems/{system}/"  # the system under test, in paths
SYS = "systems/<slug:slug>/"  # in routes
OTHER = frozenset({OTHER_PIPELINE})

TABLE: tuple[Row, ...] = (
    # --- The portal shell ------------------------------------------------------------------
    page("GET", "home", "", SIGNED_IN),
    page("GET", "healthz", "healthz", EVERYONE),
    page("GET", "readyz", "readyz", EVERYONE),
    page("GET", "my-work", "my-work/", SIGNED_IN),
    page("GET", "login", "login/", EVERYONE),
    page("POST", "login", "login/", EVERYONE, data={"username": "nobody", "password": "wrong"}),
    page("POST", "logout", "logout/", EVERYONE),
    page("GET", "set-language", "i18n/setlang/", EVERYONE),
    page("POST", "set-language", "i18n/setlang/", EVERYONE, data={"language": "en", "next": "/"}),
    page("GET", "admin", "admin/", NOBODY, refusal=LOGIN),
    page("GET", "admin-login", "admin/login/", EVERYONE),
    Row("GET", "api-schema", "api/schema/", "/api/schema/", EVERYONE),
    Row("GET", "api-docs", "api/docs/", "/api/docs/", EVERYONE),
    # --- Registry pages ----------------------------------------------------------------------
    page("GET", "systems", "systems/", PEOPLE),
    page("GET", "system", SYS, PEOPLE, path="/" + S),
    page("GET", "versions", SYS + "versions/", PEOPLE, path=f"/{S}versions/"),
    page("GET", "system-tokens", SYS + "tokens/", STEWARDS, path=f"/{S}tokens/"),
    page(
        "POST",
        "system-tokens",
        SYS + "tokens/",
        STEWARDS,
        path=f"/{S}tokens/",
        data={"name": "matrix"},
    ),
    page("GET", "personal-tokens", "account/tokens/", PEOPLE),
    page("POST", "personal-tokens", "account/tokens/", PEOPLE, data={"name": "matrix"}),
    *_both(
        "token-revoke-pipeline",
        "tokens/<int:pk>/revoke/",
        STEWARDS,
        path="/tokens/{pipeline_token}/revoke/",
    ),
    *_both(
        "token-revoke-source",
        "tokens/<int:pk>/revoke/",
        STEWARDS,
        path="/tokens/{source_token}/revoke/",
    ),
    *_both(
        "token-revoke-personal",
        "tokens/<int:pk>/revoke/",
        {OWNER},
        path="/tokens/{personal_token}/revoke/",
    ),
    page("GET", "data-quality", "data-quality/", PEOPLE),
    *_both("source-create", "data-quality/new/", STEWARDS, data=SOURCE_FORM),
    page("GET", "source", "data-quality/<slug:slug>/", PEOPLE, path="/data-quality/{source}/"),
    *_both(
        "source-edit",
        "data-quality/<slug:slug>/edit/",
        STEWARDS,
        path="/data-quality/{source}/edit/",
        data=SOURCE_FORM | {"slug": "{source}", "name": "CRM feed"},
    ),
    *_both(
        "source-reference",
        "data-quality/<slug:slug>/reference/",
        STEWARDS,
        path="/data-quality/{source}/reference/",
        data=WINDOW,
    ),
    *_both(
        "source-tokens",
        "data-quality/<slug:slug>/tokens/",
        STEWARDS,
        path="/data-quality/{source}/tokens/",
        data={"name": "matrix"},
    ),
    # --- Governance pages: audit and ownership -------------------------------------------------
    page("GET", "audit", "audit/", PEOPLE),
    page("GET", "audit-export", "audit/export.csv", PEOPLE),
    page("GET", "ownership", SYS + "ownership/", PEOPLE, path=f"/{S}ownership/"),
    page(
        "POST",
        "ownership-assign",
        SYS + "ownership/owner/",
        DIRECTORS,
        path=f"/{S}ownership/owner/",
        data={"owner": "{omar_id}", "budget_authority": "HKD 2m a year", "reason": "Renewal"},
    ),
    page(
        "POST",
        "ownership-statement",
        SYS + "ownership/statement/",
        ACCOUNTABLE,
        path=f"/{S}ownership/statement/",
        data={"statement": "I am accountable for the outcomes, costs and risks of this system."},
    ),
    page(
        "POST",
        "ownership-sign",
        SYS + "ownership/sign/",
        {OWNER},
        path=f"/{S}ownership/sign/",
        data={"confirm": "on"},
    ),
    page(
        "POST",
        "member-add",
        SYS + "ownership/members/",
        ACCOUNTABLE,
        path=f"/{S}ownership/members/",
        data={"user": "{vic_id}"},
    ),
    page(
        "POST",
        "member-remove",
        SYS + "ownership/members/<int:pk>/remove/",
        ACCOUNTABLE,
        path=f"/{S}ownership/members/{{member}}/remove/",
    ),
    page(
        "POST",
        "lead-add",
        SYS + "ownership/leads/",
        ACCOUNTABLE,
        path=f"/{S}ownership/leads/",
        data={"user": "{vic_id}", "business_unit": "Cards"},
    ),
    page(
        "POST",
        "lead-remove",
        SYS + "ownership/leads/<int:pk>/remove/",
        ACCOUNTABLE,
        path=f"/{S}ownership/leads/{{lead}}/remove/",
    ),
    page(
        "POST",
        "briefing-attest",
        SYS + "ownership/leads/<int:pk>/attest/",
        {LEAD},
        path=f"/{S}ownership/leads/{{lead}}/attest/",
    ),
    # --- Governance pages: change requests (Omar requested each; Ada approves) ----------------
    page("GET", "changes", "changes/", PEOPLE),
    page("GET", "change", "changes/<int:pk>/", PEOPLE, path="/changes/{cr_submitted}/"),
    page("GET", "system-changes", SYS + "changes/", PEOPLE, path=f"/{S}changes/"),
    *_both(
        "change-new", SYS + "changes/new/", REQUESTERS, path=f"/{S}changes/new/", data=CHANGE_FORM
    ),
    *_both(
        "change-submit",
        "changes/<int:pk>/submit/",
        {OWNER, DIRECTOR},
        path="/changes/{cr_draft}/submit/",
    ),
    *_both(
        "change-approve",
        "changes/<int:pk>/approve/",
        {APPROVER},
        path="/changes/{cr_submitted}/approve/",
        data={"comment": "Evaluation reviewed"},
    ),
    *_both(
        "change-reject",
        "changes/<int:pk>/reject/",
        {APPROVER},
        path="/changes/{cr_submitted}/reject/",
        data={"reason": "No evaluation on recent data"},
    ),
    *_both(
        "change-cancel",
        "changes/<int:pk>/cancel/",
        {OWNER},
        path="/changes/{cr_draft}/cancel/",
        data={"reason": "Superseded"},
    ),
    *_both(
        "change-deploy",
        "changes/<int:pk>/deploy/",
        {OWNER, DIRECTOR},
        path="/changes/{cr_approved}/deploy/",
    ),
    *_both(
        "change-roll-back",
        "changes/<int:pk>/roll-back/",
        {OWNER, DIRECTOR},
        path="/changes/{cr_deployed}/roll-back/",
        data={"reason": "Latency regression"},
    ),
    # --- Governance pages: escalations, inbox, webhooks ---------------------------------------
    page("GET", "escalations", "escalations/", PEOPLE),
    page("GET", "escalation", "escalations/<int:pk>/", PEOPLE, path="/escalations/{escalation}/"),
    page(
        "POST",
        "escalation-acknowledge",
        "escalations/<int:pk>/acknowledge/",
        ACCOUNTABLE,
        path="/escalations/{escalation}/acknowledge/",
    ),
    page(
        "POST",
        "escalation-resolve",
        "escalations/<int:pk>/resolve/",
        ACCOUNTABLE,
        path="/escalations/{escalation}/resolve/",
        data={"note": "Fixed the feed", "root_cause": "integration"},
    ),
    page(
        "POST",
        "escalation-silence",
        "escalations/<int:pk>/silence/",
        ACCOUNTABLE,
        path="/escalations/{escalation}/silence/",
        data={"matcher": "report:", "reason": "Vendor maintenance", "hours": "2"},
    ),
    page("GET", "inbox", "inbox/", PEOPLE),
    page("POST", "inbox-read", "inbox/read/", PEOPLE),
    *_both(
        "webhooks",
        SYS + "webhooks/",
        ACCOUNTABLE,
        path=f"/{S}webhooks/",
        data={"url": "https://hooks.example.com/matrix"},
    ),
    page(
        "POST",
        "webhook-toggle",
        SYS + "webhooks/<int:pk>/toggle/",
        ACCOUNTABLE,
        path=f"/{S}webhooks/{{webhook}}/toggle/",
    ),
    # --- Governance pages: the root-cause assessment --------------------------------------------
    page("GET", "assessment-portfolio", "assessment/", PEOPLE),
    page("GET", "assessment", SYS + "assessment/", PEOPLE, path=f"/{S}assessment/"),
    page(
        "POST",
        "assessment",
        SYS + "assessment/",
        STEWARDS,
        path=f"/{S}assessment/",
        data={"int_sources_mapped": "2"},
    ),
    *_both("assessment-plan", SYS + "assessment/plan/", STEWARDS, path=f"/{S}assessment/plan/"),
    *_both(
        "assessment-item",
        SYS + "assessment/items/<int:pk>/",
        STEWARDS,
        path=f"/{S}assessment/items/{{item}}/",
        data={"title": "Document the CRM schema", "owner": "", "due_date": "2026-12-20"}
        | {"priority": "2"},
    ),
    *_both(
        "assessment-item-done",
        SYS + "assessment/items/<int:pk>/done/",
        STEWARDS,
        path=f"/{S}assessment/items/{{item}}/done/",
        data={"note": "Schema documented"},
    ),
    *_both(
        "assessment-item-drop",
        SYS + "assessment/items/<int:pk>/drop/",
        STEWARDS,
        path=f"/{S}assessment/items/{{item}}/drop/",
        data={"note": "No longer needed"},
    ),
    # --- Rollout pages: stage and readiness -----------------------------------------------------
    page("GET", "readiness", SYS + "readiness/", PEOPLE, path=f"/{S}readiness/"),
    *_both(
        "readiness-advance",
        SYS + "readiness/advance/",
        DIRECTORS,
        path=f"/{S}readiness/advance/",
        data={"confirm": "1"},
    ),
    *_both(
        "readiness-step-back",
        SYS + "readiness/step-back/",
        DIRECTORS,
        path=f"/{S}readiness/step-back/",
        data={"reason": "Redo the data flow", "confirm": "1"},
    ),
    *_both(
        "readiness-waiver",
        SYS + "readiness/waiver/",
        DIRECTORS,
        path=f"/{S}readiness/waiver/",
        data={"unmet": ["rollback"], "justification": "Drill on Monday", "confirm": "1"},
    ),
    *_both(
        "readiness-test-alert",
        SYS + "readiness/test-alert/",
        STEWARDS,
        path=f"/{S}readiness/test-alert/",
        data={"confirm": "1"},
    ),
    *_both(
        "readiness-intervention",
        SYS + "readiness/intervention/",
        STEWARDS,
        path=f"/{S}readiness/intervention/",
        data={"kind": "data_correction", "note": "Fixed by hand", "confirm": "1"},
    ),
    page(
        "POST",
        "readiness-rollback-plan",
        SYS + "readiness/rollback-plan/",
        STEWARDS,
        path=f"/{S}readiness/rollback-plan/",
        data={"text": "Route 0% to the candidate, then redeploy the previous version."},
    ),
    # --- Rollout pages: rollouts and their decisions (Dana decides) -----------------------------
    page("GET", "system-rollouts", SYS + "rollouts/", PEOPLE, path=f"/{S}rollouts/"),
    page(
        "POST",
        "system-rollouts",
        SYS + "rollouts/",
        DIRECTORS,
        path=f"/{S}rollouts/",
        data={"candidate": "{version_id}", "cohorts": "10, 100", "observation_hours": "1"}
        | {"min_points": "3", "is_rehearsal": "on"},
    ),
    page("GET", "rollouts", "rollouts/", PEOPLE),
    page("GET", "rollout", "rollouts/<int:pk>/", PEOPLE, path="/rollouts/{rollout_running}/"),
    *_both(
        "rollout-start",
        "rollouts/<int:pk>/start/",
        DIRECTORS,
        path="/rollouts/{rollout_planned}/start/",
        data={"confirm": "1"},
    ),
    *_both(
        "rollout-approve",
        "rollouts/<int:pk>/approve/",
        DIRECTORS,
        path="/rollouts/{rollout_running}/approve/",
        data={"step": "{step}", "confirm": "1"},
    ),
    *_both(
        "rollout-pause",
        "rollouts/<int:pk>/pause/",
        DIRECTORS,
        path="/rollouts/{rollout_running}/pause/",
        data={"reason": "Call-centre complaints", "confirm": "1"},
    ),
    *_both(
        "rollout-resume",
        "rollouts/<int:pk>/resume/",
        DIRECTORS,
        path="/rollouts/{rollout_paused}/resume/",
        data={"root_cause": "integration", "note": "CRM schema fixed", "confirm": "1"},
    ),
    *_both(
        "rollout-roll-back",
        "rollouts/<int:pk>/roll-back/",
        DIRECTORS,
        path="/rollouts/{rollout_running}/roll-back/",
        data={"reason": "Drill", "drill": "on", "outcome": "succeeded", "confirm": "1"},
    ),
    # --- Evidence pack pages ----------------------------------------------------------------
    page("GET", "evidence", SYS + "evidence/", PEOPLE, path=f"/{S}evidence/"),
    page("POST", "evidence", SYS + "evidence/", EVIDENCE_BUILDERS, path=f"/{S}evidence/"),
    page(
        "GET",
        "evidence-report",
        "evidence/<int:pk>/report.html",
        PEOPLE,
        path="/evidence/{pack}/report.html",
    ),
    page(
        "GET",
        "evidence-bundle",
        "evidence/<int:pk>/bundle.json",
        PEOPLE,
        path="/evidence/{pack}/bundle.json",
    ),
    # --- API: systems, versions, metric specs, ingestion, series ------------------------------
    api("GET", "api-systems", "systems/", API_LISTS),
    api(
        "POST",
        "api-systems",
        "systems/",
        API_DIRECTORS,
        data=SYSTEM_JSON | {"slug": "contract-reviewer", "name": "Contract reviewer"},
    ),
    api("GET", "api-system", SYS, API_READERS, path=f"/api/v1/{S}", hidden=OTHER),
    api(
        "PUT", "api-system", SYS, API_DIRECTORS, path=f"/api/v1/{S}", data=SYSTEM_JSON, hidden=OTHER
    ),
    api(
        "PATCH",
        "api-system",
        SYS,
        API_DIRECTORS,
        path=f"/api/v1/{S}",
        data={"purpose": "Scores every loan application"},
        hidden=OTHER,
    ),
    api("GET", "api-versions", SYS + "versions/", API_READERS, path=f"/api/v1/{S}versions/"),
    api(
        "POST",
        "api-versions",
        SYS + "versions/",
        API_STEWARDS_AND_PIPELINE,
        path=f"/api/v1/{S}versions/",
        data={"version": "9.0.0", "artifact_uri": "s3://models/matrix/9.0.0"},
    ),
    api(
        "GET",
        "api-version",
        SYS + "versions/<str:version>/",
        API_READERS,
        path=f"/api/v1/{S}versions/{{version}}/",
    ),
    api(
        "PUT",
        "api-version",
        SYS + "versions/<str:version>/",
        API_STEWARDS,
        path=f"/api/v1/{S}versions/{{version}}/",
        data=VERSION_JSON,
    ),
    api(
        "PATCH",
        "api-version",
        SYS + "versions/<str:version>/",
        API_STEWARDS,
        path=f"/api/v1/{S}versions/{{version}}/",
        data={"notes": "Reviewed"},
    ),
    api(
        "GET",
        "api-metric-specs",
        SYS + "metric-specs/",
        API_READERS,
        path=f"/api/v1/{S}metric-specs/",
    ),
    api(
        "POST",
        "api-metric-specs",
        SYS + "metric-specs/",
        API_STEWARDS,
        path=f"/api/v1/{S}metric-specs/",
        data=SPEC_JSON | {"key": "adoption", "name": "Adoption", "kind": "adoption"},
    ),
    api(
        "GET",
        "api-metric-spec",
        SYS + "metric-specs/<slug:key>/",
        API_READERS,
        path=f"/api/v1/{S}metric-specs/{{metric}}/",
    ),
    api(
        "PUT",
        "api-metric-spec",
        SYS + "metric-specs/<slug:key>/",
        API_STEWARDS,
        path=f"/api/v1/{S}metric-specs/{{metric}}/",
        data=SPEC_JSON,
    ),
    api(
        "PATCH",
        "api-metric-spec",
        SYS + "metric-specs/<slug:key>/",
        API_STEWARDS,
        path=f"/api/v1/{S}metric-specs/{{metric}}/",
        data={"warning": 0.93},
    ),
    api(
        "POST",
        "api-metrics-ingest",
        SYS + "metrics/",
        API_STEWARDS_AND_PIPELINE,
        path=f"/api/v1/{S}metrics/",
        data={
            "model_version": "{version}",
            "points": [{"metric": "{metric}", "value": 0.93, "at": "2026-11-25T11:00:00Z"}],
        },
    ),
    api(
        "GET",
        "api-metrics-series",
        SYS + "metrics/<slug:metric>/series/",
        API_READERS,
        path=f"/api/v1/{S}metrics/{{metric}}/series/",
    ),
    # --- API: tokens ------------------------------------------------------------------------
    api("GET", "api-system-tokens", SYS + "tokens/", API_STEWARDS, path=f"/api/v1/{S}tokens/"),
    api(
        "POST",
        "api-system-tokens",
        SYS + "tokens/",
        API_STEWARDS,
        path=f"/api/v1/{S}tokens/",
        data={"name": "matrix"},
    ),
    api(
        "DELETE",
        "api-system-token",
        SYS + "tokens/<int:pk>/",
        API_STEWARDS,
        path=f"/api/v1/{S}tokens/{{pipeline_token}}/",
    ),
    api("GET", "api-personal-tokens", "tokens/", API_PEOPLE),
    api("POST", "api-personal-tokens", "tokens/", PEOPLE, data={"name": "matrix"}),
    api(
        "DELETE",
        "api-personal-token",
        "tokens/<int:pk>/",
        {OWNER, PERSONAL},
        path="/api/v1/tokens/{personal_token}/",
        hidden=PEOPLE - {OWNER},
    ),
    # --- API: data sources ------------------------------------------------------------------
    api("GET", "api-sources", "sources/", API_LISTS),
    api(
        "POST",
        "api-sources",
        "sources/",
        API_STEWARDS,
        data=SOURCE_JSON | {"slug": "branch-scanner", "name": "Branch scanner"},
    ),
    api(
        "GET",
        "api-source",
        "sources/<slug:slug>/",
        API_READERS,
        path="/api/v1/sources/{source}/",
        hidden=OTHER,
    ),
    api(
        "PUT",
        "api-source",
        "sources/<slug:slug>/",
        API_STEWARDS,
        path="/api/v1/sources/{source}/",
        data=SOURCE_JSON,
        hidden=OTHER,
    ),
    api(
        "PATCH",
        "api-source",
        "sources/<slug:slug>/",
        API_STEWARDS,
        path="/api/v1/sources/{source}/",
        data={"description": "The core CRM export"},
        hidden=OTHER,
    ),
    api(
        "POST",
        "api-source-deliveries",
        "sources/<slug:slug>/deliveries/",
        API_STEWARDS_AND_PIPELINE,
        path="/api/v1/sources/{source}/deliveries/",
        data={"at": "2026-11-25T11:00:00Z", "rows": 6480},
    ),
    api(
        "POST",
        "api-source-profiles",
        "sources/<slug:slug>/profiles/",
        API_STEWARDS_AND_PIPELINE,
        path="/api/v1/sources/{source}/profiles/",
        data={
            "at": "2026-11-25T11:00:00Z",
            "rows": 6480,
            "fields": [{"name": "amount", "type": "float", "missing_share": 0.0}],
        },
    ),
    api(
        "POST",
        "api-source-integration-runs",
        "sources/<slug:slug>/integration-runs/",
        API_STEWARDS_AND_PIPELINE,
        path="/api/v1/sources/{source}/integration-runs/",
        data={"passed": 412, "failed": 3, "at": "2026-11-25T11:00:00Z"},
    ),
    api(
        "POST",
        "api-source-reference",
        "sources/<slug:slug>/reference/",
        API_STEWARDS,
        path="/api/v1/sources/{source}/reference/",
        data={"window": {"start": "2026-11-24T00:00:00Z", "end": "2026-11-25T00:00:00Z"}},
    ),
    api(
        "GET",
        "api-source-tokens",
        "sources/<slug:slug>/tokens/",
        API_STEWARDS,
        path="/api/v1/sources/{source}/tokens/",
    ),
    api(
        "POST",
        "api-source-tokens",
        "sources/<slug:slug>/tokens/",
        API_STEWARDS,
        path="/api/v1/sources/{source}/tokens/",
        data={"name": "matrix"},
    ),
    api(
        "DELETE",
        "api-source-token",
        "sources/<slug:slug>/tokens/<int:pk>/",
        API_STEWARDS,
        path="/api/v1/sources/{source}/tokens/{source_token}/",
    ),
    # --- API: change requests -----------------------------------------------------------------
    api(
        "GET",
        "api-system-changes",
        SYS + "change-requests/",
        API_READERS,
        path=f"/api/v1/{S}change-requests/",
    ),
    api(
        "POST",
        "api-system-changes",
        SYS + "change-requests/",
        REQUESTERS | {PIPELINE, PERSONAL},
        path=f"/api/v1/{S}change-requests/",
        data={
            "kind": "parameter_change",
            "title": "Raise the review threshold",
            "description": "Fewer manual reviews",
            "rationale": "Precision is high enough",
            "parameters": {"review_threshold": 0.72},
        },
    ),
    api(
        "GET",
        "api-version-deployable",
        SYS + "versions/<str:version>/deployable/",
        API_READERS,
        path=f"/api/v1/{S}versions/{{version}}/deployable/",
    ),
    api("GET", "api-changes", "change-requests/", API_LISTS),
    api(
        "GET",
        "api-change",
        "change-requests/<int:pk>/",
        API_READERS,
        path="/api/v1/change-requests/{cr_submitted}/",
    ),
    api(
        "POST",
        "api-change-submit",
        "change-requests/<int:pk>/submit/",
        {OWNER, DIRECTOR, PERSONAL},
        path="/api/v1/change-requests/{cr_draft}/submit/",
        data={},
    ),
    api(
        "POST",
        "api-change-approve",
        "change-requests/<int:pk>/approve/",
        {APPROVER},
        path="/api/v1/change-requests/{cr_submitted}/approve/",
        data={"comment": "Evaluation reviewed"},
    ),
    api(
        "POST",
        "api-change-reject",
        "change-requests/<int:pk>/reject/",
        {APPROVER},
        path="/api/v1/change-requests/{cr_submitted}/reject/",
        data={"reason": "No evaluation on recent data"},
    ),
    api(
        "POST",
        "api-change-cancel",
        "change-requests/<int:pk>/cancel/",
        {OWNER, PERSONAL},
        path="/api/v1/change-requests/{cr_draft}/cancel/",
        data={"reason": "Superseded"},
    ),
    api(
        "POST",
        "api-change-deploy",
        "change-requests/<int:pk>/deploy/",
        {OWNER, DIRECTOR, PERSONAL},
        path="/api/v1/change-requests/{cr_approved}/deploy/",
        data={},
    ),
    api(
        "POST",
        "api-change-roll-back",
        "change-requests/<int:pk>/roll-back/",
        {OWNER, DIRECTOR, PERSONAL},
        path="/api/v1/change-requests/{cr_deployed}/roll-back/",
        data={"reason": "Latency regression"},
    ),
    # --- API: reports, deployment status, evidence ----------------------------------------------
    api(
        "POST",
        "api-escalation-report",
        SYS + "escalations/",
        API_STEWARDS_AND_PIPELINE,
        path=f"/api/v1/{S}escalations/",
        data={"title": "Odd input", "severity": "warning", "dedup_key": "ocr-odd"},
    ),
    api(
        "GET",
        "api-deployment-status",
        SYS + "rollout/",
        API_READERS,
        path=f"/api/v1/{S}rollout/",
    ),
    api(
        "GET",
        "api-evidence-packs",
        SYS + "evidence-packs/",
        API_PEOPLE,
        path=f"/api/v1/{S}evidence-packs/",
    ),
    api(
        "POST",
        "api-evidence-packs",
        SYS + "evidence-packs/",
        EVIDENCE_BUILDERS | {PERSONAL},
        path=f"/api/v1/{S}evidence-packs/",
        data={},
    ),
    api(
        "GET",
        "api-evidence-pack",
        SYS + "evidence-packs/<int:pk>/",
        API_PEOPLE,
        path=f"/api/v1/{S}evidence-packs/{{pack}}/",
    ),
)

# Routes whose views answer any method (Django's own views, and the portal shell's two
# read-only pages): the check that every method of a route has a row skips them.
ANY_METHOD_ROUTES = frozenset({"", "my-work/", "login/", "i18n/setlang/", "admin/", "admin/login/"})

"""Properties of the seven readiness indicators and the verdict (rollout/indicators.py).

The boundaries are DOMAIN.md's: uptime strictly above 99.5%, error rate
strictly below 1%, 14 whole days with every quality value meeting its
threshold (a value exactly at the threshold meets it), data within 24 h, a
test alert within 30 days, a drill within 90 days. The main property: making
any one input better never makes any indicator, or the verdict, worse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from rollout import indicators as ind
from tests.properties import PROPERTIES

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
TODAY = NOW.date()
THRESHOLD = 0.9
RANK = {ind.READY: 0, ind.CONDITIONAL: 1, ind.DEFER: 2}
DAYS_BACK = 20


def meeting_values(higher: bool) -> list[float]:
    """Values that meet THRESHOLD: exactly at it, one ulp on the good side, well past it."""
    good = math.inf if higher else -math.inf
    return [THRESHOLD, math.nextafter(THRESHOLD, good), 1.0 if higher else 0.5]


def failing_values(higher: bool) -> list[float | None]:
    """Values that do not: one ulp on the bad side, well past it, no value at all."""
    bad = -math.inf if higher else math.inf
    return [math.nextafter(THRESHOLD, bad), 0.5 if higher else 1.0, None]


# --- Strategies ---------------------------------------------------------------------------


NAMES = st.sampled_from(["crm", "erp", "ledger"])
ages = st.timedeltas(min_value=timedelta(hours=-1), max_value=timedelta(days=120))


def within(limit: timedelta):
    return st.timedeltas(min_value=timedelta(0), max_value=limit).map(lambda age: NOW - age)


@st.composite
def pipelines(draw, *, met: bool = False) -> ind.Pipeline:
    """A pipeline; `met`: strictly above 99.5%. Otherwise often within 1% of perfect."""
    if met:
        expected = draw(st.integers(1, 5000))
        return ind.Pipeline(
            draw(NAMES), expected - draw(st.integers(0, (expected - 1) // 200)), expected
        )
    expected = draw(st.integers(0, 5000))
    up = expected - draw(st.integers(0, expected // 100) | st.integers(0, expected))
    return ind.Pipeline(draw(NAMES), up, expected)


@st.composite
def sources(draw, *, met: bool = False) -> ind.SourceTests:
    """A source's checks; `met`: strictly below 1% failed. Otherwise often below 2%."""
    if met:
        passed = draw(st.integers(99, 3000))
        return ind.SourceTests(draw(NAMES), passed, draw(st.integers(0, (passed - 1) // 99)))
    passed = draw(st.integers(0, 3000))
    failed = draw(st.integers(0, max(1, passed // 50)) | st.integers(0, 3000))
    return ind.SourceTests(draw(NAMES), passed, failed)


@st.composite
def planted_series(draw, *, met: bool = False) -> tuple[ind.QualitySeries, int]:
    """A quality series meeting the threshold on exactly the last `run` days (`met`: 14 or more)."""
    higher = draw(st.booleans())
    run = draw(st.integers(ind.QUALITY_DAYS if met else 0, DAYS_BACK - 1))
    daily: dict[date, float] = {}
    for back in range(1, DAYS_BACK + 1):
        if back <= run:
            value = draw(st.sampled_from(meeting_values(higher)))
        elif back == run + 1:
            value = draw(st.sampled_from(failing_values(higher)))
        else:
            value = draw(st.sampled_from(meeting_values(higher) + failing_values(higher)))
        if value is not None:
            daily[TODAY - timedelta(days=back)] = value
    return ind.QualitySeries("quality", higher, THRESHOLD, daily), run


def days_back(low: int, high: int):
    return st.lists(st.integers(low, high), max_size=3).map(
        lambda backs: [TODAY - timedelta(days=back) for back in backs]
    )


interventions = days_back(0, DAYS_BACK + 5)


@dataclass(frozen=True)
class Inputs:
    """Everything the seven indicators are computed from."""

    pipelines: list[ind.Pipeline]
    quality: list[ind.QualitySeries]
    interventions: list[date]
    sources: list[ind.SourceTests]
    owner: str | None
    signed: bool
    budget_authority: str
    ai_ops: list[str]
    last_points: dict[str, datetime | None]
    alert_acknowledged_at: datetime | None
    plan_written: bool
    drill_succeeded_at: datetime | None
    leads: dict[str, bool]


@st.composite
def inputs(draw) -> Inputs:
    """Inputs with some indicators surely met and the rest drawn freely (often near a boundary).

    Drawing everything freely would leave nearly every verdict at "defer";
    choosing first which indicators to leave free makes all three verdicts common.
    """
    free = draw(st.sets(st.integers(1, 7)))
    met = {n: n not in free for n in range(1, 8)}
    metric_names = st.sampled_from(["quality", "latency", "errors"])
    if met[5]:
        last_points = draw(st.dictionaries(metric_names, within(timedelta(hours=24)), min_size=1))
        alert = draw(within(timedelta(days=30)))
    else:
        last_points = draw(
            st.dictionaries(
                metric_names,
                st.none() | within(timedelta(hours=30)) | ages.map(lambda a: NOW - a),
                max_size=3,
            )
        )
        alert = draw(st.none() | within(timedelta(days=35)))
    return Inputs(
        pipelines=draw(st.lists(pipelines(met=met[1]), min_size=int(met[1]), max_size=3)),
        quality=[
            series
            for series, _ in draw(
                st.lists(planted_series(met=met[2]), min_size=int(met[2]), max_size=2)
            )
        ],
        # An intervention 20 days back or more is older than any planted run.
        interventions=draw(days_back(DAYS_BACK, DAYS_BACK + 5) if met[2] else interventions),
        sources=draw(st.lists(sources(met=met[3]), min_size=int(met[3]), max_size=3)),
        owner="Omar Owner" if met[4] else draw(st.sampled_from([None, "", "Omar Owner"])),
        signed=met[4] or draw(st.booleans()),
        budget_authority="EUR 2m" if met[4] else draw(st.sampled_from(["", "EUR 2m"])),
        ai_ops=["Ada"] if met[4] else draw(st.sampled_from([[], ["Ada"]])),
        last_points=last_points,
        alert_acknowledged_at=alert,
        plan_written=met[6] or draw(st.booleans()),
        drill_succeeded_at=draw(
            within(timedelta(days=90))
            if met[6]
            else st.none() | within(timedelta(days=95)) | ages.map(lambda a: NOW - a)
        ),
        leads=draw(
            st.dictionaries(
                st.sampled_from(["Bo", "Lee", "Kim"]),
                st.just(True) if met[7] else st.booleans(),
                min_size=int(met[7]),
            )
        ),
    )


def seven(given_inputs: Inputs) -> list[ind.Indicator]:
    i = given_inputs
    return [
        ind.pipeline_uptime(i.pipelines),
        ind.output_quality(metrics=i.quality, interventions=i.interventions, today=TODAY),
        ind.integration_testing(i.sources),
        ind.ownership(
            owner=i.owner, signed=i.signed, budget_authority=i.budget_authority, ai_ops=i.ai_ops
        ),
        ind.monitoring(
            metrics=i.last_points, alert_acknowledged_at=i.alert_acknowledged_at, now=NOW
        ),
        ind.rollback(plan_written=i.plan_written, drill_succeeded_at=i.drill_succeeded_at, now=NOW),
        ind.briefings(i.leads),
    ]


# --- Improvements: each returns inputs that are at least as good in one respect ----------


def _later(draw, at: datetime | None) -> datetime:
    """A time at or after `at` (any time if there was none), never after NOW."""
    newest = NOW - draw(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=120)))
    return newest if at is None or newest >= at else at


def _pick(draw, items: list):
    return draw(st.integers(0, len(items) - 1))


def improve(draw, i: Inputs) -> Inputs:
    """One input made better, chosen by Hypothesis."""
    options = ["sign", "budget", "ai_ops", "plan", "drill", "alert"]
    options += ["uptime"] * bool(i.pipelines) + ["tests"] * bool(i.sources)
    options += ["quality"] * bool(i.quality) + ["intervention"] * bool(i.interventions)
    options += ["freshness"] * bool(i.last_points) + ["attest"] * bool(i.leads)
    option = draw(st.sampled_from(options))
    if option == "sign":
        return replace(i, signed=True)
    if option == "budget":
        return replace(i, budget_authority="EUR 2m")
    if option == "ai_ops":
        return replace(i, ai_ops=[*i.ai_ops, "Cy"])
    if option == "plan":
        return replace(i, plan_written=True)
    if option == "drill":
        return replace(i, drill_succeeded_at=_later(draw, i.drill_succeeded_at))
    if option == "alert":
        return replace(i, alert_acknowledged_at=_later(draw, i.alert_acknowledged_at))
    if option == "uptime":
        n = _pick(draw, i.pipelines)
        p = i.pipelines[n]
        better = replace(p, up=draw(st.just(p.expected) | st.integers(p.up, p.expected)))
        return replace(i, pipelines=[*i.pipelines[:n], better, *i.pipelines[n + 1 :]])
    if option == "tests":
        n = _pick(draw, i.sources)
        s = i.sources[n]
        if draw(st.booleans()):
            better = replace(s, passed=s.passed + draw(st.integers(1, 5000)))
        else:
            better = replace(s, failed=draw(st.just(0) | st.integers(0, s.failed)))
        return replace(i, sources=[*i.sources[:n], better, *i.sources[n + 1 :]])
    if option == "quality":
        n = _pick(draw, i.quality)
        series = i.quality[n]
        day = TODAY - timedelta(days=draw(st.integers(1, DAYS_BACK)))
        old = series.daily.get(day)
        new = draw(st.sampled_from(meeting_values(series.higher_is_better)))
        if old is not None:
            new = max(old, new) if series.higher_is_better else min(old, new)
        better = replace(series, daily={**series.daily, day: new})
        return replace(i, quality=[*i.quality[:n], better, *i.quality[n + 1 :]])
    if option == "intervention":
        n = _pick(draw, i.interventions)
        return replace(i, interventions=i.interventions[:n] + i.interventions[n + 1 :])
    if option == "freshness":
        name = draw(st.sampled_from(sorted(i.last_points)))
        return replace(i, last_points={**i.last_points, name: _later(draw, i.last_points[name])})
    name = draw(st.sampled_from(sorted(i.leads)))
    return replace(i, leads={**i.leads, name: True})


# --- The main property --------------------------------------------------------------------


@PROPERTIES
@given(inputs(), st.data())
def test_improving_any_input_never_worsens_an_indicator_or_the_verdict(before, data):
    after = improve(data.draw, before)
    old, new = seven(before), seven(after)
    for was, now in zip(old, new, strict=True):
        assert now.met or not was.met, (was.key, was, now)
    assert RANK[ind.verdict(new)] <= RANK[ind.verdict(old)]


# --- The verdict --------------------------------------------------------------------------


def indicator(number: int, met: bool) -> ind.Indicator:
    return ind.Indicator(number, f"i{number}", met, "", "", "")


@PROPERTIES
@given(st.lists(st.booleans(), min_size=7, max_size=7), st.randoms(use_true_random=False))
def test_the_verdict_counts_the_unmet_indicators_in_any_order(met, random):
    indicators = [indicator(n, m) for n, m in enumerate(met, start=1)]
    unmet = met.count(False)
    expected = ind.READY if unmet == 0 else ind.CONDITIONAL if unmet <= 2 else ind.DEFER
    assert ind.verdict(indicators) == expected
    random.shuffle(indicators)
    assert ind.verdict(indicators) == expected


@PROPERTIES
@given(st.lists(st.booleans(), min_size=7, max_size=7), st.integers(0, 6))
def test_meeting_one_more_indicator_never_worsens_the_verdict(met, n):
    better = [*met[:n], True, *met[n + 1 :]]
    before = ind.verdict([indicator(k, m) for k, m in enumerate(met, start=1)])
    after = ind.verdict([indicator(k, m) for k, m in enumerate(better, start=1)])
    assert RANK[after] <= RANK[before]


# --- 1. Uptime ------------------------------------------------------------------------------


@PROPERTIES
@given(st.lists(pipelines(), min_size=1, max_size=4))
def test_uptime_is_met_exactly_when_every_pipeline_is_strictly_above_99_5_percent(pipes):
    # In integers: up / expected > 995 / 1000, i.e. 200 * up > 199 * expected.
    expected = all(p.expected and 200 * p.up > 199 * p.expected for p in pipes)
    assert ind.pipeline_uptime(pipes).met is expected


@PROPERTIES
@given(st.integers(1, 5000))
def test_uptime_exactly_at_99_5_percent_is_unmet_and_one_interval_more_is_met(k):
    assert not ind.pipeline_uptime([ind.Pipeline("crm", 199 * k, 200 * k)]).met
    assert ind.pipeline_uptime([ind.Pipeline("crm", 199 * k + 1, 200 * k)]).met


@PROPERTIES
@given(st.lists(pipelines(), min_size=1, max_size=3), pipelines())
def test_another_pipeline_never_turns_unmet_uptime_into_met(pipes, extra):
    if not ind.pipeline_uptime(pipes).met:
        assert not ind.pipeline_uptime([*pipes, extra]).met


# --- 2. Output quality ---------------------------------------------------------------------


@PROPERTIES
@given(st.lists(planted_series(), min_size=1, max_size=3), interventions)
def test_the_streak_is_the_shortest_met_run_cut_by_the_latest_intervention(planted, manual):
    metrics = [series for series, _ in planted]
    expected = min(run for _, run in planted)
    if manual:
        # The intervention's own day does not count, nor does anything before it.
        expected = min(expected, max(0, (TODAY - max(manual)).days - 1))
    assert ind.quality_streak(metrics=metrics, interventions=manual, today=TODAY) == expected
    indicator_2 = ind.output_quality(metrics=metrics, interventions=manual, today=TODAY)
    assert indicator_2.met is (expected >= ind.QUALITY_DAYS)


@PROPERTIES
@given(st.booleans(), st.integers(1, ind.QUALITY_DAYS))
def test_fourteen_days_exactly_at_the_threshold_are_met_and_one_ulp_worse_is_not(higher, back):
    days = [TODAY - timedelta(days=n) for n in range(1, ind.QUALITY_DAYS + 1)]
    at_threshold = ind.QualitySeries("q", higher, THRESHOLD, dict.fromkeys(days, THRESHOLD))
    assert ind.output_quality(metrics=[at_threshold], interventions=[], today=TODAY).met
    worse = math.nextafter(THRESHOLD, -math.inf if higher else math.inf)
    one_day_off = replace(
        at_threshold, daily={**at_threshold.daily, TODAY - timedelta(days=back): worse}
    )
    assert not ind.output_quality(metrics=[one_day_off], interventions=[], today=TODAY).met


@PROPERTIES
@given(st.lists(planted_series(), min_size=1, max_size=2), planted_series(), interventions)
def test_another_quality_metric_never_lengthens_the_streak(planted, extra, manual):
    metrics = [series for series, _ in planted]
    streak = ind.quality_streak(metrics=metrics, interventions=manual, today=TODAY)
    more = ind.quality_streak(metrics=[*metrics, extra[0]], interventions=manual, today=TODAY)
    assert more <= streak


@PROPERTIES
@given(st.lists(planted_series(), min_size=1, max_size=2), interventions, st.integers(0, 30))
def test_another_manual_intervention_never_lengthens_the_streak(planted, manual, back):
    metrics = [series for series, _ in planted]
    streak = ind.quality_streak(metrics=metrics, interventions=manual, today=TODAY)
    extra = [*manual, TODAY - timedelta(days=back)]
    assert ind.quality_streak(metrics=metrics, interventions=extra, today=TODAY) <= streak


def test_no_quality_metric_is_unmet():
    assert not ind.output_quality(metrics=[], interventions=[], today=TODAY).met


# --- 3. Integration testing -----------------------------------------------------------------


@PROPERTIES
@given(st.lists(sources(), min_size=1, max_size=4))
def test_integration_is_met_exactly_when_every_source_is_strictly_below_one_percent(tested):
    # In integers: failed / total < 1 / 100, i.e. 100 * failed < total.
    expected = all(s.passed + s.failed and 100 * s.failed < s.passed + s.failed for s in tested)
    assert ind.integration_testing(tested).met is expected


@PROPERTIES
@given(st.integers(1, 5000))
def test_an_error_rate_of_exactly_one_percent_is_unmet(k):
    assert not ind.integration_testing([ind.SourceTests("crm", 99 * k, k)]).met
    assert ind.integration_testing([ind.SourceTests("crm", 99 * k + 1, k)]).met


# --- 4 to 7: ownership, monitoring, rollback, briefings ---------------------------------------


@PROPERTIES
@given(
    st.sampled_from([None, "", "Omar Owner"]),
    st.booleans(),
    st.sampled_from(["", "EUR 2m"]),
    st.lists(st.sampled_from(["Ada", "Bo"]), max_size=2),
)
def test_ownership_needs_a_signed_named_owner_budget_authority_and_ai_ops(
    owner, signed, budget, ai_ops
):
    result = ind.ownership(owner=owner, signed=signed, budget_authority=budget, ai_ops=ai_ops)
    assert result.met is bool(owner and signed and budget and ai_ops)


@PROPERTIES
@given(
    st.dictionaries(st.sampled_from(["quality", "latency"]), ages, min_size=1),
    ages,
)
def test_monitoring_allows_exactly_24_hours_of_silence_and_30_days_since_the_alert(
    silence, alert_age
):
    result = ind.monitoring(
        metrics={name: NOW - age for name, age in silence.items()},
        alert_acknowledged_at=NOW - alert_age,
        now=NOW,
    )
    fresh = all(age <= timedelta(hours=24) for age in silence.values())
    assert result.met is (fresh and alert_age <= timedelta(days=30))


ticks = st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=2))


@PROPERTIES
@given(ticks)
def test_monitoring_turns_unmet_any_time_past_24_hours_or_30_days(tick):
    day, month = NOW - timedelta(hours=24), NOW - timedelta(days=30)
    assert ind.monitoring(metrics={"q": day}, alert_acknowledged_at=month, now=NOW).met
    assert not ind.monitoring(metrics={"q": day - tick}, alert_acknowledged_at=month, now=NOW).met
    assert not ind.monitoring(metrics={"q": day}, alert_acknowledged_at=month - tick, now=NOW).met


@PROPERTIES
@given(ticks)
def test_a_rollback_drill_exactly_90_days_old_counts_and_any_older_does_not(tick):
    drill = NOW - timedelta(days=90)
    assert ind.rollback(plan_written=True, drill_succeeded_at=drill, now=NOW).met
    assert not ind.rollback(plan_written=True, drill_succeeded_at=drill - tick, now=NOW).met


@PROPERTIES
@given(st.booleans(), st.none() | ages)
def test_rollback_needs_a_plan_and_a_drill_at_most_90_days_old(plan, drill_age):
    result = ind.rollback(
        plan_written=plan,
        drill_succeeded_at=None if drill_age is None else NOW - drill_age,
        now=NOW,
    )
    assert result.met is (plan and drill_age is not None and drill_age <= timedelta(days=90))


@PROPERTIES
@given(st.dictionaries(st.text(min_size=1, max_size=8), st.booleans(), max_size=5))
def test_briefings_need_at_least_one_lead_and_every_lead_attested(leads):
    assert ind.briefings(leads).met is (bool(leads) and all(leads.values()))

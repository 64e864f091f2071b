"""The checkpoint verdict: pass, fail or insufficient data, never silently one of the others."""

import pytest

from rollout.checkpoints import CheckpointMetric, aggregate, checkpoint_verdict, observe


def metric(values, *, key="output_quality", threshold=0.85, higher=True, aggregation="mean"):
    return CheckpointMetric(key, higher, threshold, aggregation, observe(aggregation, values))


def test_enough_points_meeting_the_threshold_pass():
    verdict = checkpoint_verdict([metric([0.9, 0.88, 0.86])], min_points=3)
    assert verdict.status == "pass"
    assert verdict.reasons == []


def test_one_point_short_is_insufficient_data_not_a_pass():
    verdict = checkpoint_verdict([metric([0.9, 0.9])], min_points=3)
    assert verdict.status == "insufficient_data"
    assert verdict.reasons == ["output_quality: 2 of 3 points needed"]


def test_a_breach_fails_even_while_another_metric_is_short_of_points():
    verdict = checkpoint_verdict(
        [
            metric([0.5, 0.5, 0.5]),
            metric([10.0], key="error_rate", threshold=0.02, higher=False),
        ],
        min_points=3,
    )
    assert verdict.status == "fail"
    assert verdict.reasons[0] == "output_quality: mean 0.5 over 3 points, must be >= 0.85"


def test_a_value_equal_to_the_threshold_passes():
    assert checkpoint_verdict([metric([0.85])], min_points=1).status == "pass"
    lower = metric([0.02], key="error_rate", threshold=0.02, higher=False)
    assert checkpoint_verdict([lower], min_points=1).status == "pass"


def test_no_metric_is_insufficient_data():
    assert checkpoint_verdict([], min_points=1).status == "insufficient_data"


def test_min_points_must_be_positive():
    with pytest.raises(ValueError, match="min_points"):
        checkpoint_verdict([metric([1.0])], min_points=0)


@pytest.mark.parametrize(
    ("aggregation", "expected"),
    [("mean", 5.5), ("min", 1), ("max", 10), ("last", 10), ("sum", 55), ("p95", 10)],
)
def test_points_fold_by_the_metrics_aggregation(aggregation, expected):
    assert aggregate(aggregation, [float(v) for v in range(1, 11)]) == expected


def test_p95_is_the_nearest_rank():
    # 20 values 1..20: the 19th is the smallest with 95% of the values at or below it.
    assert aggregate("p95", [float(v) for v in range(20, 0, -1)]) == 19


def test_an_unknown_aggregation_or_no_values_is_refused():
    with pytest.raises(ValueError, match="unknown aggregation"):
        aggregate("median", [1.0])
    with pytest.raises(ValueError, match="no values"):
        aggregate("mean", [])


def test_observing_no_point_has_no_aggregate():
    assert observe("mean", []).value is None
    assert observe("p95", [3.0, 1.0]).points == 2

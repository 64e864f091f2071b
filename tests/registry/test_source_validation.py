"""The push contract of data sources as pure functions: every rule, its boundary, its message."""

from datetime import UTC, datetime, timedelta

import pytest

from registry.source_validation import (
    MAX_FIELDS,
    Distribution,
    FieldObservation,
    TooManyFields,
    validate_delivery,
    validate_fields,
    validate_integration_run,
    validate_profile_batch,
    validate_reference,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
RETENTION = timedelta(days=400)
SECOND = timedelta(seconds=1)


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def histogram(edges=(0, 10, 20), counts=(60, 40)):
    return {"edges": list(edges), "counts": list(counts)}


def field(name="amount", **extra):
    return {"name": name, "type": "float", "missing_share": 0.01} | extra


def fields_errors(fields, **kwargs):
    return validate_fields(fields, **kwargs)[1]


def where(errors):
    return [(error["index"], error["field"]) for error in errors]


# Deliveries -------------------------------------------------------------------------------


def test_a_delivery_defaults_to_now_and_keeps_its_row_count():
    assert validate_delivery({}, now=NOW, retention=RETENTION) == (NOW, None, [])
    at, rows, errors = validate_delivery(
        {"at": "2026-11-25T10:00:00+08:00", "rows": 48210}, now=NOW, retention=RETENTION
    )
    assert (at, rows, errors) == (datetime(2026, 11, 25, 2, 0, tzinfo=UTC), 48210, [])


def test_a_delivery_with_unknown_fields_names_each_and_lists_the_allowed_ones():
    _at, _rows, errors = validate_delivery(
        {"rows": 1, "colour": "red", "size": 2}, now=NOW, retention=RETENTION
    )
    assert where(errors) == [(None, "colour"), (None, "size")]
    assert errors[0] == {
        "index": None,
        "field": "colour",
        "message": "unknown field 'colour'; allowed: at, rows",
        "code": "invalid",
    }


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (-1, "must not be negative"),
        (True, "must be a whole number"),  # a bool is not a count, though Python says int
        (False, "must be a whole number"),
        (1.5, "must be a whole number"),
        ("10", "must be a whole number"),
        (10**15 + 1, "is too large"),
    ],
)
def test_a_delivery_row_count_is_a_whole_non_negative_number(rows, message):
    _at, clean, errors = validate_delivery({"rows": rows}, now=NOW, retention=RETENTION)
    assert clean is None
    assert [(e["field"], e["message"]) for e in errors] == [("rows", message)]


def test_a_whole_float_row_count_is_taken_as_an_integer():
    _at, rows, errors = validate_delivery({"rows": 12.0}, now=NOW, retention=RETENTION)
    assert (rows, type(rows), errors) == (12, int, [])


@pytest.mark.parametrize(
    ("at", "accepted"),
    [
        (NOW + timedelta(minutes=5), True),  # exactly the tolerance
        (NOW + timedelta(minutes=5) + SECOND, False),
        (NOW - RETENTION, True),  # exactly the retention
        (NOW - RETENTION - SECOND, False),
    ],
)
def test_a_delivery_time_is_at_most_5_minutes_ahead_and_within_the_retention(at, accepted):
    clean, _rows, errors = validate_delivery({"at": iso(at)}, now=NOW, retention=RETENTION)
    assert (clean == at) is accepted
    assert (errors == []) is accepted


def test_the_time_errors_say_what_is_wrong():
    future = validate_delivery({"at": "2026-11-25T12:05:01Z"}, now=NOW, retention=RETENTION)[2]
    old = validate_delivery({"at": "2025-01-01T00:00:00Z"}, now=NOW, retention=RETENTION)[2]
    naive = validate_delivery({"at": "2026-11-25T10:00:00"}, now=NOW, retention=RETENTION)[2]
    assert future[0]["message"] == "is more than 5 minutes in the future"
    assert old[0]["message"] == "is older than the retention period (400 days)"
    assert "has no time zone" in naive[0]["message"]


@pytest.mark.parametrize("body", [[], "text", 3, None])
def test_a_delivery_body_must_be_an_object(body):
    assert validate_delivery(body, now=NOW, retention=RETENTION) == (
        None,
        None,
        [
            {
                "index": None,
                "field": None,
                "message": "the body must be a JSON object",
                "code": "invalid",
            }
        ],
    )


# Integration runs -------------------------------------------------------------------------


def test_an_integration_run_is_passed_failed_and_a_time():
    cleaned, errors = validate_integration_run(
        {"passed": 412, "failed": 3}, now=NOW, retention=RETENTION
    )
    assert (cleaned, errors) == ((NOW, 412, 3), [])


def test_an_integration_run_needs_both_counts_and_lists_every_problem():
    cleaned, errors = validate_integration_run(
        {"failed": -1, "at": "soon", "extra": 1}, now=NOW, retention=RETENTION
    )
    assert cleaned is None
    assert [(e["field"], e["message"]) for e in errors] == [
        ("extra", "unknown field 'extra'; allowed: at, failed, passed"),
        ("passed", "this field is required"),
        ("failed", "must not be negative"),
        ("at", "'soon' is not an ISO 8601 time"),
    ]


def test_an_integration_run_refuses_bools_as_counts():
    _cleaned, errors = validate_integration_run(
        {"passed": True, "failed": 0}, now=NOW, retention=RETENTION
    )
    assert [(e["field"], e["message"]) for e in errors] == [("passed", "must be a whole number")]


def test_an_integration_run_holds_at_least_one_check():
    cleaned, errors = validate_integration_run(
        {"passed": 0, "failed": 0}, now=NOW, retention=RETENTION
    )
    assert cleaned is None
    assert errors[0]["message"] == "a run holds at least one check (passed + failed > 0)"
    assert validate_integration_run({"passed": 0, "failed": 1}, now=NOW, retention=RETENTION)[
        0
    ] == (NOW, 0, 1)


# Fields -----------------------------------------------------------------------------------


def test_a_numeric_and_a_categorical_field_are_cleaned():
    fields, errors = validate_fields(
        [
            field(histogram=histogram(edges=[0, 10.5, 20], counts=[3.0, 4])),
            {"name": " branch ", "type": "string", "categories": {"north": 2, "south": 1}},
            {"name": "note"},
        ]
    )
    assert errors == []
    assert fields == [
        FieldObservation(
            "amount", "float", 0.01, None, Distribution(edges=[0.0, 10.5, 20.0], counts=[3, 4])
        ),
        FieldObservation(
            "branch", "string", None, None, Distribution(categories={"north": 2, "south": 1})
        ),
        FieldObservation("note", "", None, None, None),
    ]
    assert fields[0].distribution.rows == 7
    assert fields[1].distribution.rows == 3


def test_unknown_keys_of_a_field_and_of_its_histogram_are_named_with_their_path():
    errors = fields_errors([field(colour="red", histogram=histogram() | {"bins": 2})])
    assert where(errors) == [(0, "fields[0].colour"), (0, "fields[0].histogram.bins")]
    assert errors[0]["message"].startswith("unknown field 'colour'; allowed: categories,")


def test_a_negative_histogram_count_is_refused():
    errors = fields_errors([field(histogram=histogram(counts=[5, -1]))])
    assert [(e["field"], e["message"]) for e in errors] == [
        ("fields[0].histogram.counts", "every count must be a whole number ≥ 0")
    ]


def test_a_negative_category_count_is_refused():
    errors = fields_errors([field(categories={"north": 3, "south": -1})])
    assert where(errors) == [(0, "fields[0].categories")]
    assert errors[0]["message"].startswith("'south': counts are whole numbers ≥ 0")


@pytest.mark.parametrize(
    ("extra", "path"),
    [
        ({"histogram": histogram(counts=[True, 3])}, "fields[0].histogram.counts"),
        ({"histogram": histogram(edges=[0, True, 20])}, "fields[0].histogram.edges"),
        ({"categories": {"north": True}}, "fields[0].categories"),
        ({"missing_share": True}, "fields[0].missing_share"),
        ({"rows": False}, "fields[0].rows"),
    ],
)
def test_bools_are_refused_wherever_a_number_is_expected(extra, path):
    errors = fields_errors([field(**extra)])
    assert where(errors) == [(0, path)]


@pytest.mark.parametrize("edges", [[0, 10, 10], [0, 20, 10], [5, 5]])
def test_edges_must_strictly_increase(edges):
    errors = fields_errors([field(histogram=histogram(edges=edges, counts=[1] * (len(edges) - 1)))])
    assert [(e["field"], e["message"]) for e in errors] == [
        ("fields[0].histogram.edges", "must be strictly increasing")
    ]


@pytest.mark.parametrize("edges", [[0, float("inf")], [0, float("nan")], [0, "10"]])
def test_every_edge_is_a_finite_number(edges):
    errors = fields_errors([field(histogram=histogram(edges=edges, counts=[1]))])
    assert errors[0]["message"] == "every edge must be a finite number"


@pytest.mark.parametrize("edges", [[0], [], list(range(202))])
def test_a_histogram_has_1_to_200_bins(edges):
    errors = fields_errors([field(histogram={"edges": edges, "counts": [1] * 201})])
    assert errors[0]["message"] == "must be a list of 2 to 201 numbers"


def test_a_histogram_of_200_bins_is_accepted():
    fields, errors = validate_fields([field(histogram=histogram(range(201), [1] * 200))])
    assert (errors, fields[0].distribution.rows) == ([], 200)


@pytest.mark.parametrize("counts", [[1], [1, 2, 3], "12"])
def test_the_counts_must_match_the_bins(counts):
    errors = fields_errors([field(histogram={"edges": [0, 10, 20], "counts": counts})])
    assert [(e["field"], e["message"]) for e in errors] == [
        ("fields[0].histogram.counts", "must be a list of 2 counts")
    ]


def test_a_field_gives_a_histogram_or_categories_not_both():
    errors = fields_errors([field(histogram=histogram(), categories={"a": 1})])
    assert [(e["field"], e["message"]) for e in errors] == [
        ("fields[0].histogram", "give a histogram or categories, not both")
    ]


def test_a_field_name_appears_once_even_with_surrounding_spaces():
    fields, errors = validate_fields([field("amount"), field(" amount "), field("channel")])
    assert [f.name for f in fields] == ["amount", "channel"]
    assert [(e["index"], e["field"], e["message"]) for e in errors] == [
        (1, "fields[1].name", "'amount' appears twice")
    ]


@pytest.mark.parametrize("name", ["", "   ", None, 7, "x" * 121])
def test_a_field_needs_a_name_of_1_to_120_characters(name):
    errors = fields_errors([{"name": name}])
    assert [(e["field"], e["message"]) for e in errors] == [
        ("fields[0].name", "must be a name of 1 to 120 characters")
    ]


@pytest.mark.parametrize(
    ("share", "accepted"),
    [(0, True), (1, True), (0.5, True), (1.0001, False), (-0.0001, False), ("0.1", False)],
)
def test_a_missing_share_is_a_number_from_0_to_1(share, accepted):
    errors = fields_errors([field(missing_share=share)])
    assert (errors == []) is accepted
    if not accepted:
        assert where(errors) == [(0, "fields[0].missing_share")]


def test_an_all_zero_distribution_holds_no_observation():
    errors = fields_errors(
        [
            field("amount", histogram=histogram(counts=[0, 0])),
            field("branch", categories={"north": 0}),
        ]
    )
    assert [(e["index"], e["message"]) for e in errors] == [
        (0, "the distribution holds no observation"),
        (1, "the distribution holds no observation"),
    ]


def test_a_type_name_is_at_most_40_characters():
    errors = fields_errors([field(type="t" * 41)])
    assert where(errors) == [(0, "fields[0].type")]
    assert fields_errors([field(type="t" * 40)]) == []


def test_more_than_500_fields_raise_too_many_fields():
    many = [field(f"f{i}") for i in range(MAX_FIELDS + 1)]
    with pytest.raises(TooManyFields) as raised:
        validate_fields(many)
    assert raised.value.args == (501,)
    assert len(validate_fields(many[:MAX_FIELDS])[0]) == 500


@pytest.mark.parametrize("fields", [[], None, {"name": "amount"}, "amount"])
def test_fields_must_be_a_non_empty_list(fields):
    assert validate_fields(fields) == (
        [],
        [
            {
                "index": None,
                "field": "fields",
                "message": "must be a non-empty list of fields",
                "code": "invalid",
            }
        ],
    )


def test_at_most_100_field_errors_are_listed():
    errors = fields_errors([field(f"f{i}", missing_share=2) for i in range(300)])
    assert len(errors) == 100
    assert errors[-1]["index"] == 99


# Profile batches --------------------------------------------------------------------------


def test_a_profile_batch_is_a_time_a_row_count_and_fields():
    cleaned, errors = validate_profile_batch(
        {"at": "2026-11-25T02:00:00Z", "rows": 100, "fields": [field()]},
        now=NOW,
        retention=RETENTION,
    )
    assert errors == []
    at, rows, fields = cleaned
    assert (at, rows, [f.name for f in fields]) == (
        datetime(2026, 11, 25, 2, tzinfo=UTC),
        100,
        ["amount"],
    )


def test_a_profile_batch_lists_its_own_and_its_fields_problems_together():
    cleaned, errors = validate_profile_batch(
        {"at": iso(NOW + timedelta(hours=1)), "rows": -5, "extra": 1, "fields": [field(rows=-1)]},
        now=NOW,
        retention=RETENTION,
    )
    assert cleaned is None
    assert where(errors) == [(None, "extra"), (None, "at"), (None, "rows"), (0, "fields[0].rows")]


# References -------------------------------------------------------------------------------


def test_a_pushed_reference_needs_a_distribution_for_every_field():
    cleaned, errors = validate_reference(
        {"fields": [field("amount", histogram=histogram()), field("note")]}, now=NOW
    )
    assert cleaned is None
    assert [(e["index"], e["field"], e["message"]) for e in errors] == [
        (1, "fields[1].histogram", "a reference needs a histogram or categories")
    ]


def test_a_window_reference_is_its_bounds_and_optional_field_names():
    cleaned, errors = validate_reference(
        {
            "window": {"start": "2026-11-01T00:00:00Z", "end": "2026-11-08T00:00:00Z"},
            "fields": [" amount "],
        },
        now=NOW,
    )
    assert errors == []
    assert cleaned == {
        "start": datetime(2026, 11, 1, tzinfo=UTC),
        "end": datetime(2026, 11, 8, tzinfo=UTC),
        "names": ["amount"],
    }


@pytest.mark.parametrize(
    "end",
    ["2026-11-01T00:00:00Z", "2026-10-31T23:59:59Z", "2026-11-01T08:00:00+08:00"],
)
def test_a_window_starts_before_it_ends(end):
    cleaned, errors = validate_reference(
        {"window": {"start": "2026-11-01T00:00:00Z", "end": end}}, now=NOW
    )
    assert cleaned is None
    assert [(e["field"], e["message"]) for e in errors] == [
        ("window.start", "must be before the end")
    ]


def test_a_window_cannot_start_in_the_future():
    _cleaned, errors = validate_reference(
        {"window": {"start": iso(NOW + SECOND), "end": iso(NOW + timedelta(days=1))}}, now=NOW
    )
    assert [(e["field"], e["message"]) for e in errors] == [("window.start", "is in the future")]


def test_a_window_needs_both_bounds_and_no_other_key():
    _cleaned, errors = validate_reference({"window": {"from": "x"}}, now=NOW)
    assert [(e["field"], e["message"]) for e in errors] == [
        ("window.from", "unknown field 'from'; allowed: end, start"),
        ("window.start", "is required"),
        ("window.end", "is required"),
    ]


@pytest.mark.parametrize("names", [[], ["amount", 3], "amount", [""]])
def test_a_window_takes_a_list_of_field_names_or_none(names):
    _cleaned, errors = validate_reference(
        {
            "window": {"start": "2026-11-01T00:00:00Z", "end": "2026-11-08T00:00:00Z"},
            "fields": names,
        },
        now=NOW,
    )
    assert [e["field"] for e in errors] == ["fields"]


def test_a_pushed_reference_of_more_than_500_fields_raises_too_many_fields():
    many = [field(f"f{i}", histogram=histogram()) for i in range(MAX_FIELDS + 1)]
    with pytest.raises(TooManyFields):
        validate_reference({"fields": many}, now=NOW)

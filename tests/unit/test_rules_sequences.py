"""PF-06 sequence headroom: the math, column-bounded limits, findings, properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_spark.rules.findings import FAIL, WARN, codes
from pytest_spark.rules.sequences import (
    INT_RANGES,
    column_range,
    default_links,
    evaluate_sequences,
    measure_sequences,
    nextval_arguments,
    used_ratio,
)

INT4_MAX = 2147483647
INT8_MAX = 9223372036854775807
INT8_MIN = -9223372036854775808


def seq_row(**over: object) -> dict[str, object]:
    """A SEQUENCES_SQL row as psycopg returns it (orders.id serial, healthy)."""
    row: dict[str, object] = {
        "sequence_schema": "public",
        "sequence_name": "orders_id_seq",
        "sequence_type": "integer",
        "start_value": 1,
        "min_value": 1,
        "max_value": INT4_MAX,
        "increment_by": 1,
        "cycle": False,
        "last_value": 1200,
        "readable": True,
        "table_schema": "public",
        "table_name": "orders",
        "column_name": "id",
        "column_type": "integer",
        "column_base_type": "int4",
        "link": "owned",
    }
    row.update(over)
    return row


# --- column ranges -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "hi", "label"),
    [
        ("int2", 32767, "int2"),
        ("smallint", 32767, "int2"),
        ("int4", INT4_MAX, "int4"),
        ("integer", INT4_MAX, "int4"),
        ("serial", INT4_MAX, "int4"),
        ("int8", INT8_MAX, "int8"),
        ("BIGINT", INT8_MAX, "int8"),
    ],
)
def test_integer_column_ranges(name: str, hi: int, label: str) -> None:
    lo, top, got_label = column_range(name) or (0, 0, "")
    assert (top, got_label) == (hi, label)
    assert lo == -hi - 1


def test_numeric_column_range_and_unbounded_types() -> None:
    assert column_range("numeric(10,0)") == (-(10**10 - 1), 10**10 - 1, "numeric(10,0)")
    assert column_range("numeric(12, 2)") == (-(10**10 - 1), 10**10 - 1, "numeric(12,2)")
    assert column_range("numeric") is None
    assert column_range("text") is None
    assert column_range(None) is None


# --- the ratio -------------------------------------------------------------------


def test_ratio_of_plain_int4_sequence() -> None:
    assert used_ratio(1, 1, INT4_MAX) == 0.0
    assert used_ratio(INT4_MAX, 1, INT4_MAX) == 1.0
    assert used_ratio(1 + (INT4_MAX - 1) // 2, 1, INT4_MAX) == pytest.approx(0.5)


def test_bigint_sequence_is_measured_against_int4_column() -> None:
    last = int(INT4_MAX * 0.9)
    against_sequence = used_ratio(last, 1, INT8_MAX)
    against_column = used_ratio(last, 1, INT8_MAX, 1, "int4")
    assert against_sequence < 1e-9
    assert against_column == pytest.approx(0.9, abs=1e-6)


def test_value_past_the_column_limit_is_clamped_to_full() -> None:
    assert used_ratio(INT4_MAX + 10, 1, INT8_MAX, 1, "integer") == 1.0


def test_never_called_sequence_has_used_nothing() -> None:
    assert used_ratio(None, 1, INT4_MAX, 1, "int4") == 0.0


def test_descending_sequence_is_measured_from_the_top() -> None:
    assert used_ratio(-1, INT8_MIN, -1, -1) == 0.0
    assert used_ratio(INT8_MIN, INT8_MIN, -1, -1) == 1.0
    # descending bigint sequence feeding an int4 column: bounded by int4's minimum
    halfway = -(2**30)
    assert used_ratio(halfway, INT8_MIN, -1, -1, "int4") == pytest.approx(0.5, abs=1e-6)


def test_degenerate_range_counts_as_full() -> None:
    assert used_ratio(5, 5, 5) == 1.0


# --- findings --------------------------------------------------------------------


def test_healthy_sequences_have_no_findings() -> None:
    assert evaluate_sequences([seq_row()]) == []


def test_int4_sequence_at_91_percent_fails_with_named_message() -> None:
    row = seq_row(last_value=int(INT4_MAX * 0.912))
    [finding] = evaluate_sequences([row])
    assert finding.code == "sequence-exhaustion"
    assert finding.severity == FAIL
    assert finding.message.startswith(
        "sequence orders_id_seq at 91.2 % of int4 column orders.id (limit 85 %)"
    )


def test_warn_band_between_70_and_85() -> None:
    [finding] = evaluate_sequences([seq_row(last_value=int(INT4_MAX * 0.75))])
    assert (finding.code, finding.severity) == ("sequence-exhaustion", WARN)
    assert "(limit 70 %)" in finding.message


def test_thresholds_are_parameters() -> None:
    row = seq_row(last_value=int(INT4_MAX * 0.6))
    assert evaluate_sequences([row]) == []
    [finding] = evaluate_sequences([row], fail_at=0.5, warn_at=0.4)
    assert finding.severity == FAIL and "(limit 50 %)" in finding.message
    with pytest.raises(ValueError):
        evaluate_sequences([row], fail_at=0.5, warn_at=0.6)


def test_bigint_identity_feeding_int4_column_fails_on_column_limit() -> None:
    row = seq_row(
        sequence_name="positions_id_seq",
        sequence_type="bigint",
        max_value=INT8_MAX,
        last_value=int(INT4_MAX * 0.9),
        table_name="positions",
        column_type="integer",
        column_base_type="int4",
        link="identity",
    )
    [finding] = evaluate_sequences([row])
    assert finding.severity == FAIL
    assert "of int4 column positions.id" in finding.message
    [usage] = measure_sequences([row])
    assert usage.limited_by == "column" and usage.limit == INT4_MAX


def test_int4_domain_column_uses_its_base_type() -> None:
    row = seq_row(
        sequence_type="bigint",
        max_value=INT8_MAX,
        last_value=int(INT4_MAX * 0.95),
        column_type="order_id",  # a domain over int4
        column_base_type="int4",
    )
    [finding] = evaluate_sequences([row])
    assert "int4 column orders.id" in finding.message


def test_unowned_sequence_is_measured_against_its_own_max() -> None:
    row = seq_row(
        sequence_name="ticket_seq",
        last_value=int(INT4_MAX * 0.9),
        table_schema=None,
        table_name=None,
        column_name=None,
        column_type=None,
        column_base_type=None,
        link=None,
    )
    [finding] = evaluate_sequences([row])
    assert f"of its max_value {INT4_MAX}" in finding.message


def test_sequence_feeding_two_columns_reports_the_narrowest() -> None:
    wide = seq_row(
        sequence_type="bigint", max_value=INT8_MAX, last_value=30000, column_base_type="int8"
    )
    narrow = dict(wide, table_name="legacy", column_base_type="int2", column_type="smallint")
    [finding] = evaluate_sequences([wide, narrow])
    assert "int2 column legacy.id" in finding.message
    assert "91.6 %" in finding.message


def test_non_public_schema_is_named() -> None:
    row = seq_row(
        sequence_schema="trading",
        table_schema="trading",
        last_value=int(INT4_MAX * 0.99),
    )
    [finding] = evaluate_sequences([row])
    assert "sequence trading.orders_id_seq" in finding.message
    assert "trading.orders.id" in finding.message


def test_unreadable_sequence_is_not_mistaken_for_unused() -> None:
    [finding] = evaluate_sequences([seq_row(last_value=None, readable=False)])
    assert finding.code == "sequence-unreadable"
    assert finding.severity == FAIL


def test_never_called_sequence_passes() -> None:
    assert evaluate_sequences([seq_row(last_value=None)]) == []


def test_descending_sequence_near_its_end_fails() -> None:
    row = seq_row(
        sequence_name="desc_seq",
        sequence_type="bigint",
        min_value=INT8_MIN,
        max_value=-1,
        increment_by=-1,
        last_value=int(INT8_MIN * 0.9),
        table_name=None,
        column_name=None,
        column_base_type=None,
    )
    [finding] = evaluate_sequences([row])
    assert "min_value" in finding.message and finding.severity == FAIL


def test_usage_to_dict_is_evidence_ready() -> None:
    [usage] = measure_sequences([seq_row()])
    data = usage.to_dict()
    assert data["sequence"] == "orders_id_seq" and data["column"] == "orders.id"
    assert data["column_type"] == "int4" and 0 <= data["ratio"] < 0.01


# --- properties ------------------------------------------------------------------

COLUMN_TYPES = st.sampled_from([None, "int2", "int4", "int8", "numeric(12,0)", "text"])


@st.composite
def ascending(draw: st.DrawFn) -> tuple[int, int, int, str | None]:
    lo = draw(st.integers(INT8_MIN, INT8_MAX - 1))
    hi = draw(st.integers(lo + 1, INT8_MAX))
    return lo, hi, draw(st.integers(1, 1000)), draw(COLUMN_TYPES)


@given(ascending(), st.data())
def test_ratio_is_within_unit_interval(seq: tuple[int, int, int, str | None], data) -> None:
    lo, hi, inc, col = seq
    last = data.draw(st.one_of(st.none(), st.integers(lo, hi)))
    ratio = used_ratio(last, lo, hi, inc, col)
    assert 0.0 <= ratio <= 1.0


@given(ascending(), st.data())
def test_ratio_is_monotonic_in_last_value(seq: tuple[int, int, int, str | None], data) -> None:
    lo, hi, inc, col = seq
    a = data.draw(st.integers(lo, hi))
    b = data.draw(st.integers(a, hi))
    assert used_ratio(a, lo, hi, inc, col) <= used_ratio(b, lo, hi, inc, col)


@given(st.integers(INT8_MIN, -2), st.data(), COLUMN_TYPES)
def test_descending_ratio_is_monotonic_and_bounded(lo: int, data, col: str | None) -> None:
    hi = data.draw(st.integers(lo + 1, -1))
    a = data.draw(st.integers(lo, hi))
    b = data.draw(st.integers(lo, a))
    ra, rb = used_ratio(a, lo, hi, -1, col), used_ratio(b, lo, hi, -1, col)
    assert 0.0 <= ra <= rb <= 1.0


@given(st.sampled_from(sorted(INT_RANGES)), st.floats(0, 1))
def test_findings_agree_with_thresholds(type_name: str, share: float) -> None:
    lo, hi = 1, INT_RANGES[type_name][1]
    last = lo + int((hi - lo) * share)
    row = seq_row(
        sequence_type="bigint",
        max_value=INT8_MAX,
        last_value=last,
        column_base_type=type_name,
    )
    ratio = used_ratio(last, 1, INT8_MAX, 1, type_name)
    found = evaluate_sequences([row])
    if ratio >= 0.85:
        assert [f.severity for f in found] == [FAIL]
    elif ratio >= 0.70:
        assert [f.severity for f in found] == [WARN]
    else:
        assert codes(found) == []


# --- columns fed through nextval() in their DEFAULT, with no pg_depend row ------------

TICKET_SEQ = seq_row(
    sequence_name="ticket_seq",
    sequence_type="bigint",
    max_value=INT8_MAX,
    last_value=int(INT4_MAX * 0.9),
    table_schema=None,
    table_name=None,
    column_name=None,
    column_type=None,
    column_base_type=None,
    link=None,
)


def default_row(expr: str, **over: object) -> dict[str, object]:
    """A SEQUENCE_DEFAULTS_SQL row (pg_get_expr prints the text form with its casts)."""
    row: dict[str, object] = {
        "table_schema": "public",
        "table_name": "tickets",
        "column_name": "id",
        "column_type": "integer",
        "column_base_type": "int4",
        "default_expr": expr,
    }
    row.update(over)
    return row


RESOLVED = [
    {"name": "ticket_seq", "table_schema": "public", "sequence_schema": "public",
     "sequence_name": "ticket_seq"},
]  # fmt: skip


@pytest.mark.parametrize(
    ("expr", "names", "unknown"),
    [
        ("nextval(('ticket_seq'::text)::regclass)", ["ticket_seq"], []),  # the input
        ("nextval('ticket_seq'::regclass)", ["ticket_seq"], []),
        ("pg_catalog.nextval('app.\"Tickets\"'::regclass)", ['app."Tickets"'], []),
        ("('T-'::text || nextval('ticket_seq'::regclass))", ["ticket_seq"], []),
        ("COALESCE(NULL::integer, (nextval('a'::regclass))::integer)", ["a"], []),
        ("nextval((('t_'::text || 'seq'::text))::regclass)", [], ["nextval((('t_'"]),
        ("now()", [], []),
        ("myschema.nextval('x')", [], []),  # not PostgreSQL's nextval
    ],
)
def test_nextval_arguments_parsed_by_postgres_grammar(
    expr: str, names: list[str], unknown: list[str]
) -> None:
    got_names, got_unknown = nextval_arguments(expr)
    assert got_names == names
    assert [u[: len(p)] for u, p in zip(got_unknown, unknown, strict=True)] == unknown


def test_text_default_links_the_column_and_fails_at_int4_limit() -> None:
    """The issue's input: int4 column, bigint sequence at 90 % of int4, nextval('s'::text)."""
    rows, notes = default_links(
        [TICKET_SEQ], [default_row("nextval(('ticket_seq'::text)::regclass)")], RESOLVED
    )
    assert notes == []
    [finding] = evaluate_sequences(rows)
    assert finding.severity == FAIL
    assert finding.message.startswith(
        "sequence ticket_seq at 90.0 % of int4 column tickets.id (limit 85 %)"
    )
    assert codes(evaluate_sequences([TICKET_SEQ])) == []  # without the default: missed


def test_a_column_already_linked_by_pg_depend_is_not_added_twice() -> None:
    linked = seq_row(sequence_name="ticket_seq", table_name="tickets", link="default")
    rows, _ = default_links([linked], [default_row("nextval('ticket_seq'::regclass)")], RESOLVED)
    assert len(rows) == 1


def test_smallint_column_behind_a_text_default() -> None:
    seq = {**TICKET_SEQ, "last_value": 30000}
    rows, _ = default_links(
        [seq],
        [default_row("nextval(('ticket_seq'::text)::regclass)", column_base_type="int2")],
        RESOLVED,
    )
    assert "of int2 column tickets.id" in evaluate_sequences(rows)[0].message


def test_defaults_that_cannot_be_resolved_warn() -> None:
    computed = default_row("nextval((('t_'::text || 'seq'::text))::regclass)")
    missing = default_row("nextval(('gone'::text)::regclass)", column_name="ref")
    unresolved = [{"name": "gone", "table_schema": "public", "sequence_schema": None,
                   "sequence_name": None}]  # fmt: skip
    rows, notes = default_links([TICKET_SEQ], [computed, missing], unresolved)
    assert len(rows) == 1
    assert codes(notes) == ["sequence-default-unresolved"] * 2
    assert all(n.severity == WARN for n in notes)
    assert "names its sequence only at insert time" in notes[0].message
    assert "no sequence 'gone' found" in notes[1].message


@given(st.text(max_size=60))
def test_nextval_arguments_never_crash(expr: str) -> None:
    names, unknown = nextval_arguments(expr)
    assert isinstance(names, list) and isinstance(unknown, list)

"""RT-01 unique partial index: predicate normalisation and each failure mode."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_spark.rules.collation import (
    evaluate_unique_index,
    normalise_predicate,
    predicates_equal,
)
from pytest_spark.rules.findings import codes

ACCOUNT = {
    "position": 1,
    "column_name": "account_id",
    "expression": "account_id",
    "data_type": "bigint",
    "collation_name": None,
    "collation_provider": None,
    "collation_deterministic": None,
}
SYMBOL = {
    "position": 2,
    "column_name": "symbol",
    "expression": "symbol",
    "data_type": "text",
    "collation_name": "default",
    "collation_provider": "d",
    "collation_deterministic": True,
}
GOOD_INDEX: dict[str, Any] = {
    "index_name": "positions_one_open_uq",
    "table_schema": "public",
    "table_name": "positions",
    "is_unique": True,
    "is_valid": True,
    "is_ready": True,
    "is_primary": False,
    "nulls_not_distinct": False,
    "predicate": "(status = 'open'::text)",
    "definition": "CREATE UNIQUE INDEX positions_one_open_uq ON public.positions USING btree "
    "(account_id, symbol) WHERE (status = 'open'::text)",
    "key_columns": [ACCOUNT, SYMBOL],
}
PKEY: dict[str, Any] = {
    "index_name": "positions_pkey",
    "table_name": "positions",
    "is_unique": True,
    "is_valid": True,
    "predicate": None,
    "key_columns": [dict(ACCOUNT, column_name="id", expression="id")],
}


def index(**over: Any) -> dict[str, Any]:
    ix = copy.deepcopy(GOOD_INDEX)
    ix.update(over)
    return ix


def evaluate(rows: list[dict[str, Any]], predicate: str | None = "status = 'open'") -> list[Any]:
    return evaluate_unique_index(
        rows, table="positions", key_columns=["account_id", "symbol"], predicate=predicate
    )


# --- normalisation ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("status = 'open'", "(status = 'open'::text)"),
        ("status = 'open'", "((status)::text = 'open'::text)"),
        ("status = 'open'", "((status)::text = ('open'::character varying)::text)"),
        ("status = 'open'", "WHERE \"status\"='open'"),
        ("STATUS = 'open'", "status = 'open'"),
        ("status = 'open' AND qty > 0", "((qty > (0)::numeric) AND (status = 'open'::text))"),
        ("status = 'open' AND qty > 0", "status = 'open'::text AND qty > 0::numeric"),
        ("status IN ('open', 'new')", "(status = ANY (ARRAY['open'::text, 'new'::text]))"),
        ("status NOT IN ('closed')", "(status <> ALL (ARRAY['closed'::text]))"),
        ("qty BETWEEN 1 AND 5", "((qty >= 1) AND (qty <= 5))"),
        ("qty NOT BETWEEN 1 AND 5", "((qty < 1) OR (qty > 5))"),
        ("status != 'closed'", "(status <> 'closed'::text)"),
        ("closed_at IS NULL", "(closed_at IS NULL)"),
        ("a = 1 OR (b = 2 AND c = 3)", "(((c = 3) AND (b = 2)) OR (a = 1))"),
        ("NOT archived", "(NOT archived)"),
        ("ts > '2024-01-01'", "(ts > '2024-01-01 00:00:00+00'::timestamp with time zone)"),
    ],
)
def test_equivalent_predicates(a: str, b: str) -> None:
    if "2024" in a:  # literal text differs: different predicate, by design
        assert not predicates_equal(a, b)
    else:
        assert predicates_equal(a, b), (normalise_predicate(a), normalise_predicate(b))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("status = 'open'", "status = 'Open'"),
        ("status = 'open'", "status = 'closed'"),
        ("status = 'open'", "state = 'open'"),
        ("status = 'open'", "status <> 'open'"),
        ("status = 'open'", ""),
        ("a = 1 AND (b = 2 OR c = 3)", "(a = 1 AND b = 2) OR c = 3"),
        ("lower(symbol) = 'x'", "symbol = 'x'"),
        ("\"Status\" = 'open'", "status = 'open'"),
    ],
)
def test_different_predicates(a: str, b: str) -> None:
    assert not predicates_equal(a, b)


def test_normalise_empty() -> None:
    assert normalise_predicate(None) == ""
    assert normalise_predicate("  ") == ""
    assert normalise_predicate("WHERE") == ""


def test_function_call_parentheses_are_kept() -> None:
    assert normalise_predicate("lower(symbol) = 'x'") == "lower ( symbol ) = 'x'"


# --- evaluation ------------------------------------------------------------------


def test_healthy_index_passes() -> None:
    assert evaluate([PKEY, index()]) == []


def test_key_column_order_does_not_matter() -> None:
    assert evaluate([index(key_columns=[SYMBOL, ACCOUNT])]) == []


def test_pretty_printed_predicate_passes() -> None:
    assert evaluate([index(predicate="status = 'open'::text")]) == []


def test_missing_index_lists_what_exists() -> None:
    [f] = evaluate([PKEY])
    assert f.code == "unique-index-missing"
    assert "no unique index on positions (account_id, symbol) WHERE status = 'open'" in f.message
    assert "positions_pkey UNIQUE (id)" in f.message


def test_no_indexes_at_all() -> None:
    [f] = evaluate([])
    assert f.code == "unique-index-missing" and f.message.endswith("indexes found: none")


def test_non_unique_index_does_not_count() -> None:
    [f] = evaluate([index(is_unique=False)])
    assert f.code == "unique-index-missing"
    assert "positions_one_open_uq (account_id, symbol) WHERE" in f.message


def test_index_over_other_columns_does_not_count() -> None:
    [f] = evaluate([index(key_columns=[ACCOUNT])])
    assert f.code == "unique-index-missing"


def test_expression_key_does_not_count() -> None:
    expr = dict(SYMBOL, column_name=None, expression="upper(symbol)")
    [f] = evaluate([index(key_columns=[ACCOUNT, expr])])
    assert f.code == "unique-index-missing" and "upper(symbol)" in f.message


def test_invalid_index_fails() -> None:
    [f] = evaluate([index(is_valid=False)])
    assert f.code == "unique-index-invalid"
    assert "positions_one_open_uq" in f.message and "indisvalid = false" in f.message


def test_changed_predicate_reports_expected_and_found() -> None:
    [f] = evaluate([index(predicate="(status = ANY (ARRAY['open'::text, 'pending'::text]))")])
    assert f.code == "unique-index-predicate"
    assert "expected status = 'open'" in f.message
    assert "ARRAY['open'::text, 'pending'::text]" in f.message


def test_full_unique_index_when_partial_expected() -> None:
    [f] = evaluate([index(predicate=None)])
    assert f.code == "unique-index-predicate" and "predicate (none)" in f.message


def test_non_partial_expectation() -> None:
    assert evaluate([index(predicate=None)], predicate=None) == []
    [f] = evaluate([index()], predicate="")
    assert f.code == "unique-index-predicate" and "expected (none)" in f.message


def test_nondeterministic_collation_names_column_and_collation() -> None:
    ci = dict(
        SYMBOL,
        collation_name="case_insensitive",
        collation_provider="i",
        collation_deterministic=False,
    )
    [f] = evaluate([index(key_columns=[ACCOUNT, ci])])
    assert f.code == "unique-index-collation"
    assert "key column symbol" in f.message
    assert 'collation "case_insensitive", provider icu' in f.message


def test_all_problems_of_one_index_are_reported() -> None:
    ci = dict(SYMBOL, collation_name="ci", collation_deterministic=False)
    found = evaluate(
        [index(is_valid=False, predicate="(status = 'x'::text)", key_columns=[ci, ACCOUNT])]
    )
    assert codes(found) == [
        "unique-index-invalid",
        "unique-index-predicate",
        "unique-index-collation",
    ]


def test_one_good_index_among_bad_ones_passes() -> None:
    bad = index(index_name="old_uq", is_valid=False)
    assert evaluate([bad, index()]) == []


def test_closest_candidate_is_reported() -> None:
    wrong_pred = index(index_name="a_uq", predicate="(status = 'closed'::text)")
    invalid_and_ci = index(
        index_name="b_uq",
        is_valid=False,
        key_columns=[ACCOUNT, dict(SYMBOL, collation_name="ci", collation_deterministic=False)],
    )
    [f] = evaluate([invalid_and_ci, wrong_pred])
    assert f.code == "unique-index-predicate" and "a_uq" in f.message


def test_rows_of_other_tables_are_ignored() -> None:
    other = index(table_name="orders")
    [f] = evaluate([other])
    assert f.code == "unique-index-missing"
    assert (
        evaluate_unique_index(
            [index()],
            table="public.positions",
            key_columns=["account_id", "symbol"],
            predicate="status = 'open'",
        )
        == []
    )


def test_key_columns_may_be_plain_names() -> None:
    assert evaluate([index(key_columns=["symbol", "account_id"])]) == []


# --- properties ------------------------------------------------------------------

IDENT = st.sampled_from(["status", "qty", "account_id", "symbol", "px", "side", "closed_at"])
LITERAL = st.one_of(
    st.integers(0, 10**6).map(str),
    st.sampled_from(["open", "closed", "a b", "it''s", "AND", "OR x", "(", ""]).map(
        lambda s: f"'{s}'"
    ),
)
OP = st.sampled_from(["=", "<>", "<", ">", "<=", ">="])
COMPARISON = st.tuples(IDENT, OP, LITERAL)


@given(st.lists(COMPARISON, min_size=1, max_size=4), st.sampled_from(["AND", "OR"]))
def test_pg_style_rendering_is_equivalent(parts: list[tuple[str, str, str]], joiner: str) -> None:
    """What a user writes equals what pg_get_expr prints back (casts, parens)."""
    plain = f" {joiner} ".join(f"{c} {op} {lit}" for c, op, lit in parts)
    cast = lambda lit: f"{lit}::text" if lit.startswith("'") else f"({lit})::numeric"  # noqa: E731
    pg = "(" + f" {joiner} ".join(f"(({c})::text {op} {cast(lit)})" for c, op, lit in parts) + ")"
    assert predicates_equal(plain, pg)


@given(
    st.lists(COMPARISON, min_size=2, max_size=4, unique=True).flatmap(
        lambda xs: st.tuples(st.just(xs), st.permutations(xs))
    )
)
def test_and_operand_order_is_irrelevant(pair) -> None:
    parts, shuffled = pair
    texts = [f"{c} {op} {lit}" for c, op, lit in parts]
    other = [f"{c} {op} {lit}" for c, op, lit in shuffled]
    assert predicates_equal(" AND ".join(texts), " and ".join(other))


@given(st.text(max_size=80))
def test_normalise_never_raises(text: str) -> None:
    normalise_predicate(text)

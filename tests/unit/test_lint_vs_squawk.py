"""Cross-check of the PF-04 lint against squawk (squawk-cli, a maintained PostgreSQL
migration linter): every lock/rewrite rule squawk raises on these migrations is one of
our findings on the same statement.

Why a test and not a runtime dependency: squawk has its own parser and no database,
so it cannot ask pg_proc for volatility, knows nothing of tables a release creates,
and misses CHECK inside ADD COLUMN; PF-04 keeps one parser (PostgreSQL's, via
pglast) and mirrors squawk's lock rules. This test keeps the coverage honest.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_spark.rules.migration_lint import FunctionRef, lint_statements

SQUAWK = shutil.which("squawk") or str(Path(__file__).parents[2] / ".venv/bin/squawk")

#: squawk rule -> the finding codes of ours that cover it
RULES = {
    "require-concurrent-index-creation": {"lock-create-index"},
    "adding-field-with-default": {"rewrite-add-column"},
    "adding-required-field": {"lock-add-column-not-null"},
    "disallowed-unique-constraint": {"lock-add-constraint-index"},
    "adding-serial-primary-key-field": {"lock-add-constraint-index"},
    "adding-foreign-key-constraint": {"lock-add-constraint-validate"},
    # squawk also says this of ADD UNIQUE, where PostgreSQL allows no NOT VALID (ALTER
    # TABLE: "only allowed for foreign key and CHECK constraints"): ours calls it an index build
    "constraint-missing-not-valid": {"lock-add-constraint-validate", "lock-add-constraint-index"},
    "changing-column-type": {"rewrite-alter-column-type"},
    "adding-not-nullable-field": {"lock-set-not-null"},
}

CORPUS = """\
ALTER TABLE orders ADD COLUMN code text UNIQUE;
ALTER TABLE orders ADD COLUMN ref text DEFAULT next_ref();
ALTER TABLE orders ADD COLUMN venue text NOT NULL;
CREATE INDEX orders_symbol_created_idx ON orders (symbol, created_at);
ALTER TABLE orders ADD COLUMN g bigint GENERATED ALWAYS AS (1) STORED;
ALTER TABLE orders ADD COLUMN a bigint REFERENCES accounts (id);
ALTER TABLE orders ADD COLUMN p bigint PRIMARY KEY;
ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES accounts (id);
ALTER TABLE orders ADD CONSTRAINT qty_pos CHECK (qty > 0);
ALTER TABLE orders ADD CONSTRAINT u UNIQUE (a, b);
ALTER TABLE orders ALTER COLUMN price TYPE numeric(30, 8);
ALTER TABLE orders ALTER COLUMN qty SET NOT NULL;
ALTER TABLE orders ADD COLUMN k uuid DEFAULT gen_random_uuid();
"""


@pytest.mark.skipif(not Path(SQUAWK).exists(), reason="squawk-cli not installed (test extra)")
def test_every_squawk_lock_rule_is_a_finding_of_ours(tmp_path: Path) -> None:
    path = tmp_path / "0005_x.sql"
    path.write_text(CORPUS)
    done = subprocess.run(
        [SQUAWK, "--reporter", "json", "--pg-version", "15", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    hits = [h for h in json.loads(done.stdout) if h["rule_name"] in RULES]
    assert len(hits) >= 10, done.stdout[-2000:]  # squawk really judged the corpus
    ours = lint_statements(
        CORPUS,
        volatility={
            FunctionRef(None, "next_ref", 0): "v",
            FunctionRef(None, "gen_random_uuid", 0): "v",
        },
    )
    by_line = {r.line: {f.code for f in r.findings} for r in ours}
    missing = [
        (h["line"] + 1, h["rule_name"])
        for h in hits
        if not RULES[h["rule_name"]] & by_line.get(h["line"] + 1, set())
    ]
    assert missing == []


def test_what_squawk_misses_we_find() -> None:
    """CHECK inside ADD COLUMN validates by scanning (squawk 2.70 says nothing)."""
    [r] = lint_statements("ALTER TABLE orders ADD COLUMN c bigint CHECK (c > 0);")
    assert [f.code for f in r.findings] == ["lock-add-constraint-validate"]

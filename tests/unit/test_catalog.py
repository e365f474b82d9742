"""The catalog holds the 28 checks of CHECKS.md and the 3 of CONTRACTS.md; the README tables
are generated from it."""

from __future__ import annotations

import re
from pathlib import Path

from pytest_spark import catalog, config

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT.parent / "shared" / "spec" / "CHECKS.md"


def test_the_catalog_suites_and_their_sizes():
    assert len(catalog.CHECKS) == 44
    counts = {s: sum(c.suite == s for c in catalog.CHECKS) for s in catalog.Suite}
    assert counts == {
        catalog.Suite.BLINDSPOTS: 9,
        catalog.Suite.PREFLIGHT: 9,
        catalog.Suite.REDTEAM: 10,
        catalog.Suite.CONTRACT: 3,
        catalog.Suite.CANARY: 7,  # CANARY.md "Check ids": CN-00, five stages, RB-01
        catalog.Suite.CHAOS: 6,  # CH-01..CH-06, CHAOS.md's six
    }
    canary = [c.id for c in catalog.CHECKS if c.suite == catalog.Suite.CANARY]
    assert canary == ["CN-00", "CN-01", "CN-05", "CN-25", "CN-50", "CN-100", "RB-01"]


def test_contract_checks_are_the_ones_of_contracts_md():
    """CT-01..03 (CONTRACTS.md "Check ids"); verifying replays POST /orders and places probe
    orders, so all three are writes."""
    contract = [c for c in catalog.CHECKS if c.suite == catalog.Suite.CONTRACT]
    assert [c.id for c in contract] == ["CT-01", "CT-02", "CT-03"]
    assert all(c.policy_gate == "writes" and c.severity == "blocker" for c in contract)
    assert "contract" not in catalog.OTHER_MARKERS  # a suite now: one marker line, not two


def test_chaos_scenarios_are_disruptive_and_in_the_chaos_suite():
    chaos = [c for c in catalog.CHECKS if c.id.startswith("CH-")]
    assert chaos
    assert all(c.suite == catalog.Suite.CHAOS and c.policy_gate == "disruptive" for c in chaos)


def test_catalog_matches_the_spec_when_present():
    if not SPEC.is_file():  # the spec sits beside the repo in this workplace
        return
    text = SPEC.read_text()
    checks = [c for c in catalog.CHECKS if not c.id.startswith("CH-")]  # CHAOS.md's own table
    found = dict(re.findall(r"^([A-Z]{2}-\d\d) .+? -- (blocker|warning)", text, re.M))
    listed = [  # CONTRACTS.md, CANARY.md and CHAOS.md list their own ids
        c
        for c in checks
        if c.suite not in (catalog.Suite.CONTRACT, catalog.Suite.CANARY, catalog.Suite.CHAOS)
    ]
    assert found == {c.id: str(c.severity) for c in listed}
    gates = dict(re.findall(r"^([A-Z]{2}-\d\d) .+? -- blocker, (writes|disruptive)", text, re.M))
    assert gates == {c.id: c.policy_gate for c in listed if c.policy_gate}


def between(text: str, name: str) -> str:
    m = re.search(rf"<!-- {name}:begin -->\n(.*?)\n<!-- {name}:end -->", text, re.S)
    assert m, f"README has no generated {name} block"
    return m.group(1)


def test_readme_catalog_table_is_the_generated_one():
    readme = (ROOT / "README.md").read_text()
    assert between(readme, "catalog") == catalog.markdown_table()


def test_readme_config_reference_is_the_generated_one():
    readme = (ROOT / "README.md").read_text()
    assert between(readme, "config") == config.reference_markdown()


def test_readme_check_details_are_the_generated_ones():
    readme = (ROOT / "README.md").read_text()
    assert between(readme, "checks") == catalog.details_markdown()


def test_every_check_is_documented_with_real_settings():
    assert set(catalog.DETAILS) == set(catalog.BY_ID)
    known = {f"{sec}.{key}" for sec, keys in config.SCHEMA.items() for key in keys}
    for cid, detail in catalog.DETAILS.items():
        assert set(detail.config) <= known, cid
        assert detail.checks and detail.evidence, cid

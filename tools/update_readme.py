"""Regenerate the README's generated blocks (catalog, config reference) from the code.

tests/unit/test_catalog.py fails when the README drifts; run this to fix it:
    .venv/bin/python tools/update_readme.py
"""

from __future__ import annotations

import re
from pathlib import Path

from pytest_spark import catalog, config
from pytest_spark.canary import triggers

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = {
    "catalog": catalog.markdown_table,
    "checks": catalog.details_markdown,
    "config": config.reference_markdown,
    "triggers": triggers.markdown_table,
}


def main() -> None:
    text = README.read_text()
    for name, render in BLOCKS.items():
        pattern = re.compile(rf"(<!-- {name}:begin -->\n).*?(\n<!-- {name}:end -->)", re.S)
        if pattern.search(text):
            text = pattern.sub(lambda m, r=render: m.group(1) + r() + m.group(2), text)
    README.write_text(text)
    print(f"updated {README}")


if __name__ == "__main__":
    main()

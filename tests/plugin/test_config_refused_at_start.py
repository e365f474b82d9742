"""A threshold no check could use is refused before any check runs: one line, exit 4
(review finding 12: header_min_grade=Z used to ERROR PF-05 mid-run)."""

from __future__ import annotations

import pytest

SUITE = """
import pytest

@pytest.mark.spark_check("PF-05")
def test_pf05(evidence):
    pass
"""


def test_an_unknown_header_grade_is_one_line_exit_4(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(SUITE)
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--spark-set", "thresholds.header_min_grade=Z"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    out = result.stdout.str() + result.stderr.str()
    assert "header_min_grade must be one of A+, A, A-" in out
    assert "Traceback" not in out and "INTERNALERROR" not in out
    assert "test_pf05" not in result.stdout.str()  # nothing ran

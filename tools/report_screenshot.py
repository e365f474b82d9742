"""`make report-screenshot`: a real preflight run against the reference stack with one fault,
its HTML report, and a headless Chromium screenshot of it (docs/report.png).

The screenshot must show the verdict, the scope and one check's evidence without
scrolling (issue 15). Chromium is not a CI dependency, so this is a make target and
not a test: `apt-get install chromium` (Debian) first.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",  # run as root in a container; the page is our own local file
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit("report-screenshot: no chromium on PATH (Debian: apt-get install chromium)")


def screenshot(page: Path, out: Path, size: str = "1280,900", timeout: float = 120) -> None:
    """Render ``page`` in headless Chromium with a throw-away profile; write a PNG."""
    with tempfile.TemporaryDirectory(prefix="spark-chromium-") as profile:
        cmd = [
            chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--screenshot={out.resolve()}",
            f"--window-size={size}",
            page.resolve().as_uri(),
        ]
        subprocess.run(cmd, check=True, capture_output=True, timeout=timeout)
    if not out.is_file() or out.stat().st_size == 0:
        raise SystemExit(f"report-screenshot: chromium wrote no screenshot to {out}")


def run_checks(work: Path, release: str, fault: str, marker: str, state_dir: Path) -> Path:
    """Run the marker's checks against the stack with ``fault`` injected; return report.html."""
    from pytest_spark.sandbox.targets import start_or_attach

    box, started = start_or_attach(state_dir)
    html = work / "report.html"
    try:
        if fault:
            box.apply_fault(fault)
        cmd = [
            sys.executable, "-m", "pytest", "checks", "-m", marker, "-p", "no:cacheprovider",
            "--release", release, "--spark-sandbox", "--spark-sandbox-dir", str(state_dir),
            "--spark-allow-writes", "--spark-allow-disruptive", "-q",
            "--spark-evidence-dir", str(work / "reports"),
            f"--html={html}", "--self-contained-html", f"--junitxml={work / 'junit.xml'}",
        ]  # fmt: skip
        subprocess.run(cmd, check=False)
    finally:
        if fault:
            box.revert_fault(fault)
        if started:
            box.down()
    return html


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make report-screenshot", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/report.png"))
    parser.add_argument("--release", default="v1.4.0")
    parser.add_argument("--fault", default="version-old")
    parser.add_argument("--marker", default="preflight")
    parser.add_argument("--state-dir", type=Path, default=Path(".sandbox"))
    parser.add_argument("--page", type=Path, help="screenshot this report instead of running")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="spark-report-") as tmp:
        page = args.page or run_checks(
            Path(tmp), args.release, args.fault, args.marker, args.state_dir
        )
        if not page.is_file():
            raise SystemExit(f"report-screenshot: no report at {page}")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        screenshot(page, args.out)
    print(f"report-screenshot: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

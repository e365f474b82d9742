"""Issue 15: set-up never installs chrony (its package removes systemd-timesyncd); chronyd
is unpacked from the .deb into a cache and the sandbox serves NTP from that copy."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from pytest_spark.sandbox import components as c

ROOT = Path(__file__).resolve().parents[2]


def test_make_chrony_cache_unpacks_a_chronyd_that_serves_ntp(tmp_path: Path) -> None:
    if shutil.which("dpkg") is None or shutil.which("apt-get") is None:
        pytest.skip("needs a Debian-family machine (dpkg, apt-get)")
    before = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", "chrony"], capture_output=True, text=True
    ).stdout
    cache = tmp_path / "debs"
    make = subprocess.run(
        ["make", "-C", str(ROOT), "--no-print-directory", "chrony-cache", f"DEB_CACHE={cache}"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if make.returncode and "apt-get download" in make.stderr + make.stdout:
        pytest.skip(f"no chrony .deb reachable: {make.stderr[-300:]}")
    assert make.returncode == 0, make.stdout + make.stderr
    assert "chrony not installed" in make.stdout
    after = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", "chrony"], capture_output=True, text=True
    ).stdout
    assert after == before  # the package state of the machine is unchanged
    binary = cache / "chrony" / "usr" / "sbin" / "chronyd"
    assert c.chronyd_binary({"PATH": ""}, binary.parent, sbin="") == str(binary)

    (port,) = c.free_ports(1)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    conf = run_dir / "chrony.conf"
    conf.write_text(c.chrony_conf(port=port, run_dir=run_dir))
    proc = subprocess.Popen(
        c.chronyd_argv(conf, str(binary)),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        answered = False
        for _ in range(100):  # up to ~10 s: a start-up wait, not a timing assertion
            try:
                answered = c.ntp_answers(port)
            except Exception:
                answered = False
            if answered or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert answered, f"chronyd from the cache did not answer (exit {proc.poll()})"
    finally:
        proc.terminate()
        proc.wait(timeout=10)

"""Pure parts of the sandbox: configuration rendering, SBOM variants, the fault registry."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from pytest_spark.sandbox import components as c
from pytest_spark.sandbox import sbom
from pytest_spark.sandbox.faults import FAULTS, faults_for
from pytest_spark.sandbox.launcher import (
    Endpoints,
    Sandbox,
    SandboxError,
    public_endpoints,
    render_prometheus_config,
)

PORTS = {
    "api-1": 1001, "api-2": 1002, "stable-1": 1005, "prometheus": 1003, "alertmanager": 1004,
    "haproxy-stats": 1006, "pgbouncer-exporter": 1007,
}  # fmt: skip


def _bom() -> dict:
    raw = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "metadata": {"timestamp": "2026-01-01T00:00:00+00:00"},
        "components": [
            {
                "type": "library",
                "bom-ref": "uvicorn==0.30.0",
                "name": "uvicorn",
                "version": "0.30.0",
                "purl": "pkg:pypi/uvicorn@0.30.0",
                "externalReferences": [{"type": "website", "url": "https://example.org"}],
            },
            {"type": "library", "bom-ref": "local==1.0", "name": "Local_Pkg", "version": "1.0"},
        ],
        "dependencies": [{"ref": "uvicorn==0.30.0"}],
    }
    return sbom.release_bom(raw, "1.4.0", "a" * 40, "2026-01-01T00:00:00Z")


def test_release_bom_names_the_service_and_is_valid() -> None:
    bom = _bom()
    comp = bom["metadata"]["component"]
    assert (comp["name"], comp["version"], comp["purl"]) == (
        "spark-api",
        "1.4.0",
        "pkg:generic/spark-api@1.4.0",
    )
    assert sbom.build_sha(bom) == "a" * 40
    assert [x["purl"] for x in bom["components"]] == [
        "pkg:pypi/uvicorn@0.30.0",
        "pkg:pypi/local-pkg@1.0",
    ]
    assert all("externalReferences" not in x for x in bom["components"])
    assert bom["dependencies"][0] == {
        "ref": "spark-api@1.4.0",
        "dependsOn": ["uvicorn==0.30.0", "local==1.0"],
    }
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(bom)) is None


def test_sbom_fault_variants() -> None:
    bom = _bom()
    validator = JsonStrictValidator(SchemaVersion.V1_6)
    assert validator.validate_str(json.dumps(sbom.invalid_variant())) is not None
    old = sbom.other_version_variant(bom, "1.3.1")
    assert old["metadata"]["component"]["purl"] == "pkg:generic/spark-api@1.3.1"
    assert old["dependencies"][0]["ref"] == "spark-api@1.3.1"
    other = sbom.other_build_variant(bom)
    assert sbom.build_sha(other) not in (None, "a" * 40)
    assert other["components"][0]["version"] != "0.30.0"
    for variant in (old, other):
        assert validator.validate_str(json.dumps(variant)) is None


def test_prometheus_config_renders_and_passes_promtool(tmp_path: Path) -> None:
    config = render_prometheus_config(tmp_path, PORTS)
    text = config.read_text()
    assert '"127.0.0.1:1001", "127.0.0.1:1002"' in text
    assert "evaluation_interval: 1s" in text
    done = subprocess.run(["promtool", "check", "config", str(config)], capture_output=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_pgbouncer_ini_settings(tmp_path: Path) -> None:
    ini = c.pgbouncer_ini(port=6432, pg_port=5432, run_dir=tmp_path)
    assert "listen_addr = 127.0.0.1\n" in ini
    assert "pool_mode = transaction\n" in ini
    assert "query_wait_timeout = 3\n" in ini  # below the app's 5 s database deadline (CH-05)
    assert "admin_users = spark_admin\n" in ini
    faulty = c.pgbouncer_ini(port=6432, pg_port=5432, run_dir=tmp_path, pool_mode="session")
    assert "pool_mode = session\n" in faulty


def test_chrony_serves_loopback_only_and_never_steers_the_clock(tmp_path: Path) -> None:
    conf = c.chrony_conf(port=1123, run_dir=tmp_path)
    assert {"port 1123", "bindaddress 127.0.0.1", "allow 127.0.0.1", "cmdport 0"} <= set(
        conf.splitlines()
    )
    assert "-x" in c.chronyd_argv(tmp_path / "chrony.conf")


def test_free_ports_are_distinct_loopback_ports() -> None:
    ports = c.free_ports(7)
    assert len(set(ports)) == 7
    assert all(c.port_is_free(p) for p in ports)


def test_public_endpoints_mask_passwords() -> None:
    ep = Endpoints(
        api_urls=("http://127.0.0.1:1",),
        db_dsn="postgresql://spark_admin:s3cret@127.0.0.1:2/spark",
        pgbouncer_dsn="postgresql://spark_app:s3cret@127.0.0.1:3/spark",
        pgbouncer_admin_dsn="postgresql://spark_admin:s3cret@127.0.0.1:3/pgbouncer",
        prometheus_url="http://127.0.0.1:4",
        alertmanager_url="http://127.0.0.1:5",
        ntp_server="127.0.0.1:6",
        state_dir="/x",
        sbom_path="/x/sbom.cdx.json",
        pending_migrations_dir="/x/p",
        migrations_dir="/m",
        wal_archive_dir="/w",
        pg_bin_dir="/b",
        release_version="1.4.0",
        git_sha="a" * 40,
        build_time="2026-01-01T00:00:00Z",
    )
    shown = public_endpoints(ep)
    assert "s3cret" not in json.dumps(shown)
    assert shown["db_dsn"] == "postgresql://spark_admin:***@127.0.0.1:2/spark"
    assert Endpoints.from_dict(ep.to_dict()) == ep


def test_attach_without_a_stack_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="no sandbox running in"):
        Sandbox.attach(tmp_path)
    assert Sandbox(tmp_path).status()["running"] is False
    Sandbox(tmp_path).down()  # nothing to stop: no error


def test_registry_shape() -> None:
    assert {f.name for f in faults_for("RT-01")} == {
        "positions-index-dropped",
        "positions-index-nondeterministic",
        "positions-index-predicate-changed",
    }
    assert all(name == fault.name for name, fault in FAULTS.items())


def test_state_dir_is_accepted_before_and_after_the_sub_command(tmp_path) -> None:
    from pytest_spark.cli import build_parser

    parser = build_parser()
    before = parser.parse_args(["sandbox", "--state-dir", str(tmp_path), "status"])
    after = parser.parse_args(["sandbox", "status", "--state-dir", str(tmp_path)])
    default = parser.parse_args(["sandbox", "status"])
    assert before.state_dir == after.state_dir == tmp_path
    assert str(default.state_dir) == ".sandbox"


def test_a_deep_state_dir_keeps_its_unix_sockets_short(tmp_path) -> None:
    """HAProxy refuses a stats socket path over 97 characters and PostgreSQL one over 107:
    a state dir deep in pytest's per-worker tmp dirs puts them in a short /tmp pg_root."""
    from pytest_spark.sandbox.launcher import SOCKET_PATH_MAX, Layout, _pg_root_path

    deep = tmp_path / ("d" * 90) / "state"
    root = _pg_root_path(deep)
    assert not root.is_relative_to(deep) and len(str(root)) < 40
    sock = Layout(deep, root).haproxy_socket
    assert sock.parent == root and len(str(sock)) <= SOCKET_PATH_MAX
    shallow = Layout(Path("/tmp/s"), Path("/tmp/s/pg"))
    assert shallow.haproxy_socket == Path("/tmp/s/haproxy/admin.sock")


def test_a_deep_tmpdir_does_not_make_the_sockets_long_again(tmp_path, monkeypatch) -> None:
    import tempfile

    from pytest_spark.sandbox import launcher

    monkeypatch.setattr(tempfile, "tempdir", "/tmp/" + "t" * 90)
    root = launcher._pg_root_path(tmp_path / ("d" * 90))
    assert str(root.parent) == "/tmp" and root.name.startswith("spark-pg-")


def test_a_fresh_tmp_pg_root_is_never_one_someone_else_made(tmp_path, monkeypatch) -> None:
    """Not root: the random /tmp name must be created by us (mkdir without exist_ok)."""
    from pytest_spark.sandbox import components, launcher

    monkeypatch.setattr(components, "running_as_root", lambda: False)
    planted = tmp_path / "spark-pg-planted"
    planted.mkdir()
    with pytest.raises(FileExistsError):
        launcher._make_pg_root(planted)
    own = tmp_path / "state" / "pg"
    assert launcher._make_pg_root(own) == own and launcher._make_pg_root(own) == own

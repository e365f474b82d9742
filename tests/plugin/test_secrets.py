"""Secrets never leave the process (issue 8, section 3; PRODUCT.md safety rules).

One real run (a subprocess, so argv, the terminal and $GITHUB_STEP_SUMMARY are real) plants
every secret of the registry -- auth_token however given, a DSN password from ${ENV}, a DSN
password written out (allowed), an ${ENV} value in a plain setting -- in every place that
leaked before: a skip reason, a parametrize id, a warning, a collection error, a module-level
skip, a live log line (httpx's request line with ?token=), a failure message, captured
stdout and logs, a traceback's locals (-l), a fixture error, an xfail reason, a junit
property, evidence, --spark-set on the command line. Then it looks for each secret, in each
form it could be written in, everywhere the run wrote: terminal, JUnit XML, HTML report and
its assets, log file, every bundle file, every tarball member, the step summary.
"""

from __future__ import annotations

import base64
import html
import json
import re
import tarfile
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from pytest_spark.bundle import verify

TOKEN = "Tok/en+A&B<C>\"q'9é"  # every character class an encoder treats specially
DB_PW = "Db-Pw-7f3a9c"
FILE_PW = "File-Lit-Pw-42"
PROM_KEY = "Prom-Key-5e6f"
SECRETS = (TOKEN, DB_PW, FILE_PW, PROM_KEY)

ENCODINGS = {
    "raw": lambda s: s,
    "percent": lambda s: quote(s, safe=""),
    "form": quote_plus,
    "html": html.escape,
    "json": lambda s: json.dumps(s)[1:-1],
    "repr": lambda s: repr(s)[1:-1],
    "node-id": lambda s: node_id(s),
    "html-json": lambda s: html.escape(json.dumps(s)[1:-1]),
    "node-id-xml": lambda s: html.escape(node_id(s)),
    "node-id-json": lambda s: json.dumps(node_id(s))[1:-1],
    "node-id-html-json": lambda s: html.escape(json.dumps(node_id(s))[1:-1]),
}


def node_id(s: str) -> str:
    """How pytest writes a parametrize id (non-ASCII escaped)."""
    return s.encode("unicode_escape").decode("ascii")


SUITE = f"""
import http.server, logging, os, threading, warnings

import httpx
import pytest

from pytest_spark.dsn import dsn_password

TOKEN = {TOKEN!r}


def secrets(cfg):
    t = cfg.targets
    return [t["auth_token"], dsn_password(t["db_dsn"]), dsn_password(t["pgbouncer_admin_dsn"]),
            os.environ["PROM_KEY"]]


@pytest.fixture(scope="module")
def server():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{{srv.server_port}}"
    srv.shutdown()


@pytest.mark.spark_check("PF-01")
def test_live_log(spark_config, server, evidence):
    tok = spark_config.targets["auth_token"]
    with httpx.Client(timeout=5) as client:
        r = client.get(server + "/version", params={{"token": tok, "key": os.environ["PROM_KEY"]}})
    evidence.observe("request", {{"url": str(r.url)}})
    evidence.attach("request.txt", f"GET {{r.url}} with {{tok}}\\n")
    assert r.status_code == 200


@pytest.mark.spark_check("BS-01")
def test_skip(spark_config):
    pytest.skip(f"no access with token {{spark_config.targets['auth_token']}}")


@pytest.mark.spark_check("BS-03")
@pytest.mark.parametrize("who", [TOKEN])
def test_param(who, record_property):
    record_property("who", who)
    warnings.warn(UserWarning(f"deprecated token {{who}}"))


@pytest.mark.spark_check("BS-02")
def test_fail(spark_config):
    s = secrets(spark_config)
    print("stdout:", *s)
    logging.getLogger("spark.test").warning("db password %s", s[1])
    dsn = spark_config.targets["db_dsn"]
    assert False, f"API said 401 for {{s[0]}} via {{dsn}} and {{s[2]}} {{s[3]}}"


@pytest.fixture
def broken(spark_config):
    raise ConnectionError(f"cannot log in with {{spark_config.targets['pgbouncer_admin_dsn']}}")


@pytest.mark.spark_check("BS-05")
def test_error(broken):
    pass


@pytest.mark.spark_check("PF-05")
def test_xfail(spark_config):
    pytest.xfail(f"known: {{spark_config.targets['auth_token']}}")
"""

BROKEN = """
import os
raise ImportError(
    "cannot reach postgresql://spark:" + os.environ["SPARK_DB_PASSWORD"] + "@db/spark with "
    + os.environ["PROM_KEY"]
)
"""

MODULE_SKIP = """
import os
import pytest
pytest.skip("module needs " + os.environ["PROM_KEY"], allow_module_level=True)
"""

TOML_TOKEN = json.dumps(TOKEN, ensure_ascii=False)  # a TOML basic string is JSON-compatible here
CONFIG = f"""
[targets]
db_dsn = "postgresql://spark:${{SPARK_DB_PASSWORD}}@127.0.0.1:9/spark"
pgbouncer_admin_dsn = "postgresql://admin:{FILE_PW}@127.0.0.1:9/pgbouncer"
prometheus_url = "http://127.0.0.1:9/?key=${{PROM_KEY}}"
{{token_line}}

[policy]
allow_literal_secrets = true
"""

HOW = {
    "file literal": (f"auth_token = {TOML_TOKEN}", ()),
    "${ENV}": ('auth_token = "${SPARK_TOKEN}"', ()),
    "--spark-set": ("", ("--spark-set", f"targets.auth_token={TOML_TOKEN}")),
}


def fuzzy(secret: str) -> re.Pattern[str]:
    """The secret in ANY encoding: its ASCII letters and digits in order, anything short
    in place of each other character (independent of the redactor's list of encodings)."""
    parts = re.split(r"[^A-Za-z0-9]+", secret)
    return re.compile(".{1,40}?".join(re.escape(p) for p in parts if p), re.S)


def leaks(where: str, data: bytes | str) -> list[str]:
    text = data if isinstance(data, str) else data.decode("utf-8", "replace")
    found = [
        f"{where}: {secret!r} written as {name}"
        for secret in SECRETS
        for name, encode in ENCODINGS.items()
        if encode(secret) in text
    ]
    for secret in SECRETS:
        m = fuzzy(secret).search(text)
        if m:
            found.append(f"{where}: {secret!r} written as {m.group()!r}")
    return found


@pytest.mark.parametrize("how", sorted(HOW))
def test_no_planted_secret_leaves_the_run(pytester, monkeypatch, bundle_of, how):
    token_line, extra_args = HOW[how]
    pytester.makepyfile(test_suite=SUITE, test_broken=BROKEN, test_modskip=MODULE_SKIP)
    (pytester.path / "spark.toml").write_text(CONFIG.replace("{token_line}", token_line))
    step_summary = pytester.path / "step-summary.md"
    monkeypatch.setenv("SPARK_DB_PASSWORD", DB_PW)
    monkeypatch.setenv("PROM_KEY", PROM_KEY)
    monkeypatch.setenv("SPARK_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--release", "v1.4.0",
        "--junitxml=junit.xml", "--html=report.html", "--log-file=run.log",
        "-rA", "-v", "-l", "-o", "log_cli=true", "--log-cli-level=INFO",
        "-o", "junit_family=xunit1",
        "--continue-on-collection-errors", *extra_args,
    )  # fmt: skip
    terminal = result.stdout.str() + result.stderr.str()
    b = bundle_of()

    # every place was really planted (a test that cannot fail is a defect)
    for shown in (
        "*NOT VERIFIED*no access with token ***",  # the -v check line names a skipped blocker
        "*test_param?***?*",  # -v node id with the parametrize id
        "*UserWarning: deprecated token ****",  # warnings summary
        "*HTTP Request: GET http://127.0.0.1:*/version?token=***&key=*** *",  # live log
        "*cannot reach postgresql://spark:***@db/spark with ****",  # collection error
        "*module needs ****",  # module-level skip
        "*NOT VERIFIED*xfail: known: ****",  # an xfailed blocker is not verified
        "*SPARK VERDICT: NO-GO*",
    ):
        result.stdout.fnmatch_lines([shown])
    junit = (pytester.path / "junit.xml").read_text()
    assert "no access with token ***" in junit and "API said 401 for ***" in junit
    assert "cannot reach postgresql://spark:***@db/spark" in junit
    assert '<property name="who" value="***"' in junit
    assert "[***]" in b.check("BS-03")["tests"][0]["nodeid"]
    assert "API said 401 for ***" in json.dumps(b.verdict)
    manifest = b.json("manifest.json")
    if how == "--spark-set":
        # the registered value and the key=value shape both mask it (the shape also the quotes)
        assert "targets.auth_token=***" in manifest["run"]["argv"]
    assert manifest["run"]["config"]["targets"]["auth_token"] == "***"
    assert "NO-GO" in step_summary.read_text()
    assert verify(b.folder).ok, verify(b.folder).problems  # redaction kept the bundle whole

    # ... and no secret, in any form, anywhere the run wrote
    found = leaks("terminal", terminal)
    for name in ("junit.xml", "report.html", "run.log", "step-summary.md"):
        found += leaks(name, (pytester.path / name).read_bytes())
    for asset in (pytester.path / "assets").glob("*"):
        found += leaks(f"html asset {asset.name}", asset.read_bytes())
    for path in b.files():
        found += leaks(f"bundle {path.relative_to(b.folder)}", path.read_bytes())
    with tarfile.open(b.tarball) as tar:
        members = [m for m in tar.getmembers() if m.isfile()]
        assert len(members) == len(b.files())
        for member in members:
            found += leaks(f"tarball {member.name}", tar.extractfile(member).read())
    assert not found, "\n".join(found)


def test_a_literal_secret_in_spark_toml_stops_the_run_in_one_line(pytester):
    pytester.makepyfile(SUITE)
    (pytester.path / "spark.toml").write_text(f'[targets]\nauth_token = "{FILE_PW}"\n')
    result = pytester.runpytest("-p", "no:cacheprovider", "--release", "v1.4.0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [ln for ln in result.stderr.lines if "pytest-spark" in ln]
    assert len(errors) == 1 and "policy.allow_literal_secrets = true" in errors[0]
    assert "targets.auth_token" in errors[0]
    assert FILE_PW not in result.stdout.str() + result.stderr.str()
    assert not Path(pytester.path / "reports").exists()


def test_the_pytest_cache_stores_no_secret_node_id(pytester, monkeypatch):
    monkeypatch.setenv("SPARK_TOKEN", TOKEN)
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.spark_check("BS-03")
        @pytest.mark.parametrize("who", [{TOKEN!r}])
        def test_param(who):
            assert False
        """
    )
    (pytester.path / "spark.toml").write_text('[targets]\nauth_token = "${SPARK_TOKEN}"\n')
    result = pytester.runpytest("--release", "v1.4.0", "--spark-no-bundle")
    assert result.ret == 1
    stored = list((pytester.path / ".pytest_cache").rglob("*"))
    assert any(p.name == "lastfailed" for p in stored)
    found = [x for p in stored if p.is_file() for x in leaks(str(p.name), p.read_bytes())]
    assert not found, found
    assert "[***]" in (pytester.path / ".pytest_cache/v/cache/lastfailed").read_text()


def test_no_secret_leaves_an_xdist_run(pytester, monkeypatch, bundle_of):
    """Under xdist the reports cross a process boundary and are printed by the controller."""
    pytester.makepyfile(test_suite=SUITE)
    (pytester.path / "spark.toml").write_text(CONFIG.replace("{token_line}", HOW["${ENV}"][0]))
    monkeypatch.setenv("SPARK_DB_PASSWORD", DB_PW)
    monkeypatch.setenv("PROM_KEY", PROM_KEY)
    monkeypatch.setenv("SPARK_TOKEN", TOKEN)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--release", "v1.4.0", "-n", "2",
        "--junitxml=junit.xml", "-rA", "-v", "-l",
    )  # fmt: skip
    result.stdout.fnmatch_lines(
        ["*NOT VERIFIED*no access with token ***", "*SPARK VERDICT: NO-GO*"]
    )
    b = bundle_of()
    assert "[***]" in b.check("BS-03")["tests"][0]["nodeid"]
    found = leaks("terminal", result.stdout.str() + result.stderr.str())
    found += leaks("junit.xml", (pytester.path / "junit.xml").read_bytes())
    for path in b.files():
        found += leaks(f"bundle {path.relative_to(b.folder)}", path.read_bytes())
    assert not found, "\n".join(found)


def test_html_extras_are_redacted_before_a_self_contained_report_encodes_them(pytester):
    """--self-contained-html writes extras as base64 data: URIs, which no file pass can read."""
    pytester.makepyfile(
        """
        import os
        import pytest
        from pytest_html import extras as x

        @pytest.mark.spark_check("BS-01")
        def test_with_extras(extras):
            extras.append(x.text("token " + os.environ["SPARK_TOKEN"], name="raw"))
            extras.append(x.json({"seen": os.environ["SPARK_TOKEN"]}, name="obs"))
        """
    )
    (pytester.path / "spark.toml").write_text('[targets]\nauth_token = "${SPARK_TOKEN}"\n')
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPARK_TOKEN", TOKEN)
        pytester.runpytest(
            "-p", "no:cacheprovider", "--release", "v1.4.0", "--spark-no-bundle",
            "--html=report.html", "--self-contained-html",
        )  # fmt: skip
    page = (pytester.path / "report.html").read_text()
    blobs = re.findall(r"base64,([A-Za-z0-9+/=]+)", page)
    decoded = [base64.b64decode(b).decode("utf-8", "replace") for b in blobs]
    assert blobs, page[-3000:]
    assert any("token ***" in d for d in decoded), decoded
    assert any("***" in d for d in decoded[1:])
    found = [f for d in decoded for f in leaks("data: URI", d)] + leaks("report.html", page)
    assert not found, found

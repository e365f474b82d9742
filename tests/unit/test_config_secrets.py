"""The secret registry of a run's config, and the refusal of secrets written out in spark.toml.

README rule: secrets only as ${ENV}. A literal one is refused (one line, exit 4 through the
plugin) unless policy.allow_literal_secrets = true -- and registered for redaction anyway.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_spark.config import ConfigError, build
from pytest_spark.options import settings_from_flags


def cfg(tmp_path: Path, text: str, environ=None, **kw):
    path = tmp_path / "spark.toml"
    path.write_text(text)
    return build(path=path, environ=environ or {}, **kw)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[targets]\ndb_dsn = "postgresql://u:Lit-Pw-1@h/db"\n', "targets.db_dsn"),
        ("[targets]\npgbouncer_dsn = \"host=h password='Lit Pw 2' dbname=x\"\n", "pgbouncer_dsn"),
        ('[targets]\nauth_token = "Lit-Token-3"\n', "targets.auth_token"),
        ('[env.prod.targets]\nauth_token = "Lit-Token-4"\n', "[env.prod]: targets.auth_token"),
        ('[targets]\ndb_dsn = "postgresql://u:Lit-Pw-5@h/db?sslpassword=${K}"\n', "db_dsn"),
    ],
)
def test_a_literal_secret_in_the_file_is_refused_in_one_line(tmp_path, text, key):
    with pytest.raises(ConfigError) as exc:
        cfg(tmp_path, text, {"K": "key-pass"}, env_name="prod" if "env.prod" in text else "")
    msg = str(exc.value)
    assert key in msg and "policy.allow_literal_secrets = true" in msg and "${" in msg
    assert "\n" not in msg and "Lit" not in msg


@pytest.mark.parametrize(
    "text",
    [
        '[targets]\ndb_dsn = "postgresql://u:${PW}@h/db"\n',
        '[targets]\ndb_dsn = "${WHOLE_DSN}"\n',
        '[targets]\ndb_dsn = "postgresql://u@h1:5432,h2:5433/spark"\n',  # .pgpass / PGPASSWORD
        '[targets]\nauth_token = "${TOKEN}"\n',
    ],
)
def test_secrets_from_the_environment_or_absent_are_accepted(tmp_path, text):
    env = {"PW": "env-pw-1", "WHOLE_DSN": "postgresql://u:env-pw-2@h/db", "TOKEN": "env-tok-3"}
    c = cfg(tmp_path, text, env)
    secrets = {*env.values(), "env-pw-2"} if "WHOLE" in text else {"env-pw-1", "env-tok-3"}
    assert c.redactor.secrets <= secrets  # a ${ENV} value, and the password inside a DSN
    assert ("env-pw-2" in c.redactor.secrets) == ("WHOLE" in text)
    assert bool(c.redactor.secrets) == ("h1:5432" not in text)


def test_allowed_literal_secrets_are_still_registered_and_redacted(tmp_path):
    c = cfg(
        tmp_path,
        '[targets]\nauth_token = "Lit-Token-1"\ndb_dsn = "postgresql://u:Lit%40Pw@h/db"\n'
        "[policy]\nallow_literal_secrets = true\n",
    )
    assert c.redactor.secrets == {"Lit-Token-1", "Lit@Pw"}
    assert "Lit" not in repr(c.redacted())
    assert c.redactor.text("GET /?token=Lit-Token-1 as Lit%40Pw") == "GET /?token=*** as ***"


def test_allow_can_come_from_the_command_line(tmp_path):
    c = cfg(
        tmp_path,
        '[targets]\nauth_token = "Lit-Token-1"\n',
        overrides=settings_from_flags(["policy.allow_literal_secrets=true"]),
    )
    assert "Lit-Token-1" in c.redactor.secrets


@pytest.mark.parametrize(
    "flag",
    [
        'targets.auth_token="Cli-Token-1"',
        "targets.auth_token=Cli-Token-1",
        "targets.db_dsn=postgresql://u:Cli-Token-1@h1,h2/db",
    ],
)
def test_secrets_given_on_the_command_line_are_registered(tmp_path, flag):
    c = build(path=None, cwd=tmp_path, environ={}, overrides=settings_from_flags([flag]))
    assert c.redactor.secrets == {"Cli-Token-1"}
    assert c.redactor.text(f"argv: --spark-set {flag}").count("Cli-Token-1") == 0


def test_a_secret_setting_of_the_wrong_type_is_not_echoed(tmp_path):
    with pytest.raises(ConfigError) as exc:
        cfg(tmp_path, "[targets]\nauth_token = 987654321\n")
    assert "987654321" not in str(exc.value) and "auth_token must be a string" in str(exc.value)


def test_an_invalid_dsn_from_the_environment_is_not_echoed(tmp_path):
    with pytest.raises(ConfigError) as exc:
        cfg(tmp_path, '[targets]\ndb_dsn = "${DSN}"\n', {"DSN": "host=h password=Env-Pw-9 junk"})
    assert "Env-Pw-9" not in str(exc.value) and "not a valid PostgreSQL DSN" in str(exc.value)


def test_a_misspelt_spark_set_does_not_echo_its_value():
    with pytest.raises(ConfigError) as exc:
        settings_from_flags(['targets.auth_tokn="Cli-Token-2"'])
    assert "Cli-Token-2" not in str(exc.value) and "targets.auth_tokn" in str(exc.value)


def test_the_config_repr_in_a_traceback_holds_no_secret(tmp_path):
    """pytest -l truncates a long repr mid-value: a cut secret could not be recognised."""
    c = cfg(tmp_path, '[targets]\nauth_token = "${T}"\n', {"T": "env-token-123456"})
    assert "env-token" not in repr(c) and repr(c).startswith("SparkConfig(source=")


def test_a_url_password_is_a_secret_too(tmp_path):
    """RFC 3986 3.2.1 userinfo: registered from any URL setting, literal ones refused."""
    with pytest.raises(ConfigError, match=r"targets\.api_urls is a secret written out"):
        cfg(tmp_path, '[targets]\napi_urls = ["https://ops:Url-Pw-1@api.example"]\n')
    c = cfg(
        tmp_path,
        '[targets]\nprometheus_url = "https://ops:${PROM_PW}@prom.example"\n',
        {"PROM_PW": "Url%40Pw-2"},
    )
    assert c.redactor.secrets == {"Url%40Pw-2", "Url@Pw-2"}  # as given, and decoded

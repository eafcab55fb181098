"""Settings read from RENDEZVOUS_* variables: conversions, defaults, and errors that name the
variable and the reason."""

from __future__ import annotations

import re
from dataclasses import fields

import orjson
import pytest

from app.settings import Settings, SettingsError, documented, env_var
from learning.deployment import default_deployment


def _json(d: dict) -> str:
    return orjson.dumps(d).decode()


DEFAULT_JSON = _json(default_deployment().to_dict())
REGRESSION_JSON = _json(default_deployment("regression").to_dict())


def _two_champions() -> str:
    d = default_deployment().to_dict()
    d["models"][1]["role"] = "champion"
    return _json(d)


VALID = [
    pytest.param({}, {"broker": "kafka://127.0.0.1:19092", "env": "prod", "role": "serving",
                      "partitions": 4, "web_port": 6066, "deadline_ms": 50.0,
                      "store": "memory://", "default_deployment": ""}, id="defaults"),
    pytest.param({"RENDEZVOUS_PARTITIONS": "8"}, {"partitions": 8}, id="partitions"),
    pytest.param({"RENDEZVOUS_PARTITIONS": "1024"}, {"partitions": 1024}, id="partitions-max"),
    pytest.param({"RENDEZVOUS_WEB_PORT": "7001", "RENDEZVOUS_WEB_HOST": "0.0.0.0"},
                 {"web_port": 7001, "web_host": "0.0.0.0"}, id="web"),
    pytest.param({"RENDEZVOUS_DEADLINE_MS": "12.5"}, {"deadline_ms": 12.5}, id="deadline-float"),
    pytest.param({"RENDEZVOUS_DEADLINE_MS": "20"}, {"deadline_ms": 20.0}, id="deadline-int-text"),
    pytest.param({"RENDEZVOUS_LABEL_TTL_S": "60", "RENDEZVOUS_AGGREGATE_WINDOW_S": "0.5"},
                 {"label_ttl_s": 60.0, "aggregate_window_s": 0.5}, id="windows"),
    pytest.param({"RENDEZVOUS_MAX_PAYLOAD_BYTES": "256", "RENDEZVOUS_MAX_FEATURES": "10000",
                  "RENDEZVOUS_MAX_STRING_LEN": "8"},
                 {"max_payload_bytes": 256, "max_features": 10000, "max_string_len": 8},
                 id="limits-bounds"),
    pytest.param({"RENDEZVOUS_BROKER": "kafka://kafka:9092", "RENDEZVOUS_ENV": "staging-2",
                  "RENDEZVOUS_ROLE": "heavy"},
                 {"broker": "kafka://kafka:9092", "env": "staging-2", "role": "heavy",
                  "is_serving": False, "app_id": "rendezvous-staging-2-heavy"}, id="pool"),
    pytest.param({"RENDEZVOUS_BROKER": "aiokafka://a:9092;b:9092"},
                 {"broker": "aiokafka://a:9092;b:9092"}, id="aiokafka-broker"),
    pytest.param({"RENDEZVOUS_STORE": "rocksdb://"}, {"store": "rocksdb://"}, id="rocksdb"),
    pytest.param({"RENDEZVOUS_TASK": "regression", "RENDEZVOUS_UNKNOWN_TENANTS": "dead-letter"},
                 {"task": "regression", "unknown_tenants": "dead-letter"}, id="task"),
    pytest.param({"RENDEZVOUS_SIGNING_KEY": "k" * 16, "RENDEZVOUS_API_TOKEN": "t" * 16},
                 {"signing_key": "k" * 16, "api_token": "t" * 16}, id="secrets-16"),
    pytest.param({"RENDEZVOUS_DEFAULT_DEPLOYMENT": DEFAULT_JSON},
                 {"default_deployment": DEFAULT_JSON}, id="default-deployment"),
    pytest.param({"RENDEZVOUS_TASK": "regression", "RENDEZVOUS_DEFAULT_DEPLOYMENT": REGRESSION_JSON},
                 {"task": "regression", "default_deployment": REGRESSION_JSON},
                 id="regression-deployment"),
    pytest.param({"RENDEZVOUS_DATA_DIR": "/data", "RENDEZVOUS_ENV": "dev"},
                 {"data_dir": "/data", "app_id": "rendezvous-dev-serving"}, id="data-dir"),
    pytest.param({"OTHER_PARTITIONS": "x", "PARTITIONS": "0"}, {"partitions": 4},
                 id="other-variables-ignored"),
    pytest.param({"RENDEZVOUS_STALL_AFTER_S": "5"}, {"stall_after_s": 5.0}, id="stall-min"),
]


@pytest.mark.parametrize("environ, expected", VALID)
def test_valid_environment(environ, expected):
    s = Settings.from_env(environ)
    for name, value in expected.items():
        got = getattr(s, name)
        assert got == value, name
        assert type(got) is type(value), name


def test_converted_types():
    s = Settings.from_env({"RENDEZVOUS_PARTITIONS": "16", "RENDEZVOUS_DEADLINE_MS": "7"})
    assert (s.partitions, s.deadline_ms) == (16, 7.0)
    assert type(s.partitions) is int and type(s.deadline_ms) is float


def test_unset_variables_keep_defaults():
    assert Settings.from_env({}) == Settings()


def test_deployments_file_that_exists(tmp_path):
    path = tmp_path / "deployments.json"
    path.write_bytes(orjson.dumps({"acme": default_deployment().to_dict()}))
    s = Settings.from_env({"RENDEZVOUS_DEPLOYMENTS_FILE": str(path)})
    assert s.deployments_file == str(path)


INVALID = [
    pytest.param({"RENDEZVOUS_STALL_AFTER_S": "4.9"}, "RENDEZVOUS_STALL_AFTER_S",
                 "must be between 5 and 3600 seconds", id="stall-too-soon"),
    pytest.param({"RENDEZVOUS_PARTITIONS": "four"}, "RENDEZVOUS_PARTITIONS", "not a valid int",
                 id="partitions-text"),
    pytest.param({"RENDEZVOUS_PARTITIONS": "2.5"}, "RENDEZVOUS_PARTITIONS", "not a valid int",
                 id="partitions-fraction"),
    pytest.param({"RENDEZVOUS_PARTITIONS": "0"}, "RENDEZVOUS_PARTITIONS",
                 "must be between 1 and 1024", id="partitions-zero"),
    pytest.param({"RENDEZVOUS_PARTITIONS": "1025"}, "RENDEZVOUS_PARTITIONS",
                 "must be between 1 and 1024", id="partitions-too-many"),
    pytest.param({"RENDEZVOUS_ENV": "Prod"}, "RENDEZVOUS_ENV",
                 "must be lowercase letters, digits and dashes", id="env-uppercase"),
    pytest.param({"RENDEZVOUS_ENV": "prod.eu"}, "RENDEZVOUS_ENV",
                 "must be lowercase letters, digits and dashes", id="env-dot"),
    pytest.param({"RENDEZVOUS_ROLE": "Heavy"}, "RENDEZVOUS_ROLE",
                 "must be 'serving' or a pool name", id="role-uppercase"),
    pytest.param({"RENDEZVOUS_ROLE": "pool_fast"}, "RENDEZVOUS_ROLE",
                 "must be 'serving' or a pool name", id="role-underscore"),
    pytest.param({"RENDEZVOUS_ROLE": ""}, "RENDEZVOUS_ROLE",
                 "must be 'serving' or a pool name", id="role-empty"),
    pytest.param({"RENDEZVOUS_SIGNING_KEY": "short-key"}, "RENDEZVOUS_SIGNING_KEY",
                 "at least 16 characters", id="signing-key-short"),
    pytest.param({"RENDEZVOUS_API_TOKEN": "x" * 15}, "RENDEZVOUS_API_TOKEN",
                 "at least 16 characters", id="api-token-short"),
    pytest.param({"RENDEZVOUS_BROKER": "127.0.0.1:9092"}, "RENDEZVOUS_BROKER",
                 "must start with kafka://", id="broker-no-scheme"),
    pytest.param({"RENDEZVOUS_BROKER": "http://kafka:9092"}, "RENDEZVOUS_BROKER",
                 "must start with kafka://", id="broker-http"),
    pytest.param({"RENDEZVOUS_STORE": "redis://"}, "RENDEZVOUS_STORE",
                 "must be memory:// or rocksdb://", id="store"),
    pytest.param({"RENDEZVOUS_WEB_PORT": "65536"}, "RENDEZVOUS_WEB_PORT", "must be a TCP port",
                 id="web-port"),
    pytest.param({"RENDEZVOUS_WEB_PORT": "http"}, "RENDEZVOUS_WEB_PORT", "not a valid int",
                 id="web-port-text"),
    pytest.param({"RENDEZVOUS_DEADLINE_MS": "fast"}, "RENDEZVOUS_DEADLINE_MS",
                 "not a valid float", id="deadline-text"),
    pytest.param({"RENDEZVOUS_DEADLINE_MS": "0"}, "RENDEZVOUS_DEADLINE_MS",
                 "must be in (0, 60000]", id="deadline-zero"),
    pytest.param({"RENDEZVOUS_DEADLINE_MS": "nan"}, "RENDEZVOUS_DEADLINE_MS",
                 "must be in (0, 60000]", id="deadline-nan"),
    pytest.param({"RENDEZVOUS_MAX_PAYLOAD_BYTES": "255"}, "RENDEZVOUS_MAX_PAYLOAD_BYTES",
                 "must be between 256 and 16 MiB", id="payload"),
    pytest.param({"RENDEZVOUS_MAX_FEATURES": "0"}, "RENDEZVOUS_MAX_FEATURES",
                 "must be between 1 and 10000", id="features"),
    pytest.param({"RENDEZVOUS_MAX_STRING_LEN": "7"}, "RENDEZVOUS_MAX_STRING_LEN",
                 "must be between 8 and 10000", id="string-len"),
    pytest.param({"RENDEZVOUS_TASK": "ranking"}, "RENDEZVOUS_TASK",
                 "must be classification or regression", id="task"),
    pytest.param({"RENDEZVOUS_UNKNOWN_TENANTS": "drop"}, "RENDEZVOUS_UNKNOWN_TENANTS",
                 "must be 'default' or 'dead-letter'", id="unknown-tenants"),
    pytest.param({"RENDEZVOUS_LABEL_TTL_S": "0"}, "RENDEZVOUS_LABEL_TTL_S",
                 "must be a positive finite number", id="label-ttl"),
    pytest.param({"RENDEZVOUS_LABEL_TTL_S": "inf"}, "RENDEZVOUS_LABEL_TTL_S",
                 "must be a positive finite number", id="label-ttl-infinite"),
    pytest.param({"RENDEZVOUS_AGGREGATE_WINDOW_S": "-1"}, "RENDEZVOUS_AGGREGATE_WINDOW_S",
                 "must be a positive finite number", id="aggregate-window"),
    pytest.param({"RENDEZVOUS_PARTITION": "8"}, "RENDEZVOUS_PARTITION", "not a setting",
                 id="misspelt-variable"),
    pytest.param({"RENDEZVOUS_TASK": "regression",
                  "RENDEZVOUS_DEFAULT_DEPLOYMENT": orjson.dumps(
                      default_deployment("classification").to_dict()).decode()},
                 "RENDEZVOUS_DEFAULT_DEPLOYMENT", "its task 'classification' is not "
                 "RENDEZVOUS_TASK='regression'", id="deployment-task-mismatch"),
    pytest.param({"RENDEZVOUS_DEFAULT_DEPLOYMENT": "{not json"}, "RENDEZVOUS_DEFAULT_DEPLOYMENT",
                 "line 1 column 2", id="deployment-not-json"),
    pytest.param({"RENDEZVOUS_DEFAULT_DEPLOYMENT": "[]"}, "RENDEZVOUS_DEFAULT_DEPLOYMENT",
                 "deployment must be an object", id="deployment-not-object"),
    pytest.param({"RENDEZVOUS_DEFAULT_DEPLOYMENT": _two_champions()},
                 "RENDEZVOUS_DEFAULT_DEPLOYMENT",
                 "expected exactly one champion, found 2: logreg, hoeffding",
                 id="deployment-two-champions"),
    pytest.param({"RENDEZVOUS_DEPLOYMENTS_FILE": "/nonexistent/rendezvous/deployments.json"},
                 "RENDEZVOUS_DEPLOYMENTS_FILE", "cannot read it: No such file or directory",
                 id="deployments-file-missing"),
]


@pytest.mark.parametrize("environ, variable, reason", INVALID)
def test_invalid_environment(environ, variable, reason):
    with pytest.raises(SettingsError) as info:
        Settings.from_env(environ)
    message = str(info.value)
    assert re.match(re.escape(variable) + "[=:]", message), message
    assert reason in message


@pytest.mark.parametrize("variable", ["RENDEZVOUS_SIGNING_KEY", "RENDEZVOUS_API_TOKEN"])
def test_short_secret_is_not_echoed(variable):
    secret = "hunter2-secret"  # 14 characters
    with pytest.raises(SettingsError) as info:
        Settings.from_env({variable: secret})
    assert str(info.value) == f"{variable}: must be at least 16 characters"


def test_deployments_file_that_is_a_directory(tmp_path):
    with pytest.raises(SettingsError, match=r"^RENDEZVOUS_DEPLOYMENTS_FILE: cannot read it: Is a directory$"):
        Settings(deployments_file=str(tmp_path))


@pytest.mark.parametrize("content, reason", [
    (b"[]", "must be a JSON object mapping tenant -> deployment"),
    (b'{"acme": {"task": "classification"}}', "missing"),
    (b'{"../../etc/passwd": {}}', "tenant '../../etc/passwd': a tenant id is 1 to 64 letters"),
])
def test_deployments_file_with_bad_content(tmp_path, content, reason):
    path = tmp_path / "deployments.json"
    path.write_bytes(content)
    with pytest.raises(SettingsError) as info:
        Settings(deployments_file=str(path))
    assert str(info.value).startswith("RENDEZVOUS_DEPLOYMENTS_FILE: ")
    assert reason in str(info.value)


def test_settings_error_is_a_value_error():
    assert issubclass(SettingsError, ValueError)


def test_app_id_and_topics():
    assert Settings().app_id == "rendezvous-prod-serving"
    assert Settings(role="fast").app_id == "rendezvous-prod-fast"
    assert Settings(env="staging").topic("events") == "staging.events"
    assert Settings().topic("dead-letter") == "prod.dead-letter"
    assert str(Settings(env="staging", role="heavy", data_dir="/d").data_path) == (
        "/d/rendezvous-staging-heavy")


def test_with_validates():
    s = Settings().with_(partitions=12)
    assert s.partitions == 12
    with pytest.raises(SettingsError, match="^RENDEZVOUS_PARTITIONS=0: "):
        Settings().with_(partitions=0)


def test_env_var():
    assert env_var("web_port") == "RENDEZVOUS_WEB_PORT"


def test_documented_lists_every_field():
    rows = documented()
    names = [f.name for f in fields(Settings)]
    assert [var for var, _, _ in rows] == [env_var(n) for n in names]
    assert len(set(var for var, _, _ in rows)) == len(names)
    for (var, doc, default), f in zip(rows, fields(Settings)):
        assert isinstance(doc, str) and doc.strip(), var
        assert default == f.default, var
    assert ("RENDEZVOUS_PARTITIONS", 4) in [(var, default) for var, _, default in rows]

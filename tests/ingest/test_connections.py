"""Connections from AIRFLOW_CONN_* values: a malformed one fails at once naming the connection and the
field, never quoting the value (it holds the secret)."""

from __future__ import annotations

import time
import traceback

import pytest

from ingest.connections import ConnectionConfigError, get_connection
from ingest.extract import extract_vendor

SECRET = "shpat_s3cr3t-T0KEN"
CONN = "shopify_default"
VAR = "AIRFLOW_CONN_SHOPIFY_DEFAULT"

BAD_VALUES = {
    "neither JSON nor a URI": (
        f"admin:{SECRET}@shop.example.com",
        f"connection '{CONN}': {VAR} is neither JSON nor a URI (scheme://login:password@host:port/?extra)",
    ),
    "a URI without host": (
        f"https://admin:{SECRET}@/admin/api",
        f"connection '{CONN}': host is missing (scheme://login:password@host:port/?extra)",
    ),
    "a URI whose port is not a number": (
        f"https://admin:{SECRET}@shop.example.com:44x3",
        f"connection '{CONN}': port is not a number",
    ),
    "a URI whose __extra__ is not JSON": (
        f"https://admin:{SECRET}@shop.example.com?__extra__=%7Btoken%3A{SECRET}",
        f"connection '{CONN}': extra is not valid JSON (line 1, column 2)",
    ),
    "JSON that does not parse": (
        f'{{"host": "https://shop.example.com", "password": "{SECRET}",}}',
        f"connection '{CONN}': {VAR} is not valid JSON (line 1, column 71)",
    ),
    "JSON without host": (
        f'{{"login": "admin", "password": "{SECRET}"}}',
        f"connection '{CONN}': host is missing",
    ),
    "JSON whose extra text is not JSON": (
        f'{{"host": "https://shop.example.com", "extra": "{{\'access_token\': \'{SECRET}\'}}"}}',
        f"connection '{CONN}': extra is not valid JSON (line 1, column 2)",
    ),
    "JSON whose extra is not an object": (
        f'{{"host": "https://shop.example.com", "extra": ["{SECRET}"]}}',
        f"connection '{CONN}': extra must be a JSON object, not list",
    ),
    "JSON whose extra text is a list": (
        f'{{"host": "https://shop.example.com", "extra": "[\\"{SECRET}\\"]"}}',
        f"connection '{CONN}': extra must be a JSON object, not list",
    ),
}


@pytest.mark.parametrize("case", BAD_VALUES)
def test_a_malformed_connection_names_the_connection_and_field_never_the_secret(monkeypatch, case):
    value, message = BAD_VALUES[case]
    monkeypatch.setenv(VAR, value)

    with pytest.raises(ConnectionConfigError) as excinfo:
        get_connection(CONN)

    assert str(excinfo.value) == message
    assert SECRET not in "".join(traceback.format_exception(excinfo.value))  # nor in a chained error


def test_extract_with_a_malformed_connection_fails_before_any_request(monkeypatch):
    """Before: host https://None, and 139 s of retries of a DNS failure before the task failed."""
    monkeypatch.setenv(VAR, f"admin:{SECRET}@shop.example.com")
    started = time.monotonic()
    with pytest.raises(ConnectionConfigError, match="neither JSON nor a URI"):
        extract_vendor("shopify")
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    "value, host, extra",
    [
        (
            '{"host": "http://127.0.0.1", "port": 8080, "extra": "{\\"shop\\": \\"x\\"}"}',
            "http://127.0.0.1:8080",
            {"shop": "x"},
        ),
        ('{"host": "https://api.example.com", "extra": {"shop": "x"}}', "https://api.example.com", {"shop": "x"}),
        ("https://admin:pw@api.example.com:8443/?shop=x", "https://api.example.com:8443", {"shop": "x"}),
        (
            "http://admin:pw@127.0.0.1:9000?__extra__=%7B%22shop%22%3A%20%22x%22%7D",
            "http://127.0.0.1:9000",
            {"shop": "x"},
        ),
    ],
)
def test_well_formed_values_in_either_form_still_parse(monkeypatch, value, host, extra):
    monkeypatch.setenv(VAR, value)
    conn = get_connection(CONN)
    assert (conn.host, conn.extra) == (host, extra)


def test_the_extract_task_fails_for_good_on_a_malformed_connection(monkeypatch, tmp_path):
    """The Airflow task body turns it into AirflowFailException: its retries would meet the same value."""
    from pipeline.airflow_local import configure

    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    for name in ("AIRFLOW_HOME", "AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"):
        monkeypatch.delenv(name, raising=False)
    configure()  # before anything imports airflow
    from airflow.sdk.exceptions import AirflowFailException

    from pipeline.tasks import extract

    monkeypatch.setenv(VAR, f"admin:{SECRET}@shop.example.com")
    with pytest.raises(AirflowFailException, match="neither JSON nor a URI") as excinfo:
        extract("shopify", None, None)
    assert SECRET not in str(excinfo.value)

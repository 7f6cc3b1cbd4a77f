"""Source connections: Airflow connections, settable as AIRFLOW_CONN_<ID> environment variables.

The same variables configure the pipeline inside and outside Airflow. A Connection never
shows its secret: repr, str and error messages name the connection id only.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from ingest.errors import PermanentError


class ConnectionConfigError(RuntimeError, PermanentError):
    """A connection is missing or malformed."""


@dataclass(frozen=True)
class Connection:
    conn_id: str
    host: str
    login: str = ""
    password: str = field(default="", repr=False)
    extra: dict = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return self.host.rstrip("/")


URI_FORM = "scheme://login:password@host:port/?extra"


def _parse_json(conn_id: str, field: str, text: str) -> object:
    """JSON text of a connection; an error names the connection, the field and the position, never the text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConnectionConfigError(
            f"connection '{conn_id}': {field} is not valid JSON (line {exc.lineno}, column {exc.colno})"
        ) from None


def _extra(conn_id: str, value: object) -> dict:
    """A connection's `extra`: a JSON object, or its text. Never echoed: it may hold a token."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        value = _parse_json(conn_id, "extra", value)
    if not isinstance(value, dict):
        raise ConnectionConfigError(f"connection '{conn_id}': extra must be a JSON object, not {type(value).__name__}")
    return value


def _from_json(conn_id: str, raw: str) -> Connection:
    name = f"AIRFLOW_CONN_{conn_id.upper()}"
    d = _parse_json(conn_id, name, raw)
    if not isinstance(d, dict):
        raise ConnectionConfigError(f"connection '{conn_id}': {name} must be a JSON object")
    host = d.get("host") or ""
    if not isinstance(host, str) or not host:
        raise ConnectionConfigError(f"connection '{conn_id}': host is missing")
    port = d.get("port")
    if port not in (None, ""):
        if not str(port).isdigit():
            raise ConnectionConfigError(f"connection '{conn_id}': port is not a number")
        if "://" in host and host.count(":") < 2:
            host = f"{host}:{port}"
    return Connection(conn_id, host, d.get("login") or "", d.get("password") or "", _extra(conn_id, d.get("extra")))


def _from_uri(conn_id: str, raw: str) -> Connection:
    """URI form, scheme://login:password@host:port/?extra; Airflow's `__extra__` query holds JSON."""
    if "://" not in raw:
        raise ConnectionConfigError(
            f"connection '{conn_id}': AIRFLOW_CONN_{conn_id.upper()} is neither JSON nor a URI ({URI_FORM})"
        )
    u = urlsplit(raw)
    try:
        port = u.port
    except ValueError:
        raise ConnectionConfigError(f"connection '{conn_id}': port is not a number") from None
    if not u.hostname:
        raise ConnectionConfigError(f"connection '{conn_id}': host is missing ({URI_FORM})")
    scheme = u.scheme if u.scheme in ("http", "https") else "https"
    host = f"{scheme}://{u.hostname}" + (f":{port}" if port else "")
    query = dict(parse_qsl(u.query))
    extra = _extra(conn_id, query.pop("__extra__")) if "__extra__" in query else query
    return Connection(conn_id, host, unquote(u.username or ""), unquote(u.password or ""), extra)


def _from_env(conn_id: str) -> Connection | None:
    """The connection from AIRFLOW_CONN_<ID>; a malformed value fails naming the connection and the field,
    never quoting the value (it holds the secret)."""
    raw = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}")
    if raw is None:
        return None
    raw = raw.strip()
    return _from_json(conn_id, raw) if raw.startswith("{") else _from_uri(conn_id, raw)


def get_connection(conn_id: str) -> Connection:
    """The connection from AIRFLOW_CONN_<ID>, else from Airflow's own store when running under Airflow."""
    conn = _from_env(conn_id)
    if conn is None:
        try:
            from airflow.sdk import Connection as AirflowConnection

            c = AirflowConnection.get(conn_id)
        except Exception:  # any failure here means: not configured
            raise ConnectionConfigError(
                f"connection '{conn_id}' is not configured: set AIRFLOW_CONN_{conn_id.upper()} or create it in Airflow"
            ) from None
        extra = _extra(conn_id, c.extra)  # extra_dejson would log a bad one and go on with {}
        host = c.host or ""
        if c.port and host.count(":") < 2:
            host = f"{host}:{c.port}"
        conn = Connection(conn_id, host, c.login or "", c.password or "", extra)
    if not conn.host.startswith(("http://", "https://")):
        raise ConnectionConfigError(f"connection '{conn_id}': host must be a URL with its scheme (got no http/https)")
    return conn

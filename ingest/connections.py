"""Source connections: Airflow connections, settable as AIRFLOW_CONN_<ID> environment variables.

The same variables configure the pipeline inside and outside Airflow. A Connection never
shows its secret: repr, str and error messages name the connection id only.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit


class ConnectionConfigError(RuntimeError):
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


def _from_env(conn_id: str) -> Connection | None:
    raw = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}")
    if raw is None:
        return None
    raw = raw.strip()
    if raw.startswith("{"):
        try:
            d = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConnectionConfigError(
                f"AIRFLOW_CONN_{conn_id.upper()} is not valid JSON (line {exc.lineno})"
            ) from None
        host = d.get("host") or ""
        if d.get("port") and "://" in host and host.count(":") < 2:
            host = f"{host}:{d['port']}"
        extra = d.get("extra") or {}
        if isinstance(extra, str):
            extra = json.loads(extra) if extra else {}
        return Connection(conn_id, host, d.get("login") or "", d.get("password") or "", extra)
    # URI form: scheme://login:password@host:port/?extra
    u = urlsplit(raw)
    scheme = u.scheme if u.scheme in ("http", "https") else "https"
    host = f"{scheme}://{u.hostname}" + (f":{u.port}" if u.port else "")
    return Connection(conn_id, host, unquote(u.username or ""), unquote(u.password or ""), dict(parse_qsl(u.query)))


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
        extra = c.extra_dejson if hasattr(c, "extra_dejson") else {}
        host = c.host or ""
        if c.port and host.count(":") < 2:
            host = f"{host}:{c.port}"
        conn = Connection(conn_id, host, c.login or "", c.password or "", extra)
    if not conn.host.startswith(("http://", "https://")):
        raise ConnectionConfigError(f"connection '{conn_id}': host must be a URL with its scheme (got no http/https)")
    return conn

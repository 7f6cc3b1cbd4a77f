"""How the pipeline proves itself to a Shopify store (vendor-apis.md §3a).

A store that installs the pipeline since 2026 has a Dev Dashboard app: a client ID (the connection's
login) and secret (its password), exchanged with the client credentials grant for a token that lasts
24 hours. The token is requested when first needed, renewed ten minutes before it expires and once on a
401, and lives only in this object's memory: it is never logged, put in an error, returned to a caller
that logs, or written anywhere. A legacy custom app's static `shpat_` token (`extra.access_token`, or the
password of a connection without a login) is used as it is.
"""

from __future__ import annotations

import logging
import threading
import time
from urllib.parse import urlencode

import msgspec
import urllib3

from ingest.connections import Connection
from ingest.http import AuthError, FatalHTTPError, Unreachable, VendorSession

log = logging.getLogger(__name__)
HEADER = "X-Shopify-Access-Token"
SCOPES = ("read_orders", "read_all_orders", "read_customers")  # orders older than 60 days need read_all_orders
RENEW_BEFORE_S = 600.0


class MissingScope(AuthError):
    """The store's app was not granted an access scope the extract needs: the merchant must add it."""


def missing_scope(conn_id: str, scope: str) -> MissingScope:
    return MissingScope(
        f"{conn_id}: the Shopify app lacks the access scope '{scope}' (needed: {', '.join(SCOPES)}); add it to "
        "the app's configuration in the Dev Dashboard, release a new version and install it on the store again"
    )


class StaticToken:
    """A legacy custom app's permanent token: nothing to renew."""

    def __init__(self, token: str):
        self._headers = {HEADER: token}

    def headers(self) -> dict[str, str]:
        return self._headers

    def renew(self) -> bool:
        return False


class ClientCredentials:
    """Tokens from the client credentials grant (POST {shop}/admin/oauth/access_token)."""

    def __init__(self, conn: Connection, session: VendorSession):
        self.conn_id = conn.conn_id
        self._url = f"{conn.base_url}/admin/oauth/access_token"
        self._form = {"grant_type": "client_credentials", "client_id": conn.login, "client_secret": conn.password}
        self._session = session  # its pool, timeouts, retry policy and counts: the grant is one of its requests
        self._pool, self._timeout, self._stats = session.pool, session.timeout, session.stats
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = threading.Lock()
        self.grants = 0  # how many tokens this run asked for (tests, logs)

    def __repr__(self) -> str:
        return f"ClientCredentials({self.conn_id!r})"

    def headers(self) -> dict[str, str]:
        with self._lock:
            if self._token is None or time.monotonic() >= self._renew_at:
                self._grant()
            return {HEADER: self._token}

    def renew(self) -> bool:
        with self._lock:
            self._grant()
        return True

    def _grant(self) -> None:
        body = urlencode(self._form).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        tries = self._session.retry.max_tries
        for attempt in range(1, tries + 1):
            self._stats.requests += 1  # the run's counts (ops.extract_runs) include the grant's requests
            try:
                r = self._pool.urlopen(
                    "POST", self._url, body=body, headers=headers, timeout=self._timeout, retries=False, redirect=False
                )
            except urllib3.exceptions.NewConnectionError:
                if not self._session.answered:  # the shop is down or misnamed: as for any first request, no retries
                    raise Unreachable(
                        f"{self.conn_id}: POST {self._url}: cannot connect on the first request of this run; nothing "
                        "retried (check the connection's host and port, or the vendor's status)"
                    ) from None
                problem = "NewConnectionError"
            except urllib3.exceptions.HTTPError as exc:
                problem = type(exc).__name__
            else:
                self._session.answered = True
                if r.status == 200:
                    break
                if r.status < 500 and r.status != 429:
                    error = _field(r.data, "error") or f"HTTP {r.status}"
                    raise AuthError(
                        f"{self.conn_id}: the client credentials grant was refused ({error}, HTTP {r.status}): check "
                        "the client ID (login) and client secret (password) of this connection, and that the app "
                        "is installed on the store"
                    )
                problem = f"HTTP {r.status}"
            if attempt == tries:
                raise FatalHTTPError(f"{self.conn_id}: the client credentials grant kept failing ({problem})")
            self._stats.retries += 1
            self._stats.note(problem)
            log.warning("%s: %s on the client credentials grant, retry %d", self.conn_id, problem, attempt)
            time.sleep(self._session._backoff(attempt))
        try:
            grant = msgspec.json.decode(r.data, type=_Grant)
        except msgspec.DecodeError:
            raise FatalHTTPError(f"{self.conn_id}: the client credentials grant answered without a token") from None
        granted = {s.strip() for s in grant.scope.split(",")}
        granted |= {"read_" + s.removeprefix("write_") for s in granted if s.startswith("write_")}  # write implies read
        for scope in SCOPES:
            if scope not in granted:
                raise missing_scope(self.conn_id, scope)
        self._token = grant.access_token
        self._renew_at = time.monotonic() + max(0.0, grant.expires_in - RENEW_BEFORE_S)
        self.grants += 1
        log.info("%s: new access token (valid %d s)", self.conn_id, grant.expires_in)


class _Grant(msgspec.Struct):
    access_token: str
    scope: str = ""
    expires_in: int = 86399


def _field(raw: bytes, name: str) -> str | None:
    try:
        value = msgspec.json.decode(raw).get(name)
    except (msgspec.DecodeError, AttributeError):
        return None
    return value if isinstance(value, str) and len(value) < 80 else None


def credential_for(conn: Connection, session: VendorSession) -> StaticToken | ClientCredentials:
    """Client ID + secret (login + password) when the connection has a login; else a legacy static token."""
    if conn.extra.get("access_token"):
        return StaticToken(str(conn.extra["access_token"]))
    if conn.login:
        return ClientCredentials(conn, session)
    return StaticToken(conn.password)

"""Task failure alerts: always a log line; when ALERT_WEBHOOK_URL is set, a short Slack-compatible post.

The message names the DAG, task, run and the error's first line; never connection details (errors
raised by ingest name connections, not secrets, and the text is passed through the redactor anyway).
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)


def alert_text(context: dict) -> str:
    ti = context.get("task_instance") or context.get("ti")
    error = context.get("exception")
    first_line = str(error).splitlines()[0][:300] if error else "failed"
    where = f"{ti.dag_id}.{ti.task_id} (run {ti.run_id}, try {ti.try_number})" if ti else "a task"
    return f":red_circle: CS profit-center pipeline: {where} failed: {first_line}"


def on_failure(context: dict) -> None:
    text = redact(alert_text(context))
    log.error("ALERT %s", text)
    url = os.environ.get("ALERT_WEBHOOK_URL")
    if not url:
        return
    body = json.dumps({"text": text}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
    except OSError as e:  # an alert that cannot be delivered must not hide the task's own failure
        log.error("alert webhook failed: %s", type(e).__name__)


def redact(text: str) -> str:
    """Drop anything that looks like a credential from connection variables in the environment."""
    for key, value in os.environ.items():
        if key.startswith("AIRFLOW_CONN_") and value:
            for secret in credentials(value):
                if secret and len(secret) >= 4:
                    text = text.replace(secret, "***")
    return text


def credentials(value: str) -> tuple[str | None, str | None]:
    """(password, login) of a connection in Airflow's JSON or URI form."""
    try:
        conn = json.loads(value)
        return conn.get("password"), conn.get("login")
    except ValueError:
        url = urlsplit(value)
        return (unquote(url.password) if url.password else None), (unquote(url.username) if url.username else None)

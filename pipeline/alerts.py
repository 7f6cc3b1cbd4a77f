"""Failure alerts, one per failed DAG run: always a log line; when ALERT_WEBHOOK_URL is set, a short
Slack-compatible post.

The message names the DAG, the task that failed first, the run, the error's first line and where the task's
log is; never connection details (errors raised by ingest name connections, not secrets, and the text is
passed through the redactor anyway). Tasks that fail after the first in the same run (a dbt model's task
beside the dbt build that failed it) only log: a marker file per run under $DATA_DIR/alerts claims the alert.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from urllib.parse import unquote, urlsplit

import settings

log = logging.getLogger(__name__)


def failure_text(context: dict) -> str:
    """`<dag>.<task> failed: <the error's first line>`: what a run's closing summary says (pipeline/summary.py)."""
    ti = context.get("task_instance") or context.get("ti")
    error = context.get("exception")
    first_line = str(error).splitlines()[0][:300] if error else "failed"
    return f"{ti.dag_id}.{ti.task_id} failed: {first_line}" if ti else f"a task failed: {first_line}"


def alert_text(context: dict) -> str:
    ti = context.get("task_instance") or context.get("ti")
    error = context.get("exception")
    first_line = str(error).splitlines()[0][:300] if error else "failed"
    where = f"{ti.dag_id}.{ti.task_id} (run {ti.run_id}, try {ti.try_number})" if ti else "a task"
    log_at = getattr(ti, "log_url", None) if ti else None
    text = f":red_circle: CS profit-center pipeline: {where} failed: {first_line}"
    return f"{text} (log: {log_at})" if log_at else text


def first_of_run(context: dict) -> bool:
    """True for the first failure of its DAG run (it claims the run's alert), False for any later one."""
    from settings import alerts_dir

    ti = context.get("task_instance") or context.get("ti")
    if ti is None:
        return True
    folder = alerts_dir() / ti.dag_id
    folder.mkdir(parents=True, exist_ok=True)
    # with the run's start: `dag.test()` (make run) reuses a run id for the same logical date
    run = f"{ti.run_id}@{getattr(context.get('dag_run'), 'start_date', '')}"
    try:
        (folder / "".join(c if c.isalnum() or c in "-_." else "_" for c in run)).open("x").close()
    except FileExistsError:
        return False
    return True


def on_failure(context: dict) -> None:
    text = redact(alert_text(context))
    if not first_of_run(context):
        log.error("failed too (this run's alert was already sent): %s", text)
        return
    # `failure`: read by pipeline/airflow_local.run for the closing summary of `make run` and the demo
    log.error("ALERT %s", text, extra={"failure": redact(failure_text(context))})
    url = settings.alert_webhook_url()
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

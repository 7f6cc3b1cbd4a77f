"""A failed DAG run alerts once: a log line always, and a Slack-compatible post when a webhook is
configured, naming the DAG, task and run and never a credential; a later failure in the same run only logs."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import SimpleNamespace
from typing import ClassVar

from pipeline.alerts import on_failure


class Webhook(BaseHTTPRequestHandler):
    received: ClassVar[list] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Webhook.received.append((self.headers["Content-Type"], json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_a_failure_posts_a_short_alert_without_secrets(monkeypatch, caplog, data_dir):
    Webhook.received = []
    server = HTTPServer(("127.0.0.1", 0), Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("ALERT_WEBHOOK_URL", f"http://127.0.0.1:{server.server_port}/hook")
        monkeypatch.setenv("AIRFLOW_CONN_SHOPIFY_DEFAULT", "http://:shpat_s3cr3t@shop.example/?api_version=2025-01")
        monkeypatch.setenv("AIRFLOW_CONN_GORGIAS_DEFAULT", json.dumps({"login": "ops@acme", "password": "g0rg1asKEY"}))
        ti = SimpleNamespace(dag_id="extract_shopify", task_id="extract", run_id="scheduled__2026-04-01", try_number=2)
        error = RuntimeError("shopify_default: 401 with token shpat_s3cr3t (gorgias key g0rg1asKEY)\ntraceback...")
        on_failure({"task_instance": ti, "exception": error})
        # a second task failing in the same run (a model's task beside the dbt build) logs, never posts again
        later = SimpleNamespace(dag_id="extract_shopify", task_id="load", run_id=ti.run_id, try_number=1)
        on_failure({"task_instance": later, "exception": RuntimeError("upstream gone")})
    finally:
        server.shutdown()
    [(content_type, payload)] = Webhook.received
    assert content_type == "application/json" and set(payload) == {"text"}
    text = payload["text"]
    assert "extract_shopify.extract" in text and "scheduled__2026-04-01" in text and "401" in text
    assert "shpat_s3cr3t" not in text and "g0rg1asKEY" not in text and "traceback" not in text
    assert "shpat_s3cr3t" not in caplog.text and "extract_shopify.extract" in caplog.text
    assert "extract_shopify.load" in caplog.text and "already sent" in caplog.text

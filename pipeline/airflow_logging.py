"""Airflow's logging configuration for the in-process runs (`make demo`, `make run`, the tests), named by
`[logging] logging_config_class` in pipeline/airflow_local.configure: Airflow's default, plus one level.

`dag.test()` logs "No tasks to run" at WARNING once a second while a task waits out its retry delay: a poll,
not news (the task logs its own retry; a task that fails for good fails the run, and the run's summary says
which and why). Its module logs nothing else below ERROR, so ERROR there loses no warning. `[logging]
namespace_levels` cannot do it: it filters Airflow's structlog loggers, and dag.test() logs through stdlib.
"""

from __future__ import annotations

from copy import deepcopy

from airflow.config_templates.airflow_local_settings import DEFAULT_LOGGING_CONFIG

LOGGING_CONFIG = deepcopy(DEFAULT_LOGGING_CONFIG)
LOGGING_CONFIG.setdefault("loggers", {})["airflow.sdk.definitions.dag"] = {"level": "ERROR"}

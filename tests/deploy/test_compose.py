"""docker-compose.yml, Dockerfile, .dockerignore and .env.example, checked statically (no Docker engine
on these machines): services, commands, secrets, environment, mounts, healthchecks, dependencies, the
single-writer pool and the demo profile."""

from __future__ import annotations

import re
import shlex

import pytest

from ingest.sources import vendors
from tests.deploy.compose import (
    DOCKERIGNORE,
    LOCK,
    REPO,
    command_text,
    dockerfile,
    dockerfile_env,
    env_example,
    environment,
    interpolate,
    load_compose,
    module_constant,
    mounts,
    references,
    shell_lines,
    strings,
    strip_references,
)

DEFAULTS = REPO / "dags" / "pipeline_defaults.py"
WRITER_POOL = module_constant(DEFAULTS, "WRITER_POOL")
VENDORS = list(vendors())  # the declared vendors (ingest/sources)
SANDBOX_VENDOR_ORDER = ("gorgias", "recharge", "shopify", "easypost")  # sandbox.emulators.server.VENDORS

AIRFLOW_COMMANDS = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery worker",
}
AIRFLOW_SERVICES = [*AIRFLOW_COMMANDS, "airflow-init"]
LONG_RUNNING = ["postgres", "redis", *AIRFLOW_COMMANDS, "sandbox"]
DATA_DIR = "/opt/airflow/data"
SECRET_ENV = ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY")
ONLY_A_REFERENCE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:?\?[^}]*)?\}$")  # no literal, no default


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_compose()


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def airflow_services(services: dict) -> dict:
    """Every service that runs Airflow (the demo's bootstrap included)."""
    return {name: s for name, s in services.items() if "AIRFLOW__CORE__EXECUTOR" in environment(s)}


def demo_env(**overrides: str) -> dict[str, str]:
    """The .env of a demo (fake values): every variable .env.example leaves empty is filled in; the
    connections and FINANCE_INPUTS_DIR stay unset."""
    env = {name: f"fake{name.lower()}" for name, value in env_example().items() if not value}
    env["SANDBOX_API_KEY"] = "demokey123"
    env.update(overrides)
    return env


# ---------------------------------------------------------------------------------------------- services
def test_the_services_exist_with_the_pinned_images(services):
    for name in ["postgres", "redis", *AIRFLOW_SERVICES, "sandbox"]:
        assert name in services, f"service {name} missing"
    assert re.fullmatch(r"postgres:16(\.\d+)*(-[\w.]+)?", services["postgres"]["image"])
    assert re.fullmatch(r"redis:7(\.\d+)*(-[\w.]+)?", services["redis"]["image"])


def test_the_core_services_have_no_profile_and_the_sandbox_is_demo_only(services):
    for name in ["postgres", "redis", *AIRFLOW_SERVICES]:
        assert not services[name].get("profiles"), f"{name} must start without a profile"
    assert services["sandbox"]["profiles"] == ["demo"]
    for name, service in services.items():
        if "sandbox" in command_text(service) and "python -m sandbox" in command_text(service):
            assert service.get("profiles") == ["demo"], f"{name} runs the sandbox outside the demo profile"


def test_every_airflow_service_uses_the_image_built_from_the_dockerfile(services):
    image = services["airflow-apiserver"]["image"]
    for name in [*AIRFLOW_SERVICES, "sandbox", "demo-bootstrap"]:
        service = services[name]
        assert service["image"] == image, name
        assert service["build"]["context"] == "."
        assert service["build"].get("dockerfile", "Dockerfile") == "Dockerfile"


@pytest.mark.parametrize(("name", "command"), AIRFLOW_COMMANDS.items())
def test_each_airflow_component_runs_its_airflow_3_command(services, name, command):
    service = services[name]
    assert "entrypoint" not in service, "the image's entrypoint runs `airflow <command>`"
    got = service["command"]
    assert (shlex.split(got) if isinstance(got, str) else got) == command.split()


def test_the_api_server_is_published_and_the_others_are_not(services):
    assert [p.split(":")[-1] for p in services["airflow-apiserver"]["ports"]] == ["8080"]
    for name in ["postgres", "redis", "airflow-scheduler", "airflow-dag-processor", "airflow-worker", "sandbox"]:
        assert not services[name].get("ports"), f"{name} must not be published on the host"


# ------------------------------------------------------------------------------------------------- init
def init_script(services: dict) -> list[list[str]]:
    command = services["airflow-init"]["command"]
    assert command[:2] == ["bash", "-c"], "airflow-init runs a bash script"
    return shell_lines(interpolate(command[2], demo_env()))  # what the container runs ($$ -> $)


def test_init_migrates_then_creates_the_single_writer_pool(services):
    lines = init_script(services)
    assert lines[0] == ["set", "-euo", "pipefail"], "a failed step must fail the init service"
    migrate = lines.index(["airflow", "db", "migrate"])
    pools = [i for i, line in enumerate(lines) if line[:3] == ["airflow", "pools", "set"]]
    assert len(pools) == 1
    _, _, _, pool, slots, *description = lines[pools[0]]
    assert pool == WRITER_POOL == "duckdb_writer"
    assert int(slots) == 1, "DuckDB allows one writing process: the pool has exactly one slot"
    assert description, "airflow pools set needs a description"
    assert migrate < pools[0], "the pool table exists only after the migration"


def test_init_creates_the_admin_user_from_the_environment(services):
    users = [line for line in init_script(services) if line[:3] == ["airflow", "users", "create"]]
    assert len(users) == 1
    args = users[0]
    assert args[args.index("--role") + 1] == "Admin"
    assert args[args.index("--password") + 1] == "${AIRFLOW_ADMIN_PASSWORD}"  # expanded by the shell
    env = environment(services["airflow-init"])
    assert ONLY_A_REFERENCE.match(env["AIRFLOW_ADMIN_PASSWORD"])
    # `airflow users create` is the FAB auth manager's command: FAB must be the configured auth manager
    assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("fab_auth_manager.FabAuthManager")


def test_init_runs_once_and_everything_waits_for_it(services):
    assert services["airflow-init"].get("restart", "no") == "no"
    for name in [*AIRFLOW_COMMANDS, "demo-bootstrap"]:
        assert services[name]["depends_on"]["airflow-init"] == {"condition": "service_completed_successfully"}


# ----------------------------------------------------------------------------------- environment, secrets
def test_every_airflow_service_uses_celery_postgres_redis_and_the_execution_api(services):
    found = airflow_services(services)
    assert set(AIRFLOW_SERVICES) <= set(found)
    for name, service in found.items():
        env = environment(service)
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        sql = strip_references(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
        assert sql.startswith("postgresql+psycopg2://") and "@postgres:5432/" in sql, name
        backend = strip_references(env["AIRFLOW__CELERY__RESULT_BACKEND"])
        assert backend.startswith("db+postgresql://") and "@postgres:5432/" in backend, name
        broker = env["AIRFLOW__CELERY__BROKER_URL"]
        assert broker.startswith("redis://") and "@redis:6379/" in broker, name
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/", name
        assert env["AIRFLOW__CORE__LOAD_EXAMPLES"].lower() == "false"


def test_one_jwt_secret_fernet_key_and_api_secret_shared_by_every_airflow_service(services):
    found = airflow_services(services)
    for key in SECRET_ENV:
        values = {name: environment(s).get(key) for name, s in found.items()}
        assert len(set(values.values())) == 1, f"{key} differs between services: {values}"
        (value,) = set(values.values())
        assert value and ONLY_A_REFERENCE.match(value), f"{key} must be a bare ${{VAR}} reference, got {value!r}"
    for name, service in found.items():
        url = strip_references(environment(service)["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
        assert url == "postgresql+psycopg2://airflow:@postgres:5432/airflow", f"{name}: password by reference only"
    assert ONLY_A_REFERENCE.match(environment(services["postgres"])["POSTGRES_PASSWORD"])


def test_no_secret_looking_literal_in_the_compose_file(compose):
    for service_name, service in compose["services"].items():
        for key, value in environment(service).items():
            if re.search(r"PASSWORD|SECRET|FERNET|TOKEN|API_KEY", key):
                assert ONLY_A_REFERENCE.match(value), f"{service_name}: {key} must come from the environment"
    for value in strings(compose):
        literal = strip_references(value)
        for password in re.findall(r"://[^:/@\s]*:([^@/\s]*)@", literal):
            assert not password, f"a password is written in a URL: {value!r}"
        for token in re.findall(r"[A-Za-z0-9+/=_-]{24,}", literal):
            assert not (re.search(r"\d", token) and re.search(r"[A-Za-z]", token)), f"secret-looking {token!r}"


def all_references(compose: dict) -> list:
    """Compose interpolates YAML values (not keys, not comments)."""
    return [ref for value in strings(compose) for ref in references(value)]


def test_env_example_names_every_variable_the_compose_file_needs(compose):
    needed = {ref.name for ref in all_references(compose) if not ref.has_default}
    listed = env_example()
    assert needed, "the compose file takes its secrets from the environment"
    missing = needed - set(listed)
    assert not missing, f".env.example does not name {sorted(missing)}"
    for name in ("AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY", "POSTGRES_PASSWORD"):
        assert name in needed
        assert listed[name] == "", f".env.example must not carry a value for the secret {name}"


def test_the_compose_file_interpolates_with_a_complete_env_and_refuses_without_a_secret(compose):
    values = strings(compose)
    for value in values:
        interpolate(value, demo_env())  # raises on a missing required variable
    for secret in ("AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "POSTGRES_PASSWORD", "AIRFLOW_ADMIN_PASSWORD"):
        env = demo_env()
        del env[secret]
        with pytest.raises(KeyError, match=secret):
            for value in values:
                interpolate(value, env)


def test_source_connections_and_optional_settings_come_from_the_environment(services):
    env = environment(services["airflow-worker"])
    declared = {v.conn_env for v in vendors().values()}
    assert {k for k in env if k.startswith("AIRFLOW_CONN_")} == declared, "one connection per declared vendor"
    for vendor in VENDORS:
        key = f"AIRFLOW_CONN_{vendor.upper()}_DEFAULT"
        ref = references(env[key])[0]
        assert ref.name == key, f"{key} must be taken from .env first"
        assert key in env_example()
    for optional in ("FINANCE_INPUTS_DIR", "ALERT_WEBHOOK_URL"):
        (ref,) = [r for r in references(env[optional]) if r.name == optional]
        assert ref.has_default, f"{optional} is optional"


# ------------------------------------------------------------------------------------- data and the dags
def test_the_data_volume_is_mounted_at_data_dir_in_every_service_that_uses_it(compose, services):
    assert "pipeline-data" in compose["volumes"]
    users = {**airflow_services(services), "sandbox": services["sandbox"]}
    for name, service in users.items():
        assert mounts(service).get(DATA_DIR) == "pipeline-data", f"{name} does not mount the data volume"
        assert environment(service)["DATA_DIR"] == DATA_DIR, name
    assert dockerfile_env()["DATA_DIR"] == DATA_DIR
    for name in ("postgres", "redis"):
        assert DATA_DIR not in mounts(services[name])


def test_the_dags_and_the_code_are_in_the_image_where_airflow_and_python_look(services):
    env = dockerfile_env()
    dags_folder = env["AIRFLOW__CORE__DAGS_FOLDER"]
    for name, service in airflow_services(services).items():
        assert environment(service).get("AIRFLOW__CORE__DAGS_FOLDER", dags_folder) == dags_folder, name
    copies = {}
    for ins in dockerfile():
        if ins.keyword == "COPY":
            *sources, target = [a for a in shlex.split(ins.args) if not a.startswith("--")]
            copies.update({s.rstrip("/"): target.rstrip("/") for s in sources})
    project = env["PYTHONPATH"].split(":")[0]
    assert copies["dags"] == dags_folder
    for package in ("dags", "ingest", "pipeline", "expectations", "dbt_project", "sandbox"):
        assert (REPO / package).is_dir()
        assert copies[package] == f"{project}/{package}", f"{package}/ is not copied beside the others"
    assert copies["settings.py"] == f"{project}/settings.py"  # every package reads it
    # pipeline.dbt finds dbt_project/ next to pipeline/: the repo layout is kept
    assert copies["pipeline"].rsplit("/", 1)[0] == copies["dbt_project"].rsplit("/", 1)[0] == project


# ------------------------------------------------------------------------------ healthchecks, depends_on
def test_every_long_running_service_has_a_healthcheck(services):
    for name in LONG_RUNNING:
        check = services[name].get("healthcheck")
        assert check and check["test"][0] in ("CMD", "CMD-SHELL"), f"{name} has no healthcheck"
    assert "/api/v2/version" in " ".join(services["airflow-apiserver"]["healthcheck"]["test"])
    assert "8974/health" in " ".join(services["airflow-scheduler"]["healthcheck"]["test"])
    assert environment(services["airflow-scheduler"])["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "true"
    assert "DagProcessorJob" in " ".join(services["airflow-dag-processor"]["healthcheck"]["test"])
    assert "TriggererJob" in " ".join(services["airflow-triggerer"]["healthcheck"]["test"])
    assert "inspect ping" in " ".join(services["airflow-worker"]["healthcheck"]["test"])


def test_dependencies_wait_for_healthy_services(services):
    valid = {"service_started", "service_healthy", "service_completed_successfully"}
    for name in [*AIRFLOW_SERVICES, "demo-bootstrap"]:
        deps = services[name]["depends_on"]
        assert deps["postgres"] == {"condition": "service_healthy"}, name
        assert deps["redis"] == {"condition": "service_healthy"}, name
    assert services["airflow-worker"]["depends_on"]["airflow-apiserver"] == {"condition": "service_healthy"}
    for name, service in services.items():
        deps = service.get("depends_on") or {}
        assert isinstance(deps, dict), f"{name}: use the long depends_on form with conditions"
        for dep, spec in deps.items():
            assert dep in services, f"{name} depends on an unknown service {dep}"
            assert spec["condition"] in valid, f"{name} -> {dep}"
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep} to be healthy; it has no healthcheck"
            # compose refuses a dependency on a service whose profile is not active
            assert not services[dep].get("profiles") or service.get("profiles"), f"{name} -> profiled {dep}"


# ---------------------------------------------------------------------------------------- the demo profile
def sandbox_command(services: dict) -> list[str]:
    service = services["sandbox"]
    script = service["command"][0] if service["entrypoint"] == ["bash", "-c"] else command_text(service)
    (serve,) = [line for line in shell_lines(interpolate(script, demo_env())) if "serve" in line]
    return serve


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_the_sandbox_serves_the_demo_company_on_fixed_ports_inside_the_network(services):
    args = sandbox_command(services)
    assert args[:5] == ["exec", "python", "-m", "sandbox", "serve"]
    assert option(args, "--scale") == "demo" and option(args, "--seed") == "1"
    assert option(args, "--host") == "0.0.0.0", "loopback is unreachable from the other containers"
    assert option(args, "--public-host") == "sandbox", "the printed connections must name the service"
    ports = [int(p) for p in option(args, "--ports").split(",")]
    assert len(ports) == len(set(ports)) == 4
    assert sorted(int(p) for p in services["sandbox"]["expose"]) == sorted(ports)
    health = " ".join(services["sandbox"]["healthcheck"]["test"])
    assert f"localhost:{ports[0]}/__sandbox__/clock" in health
    assert environment(services["sandbox"])["SANDBOX_API_KEY"] == "${SANDBOX_API_KEY}"


def test_unset_connections_point_at_the_sandbox_with_its_fixed_key(services, monkeypatch):
    from ingest.connections import get_connection

    ports = dict(zip(SANDBOX_VENDOR_ORDER, option(sandbox_command(services), "--ports").split(","), strict=True))
    env = demo_env()
    worker = environment(services["airflow-worker"])
    for vendor in VENDORS:
        key = f"AIRFLOW_CONN_{vendor.upper()}_DEFAULT"
        monkeypatch.setenv(key, interpolate(worker[key], env))
        conn = get_connection(f"{vendor}_default")
        assert conn.base_url == f"http://sandbox:{ports[vendor]}", vendor
        assert conn.password == env["SANDBOX_API_KEY"], vendor
        assert float(conn.extra["rate_limit_per_second"]) == 0
    assert get_connection("gorgias_default").login == "admin@acmeboxes.example"  # sandbox.company.AGENT_DOMAIN
    shopify = get_connection("shopify_default")  # a Dev Dashboard app: client ID + secret, a supported version
    assert shopify.login == "sandbox-app" and shopify.extra["api_version"] == "2026-10"


def test_connections_set_in_env_win_over_the_sandbox(services):
    worker = environment(services["airflow-worker"])
    real = '{"conn_type": "http", "host": "https://api.easypost.com", "password": "x"}'
    assert interpolate(worker["AIRFLOW_CONN_EASYPOST_DEFAULT"], demo_env(AIRFLOW_CONN_EASYPOST_DEFAULT=real)) == real


def test_the_demo_finance_inputs_are_the_sandbox_folder_on_the_data_volume(services, monkeypatch):
    from sandbox.__main__ import simulation_dir

    args = sandbox_command(services)
    monkeypatch.setenv("DATA_DIR", DATA_DIR)
    expected = simulation_dir(option(args, "--scale"), int(option(args, "--seed"))) / "finance"
    for name, service in airflow_services(services).items():
        assert interpolate(environment(service)["FINANCE_INPUTS_DIR"], demo_env()) == str(expected), name


def test_the_demo_bootstrap_unpauses_the_pipeline_but_not_the_month_end_close(services):
    bootstrap = services["demo-bootstrap"]
    assert bootstrap["profiles"] == ["demo"]
    assert bootstrap["depends_on"]["sandbox"] == {"condition": "service_healthy"}
    script = interpolate(bootstrap["command"][2], demo_env())
    (loop,) = [line for line in shell_lines(script) if line[:3] == ["for", "dag", "in"]]
    unpaused = {word.rstrip(";") for word in loop[3 : loop.index("do")]}
    expected = {f"extract_{v}" for v in VENDORS} | {"finance_inputs", "transform"}
    assert unpaused == expected
    dag_sources = "\n".join(p.read_text() for p in (REPO / "dags").glob("*.py"))
    assert 'dag_id=f"extract_{vendor}"' in dag_sources
    for dag_id in ("finance_inputs", "transform", "month_end_close"):
        assert f'dag_id="{dag_id}"' in dag_sources
    assert "airflow dags unpause" in script and "month_end_close" not in script


# ----------------------------------------------------------------------------------------- the image
def test_the_dockerfile_builds_on_airflow_3_3_2_and_installs_the_lock():
    instructions = dockerfile()
    first = instructions[0]
    assert first.keyword == "FROM" and first.args == "apache/airflow:3.3.2-python3.12"
    assert [i.keyword for i in instructions].count("FROM") == 1
    copies = [i.args for i in instructions if i.keyword == "COPY" and "requirements.lock" in i.args]
    assert copies, "the lock is copied into the image"
    runs = " && ".join(i.args for i in instructions if i.keyword == "RUN")
    assert re.search(r"(pip|uv pip) install [^&]*-r \S*requirements\.lock", runs), "the lock is installed"
    assert "uv pip sync" not in runs, "sync would uninstall the image's celery/postgres/redis/fab providers"
    assert "pip check" in runs
    # the lock pins the same Airflow as the base image: installing it never moves Airflow
    assert re.search(r"^apache-airflow==3\.3\.2$", LOCK.read_text(), re.MULTILINE)
    users = [i.args for i in instructions if i.keyword == "USER"]
    assert users and users[-1] == "airflow", "pip installs as the airflow user, and the image runs as it"


def test_the_image_turns_off_every_phone_home():
    env = dockerfile_env()
    assert env["DBT_SEND_ANONYMOUS_USAGE_STATS"] == "false"
    assert env["GX_ANALYTICS_ENABLED"] == "false"
    assert env["AIRFLOW__COSMOS__ENABLE_TELEMETRY"].lower() == "false"


def test_the_dockerignore_keeps_data_environments_and_secrets_out_of_the_build():
    ignored = {line.strip().rstrip("/") for line in DOCKERIGNORE.read_text().splitlines()}
    for path in ("data", ".venv", "dbt_project/target", "logs", ".git", ".env"):
        assert path in ignored, f"{path} must not be sent to the Docker build"

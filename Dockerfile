# The pipeline's image: Airflow 3.3.2 (Python 3.12) + this repo's lock + its code.
# Used by every Airflow service in docker-compose.yml and by the demo's `sandbox` service.
#
#   docker compose build          (or: docker build -t cs-profit-center-airflow .)
#
# About the lock: requirements.lock is universal (3.11/3.12) and pins apache-airflow==3.3.2 itself, the
# same version as this base image, so installing it never up- or downgrades Airflow. It does not list
# the providers the image brings for the deployment (celery, postgres, redis, fab) nor their drivers
# (psycopg2, celery, redis): `pip install` (not `uv pip sync`, which would remove them) keeps those.
# `pip check` then fails the build if a pin of the lock breaks a requirement of anything already in the
# image, instead of leaving a broken Airflow to find at run time. Airflow's remote constraints files are
# not used (unreachable from the build machines): the lock is the constraint.
FROM apache/airflow:3.3.2-python3.12

USER airflow

COPY --chown=airflow:0 requirements.lock /opt/airflow/requirements.lock
RUN pip install --no-cache-dir -r /opt/airflow/requirements.lock \
    && pip check \
    && python -c "import airflow, sys; sys.exit(airflow.__version__ != '3.3.2')"

ENV PROJECT_DIR=/opt/airflow/project \
    DATA_DIR=/opt/airflow/data \
    PYTHONPATH=/opt/airflow/project \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/airflow/project/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    AIRFLOW__OPENLINEAGE__DISABLED=True \
    AIRFLOW__COSMOS__ENABLE_TELEMETRY=False \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false \
    DBT_VERSION_CHECK=false \
    GX_ANALYTICS_ENABLED=false \
    DO_NOT_TRACK=true \
    SCARF_NO_ANALYTICS=true

# The code, in the repository's layout (pipeline.dbt finds dbt_project/ beside pipeline/). Owned by the
# airflow user: dbt writes target/ and logs/ inside dbt_project/.
COPY --chown=airflow:0 settings.py /opt/airflow/project/settings.py
COPY --chown=airflow:0 dags/ /opt/airflow/project/dags/
COPY --chown=airflow:0 ingest/ /opt/airflow/project/ingest/
COPY --chown=airflow:0 pipeline/ /opt/airflow/project/pipeline/
COPY --chown=airflow:0 expectations/ /opt/airflow/project/expectations/
COPY --chown=airflow:0 dbt_project/ /opt/airflow/project/dbt_project/
COPY --chown=airflow:0 sandbox/ /opt/airflow/project/sandbox/

# The dbt manifest the transform DAG renders its per-model tasks from (dbt parse does not touch a warehouse).
RUN cd /opt/airflow/project && python -m pipeline.dbt parse

# DATA_DIR (warehouse, landing, published marts, exports, the demo's sandbox files) is a volume. Created
# here so a new named volume starts owned by the airflow user.
RUN mkdir -p /opt/airflow/data
VOLUME ["/opt/airflow/data"]

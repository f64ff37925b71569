# One image for both processes of the meshdiff GitHub App:
#   web:    gunicorn --bind 0.0.0.0:8000 --workers 2 --threads 16 'webhooks.app:create_app()'   (the default)
#   worker: celery -A bot.tasks worker --loglevel=INFO --concurrency=1
# Health: GET /healthz on the web container (200 = Redis reachable; lists live workers and whether
# each can make the sandbox that fences pull-request code in).
# The worker runs every dbt invocation in a bubblewrap sandbox (user, PID, IPC, UTS and network
# namespaces). Docker's defaults forbid that; run the worker container with
#   --security-opt seccomp=unconfined --security-opt apparmor=unconfined --security-opt systempaths=unconfined
# (or a seccomp profile allowing unshare/setns/mount/umount2/pivot_root), on a host that allows
# unprivileged user namespaces. See README.md, "Docker" and "Security model". Without them every
# analysis fails closed, saying so; MESHDIFF_SANDBOX=off runs PR code unsandboxed (unsafe).
# dbt-core, dbt-duckdb and dbt-loom come with meshdiff; other adapters through a build argument:
#   docker build --build-arg DBT_ADAPTERS="dbt-snowflake~=1.11.0 dbt-bigquery~=1.11.0" -t meshdiff .
FROM python:3.11-slim

ARG DBT_ADAPTERS=""
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MESHDIFF_WORK_DIR=/var/lib/meshdiff/work \
    MESHDIFF_CACHE_DIR=/var/lib/meshdiff/cache

RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates tini bubblewrap \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml setup.py MANIFEST.in README.md LICENSE ./
COPY examples ./examples
COPY analysis ./analysis
COPY bot ./bot
COPY webhooks ./webhooks
RUN pip install . && if [ -n "$DBT_ADAPTERS" ]; then pip install $DBT_ADAPTERS; fi

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin meshdiff \
 && mkdir -p /var/lib/meshdiff/work /var/lib/meshdiff/cache \
 && chown -R meshdiff:meshdiff /var/lib/meshdiff
USER meshdiff

EXPOSE 8000
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "2", "--threads", "16", "--timeout", "30", \
     "--access-logfile", "-", "webhooks.app:create_app()"]

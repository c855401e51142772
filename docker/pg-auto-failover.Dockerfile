# A pg_auto_failover node (monitor or PostgreSQL 15): the official postgres:15 image (Debian,
# with the PostgreSQL project's apt repository) plus pg_auto_failover's packages.
# Used by docker-compose.yml's `cluster` profile; see docs/scale-out.md.
FROM postgres:15
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-15-auto-failover pg-auto-failover-cli \
    && rm -rf /var/lib/apt/lists/*
USER postgres
ENV PGDATA=/var/lib/postgresql/pgaf
WORKDIR /var/lib/postgresql
ENTRYPOINT []

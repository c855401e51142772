# The deal ledger's HTTP service: `docker build -t deal-ledger .`, then see docker-compose.yml.
FROM python:3.11-slim

# Build from a throw-away source directory: only what `pip install .` needs
# (pyproject.toml names README.md as the package's readme, so it must be here too).
WORKDIR /src
COPY pyproject.toml README.md ./
COPY ledger ./ledger
COPY api ./api
COPY migrations ./migrations
RUN pip install --no-cache-dir --disable-pip-version-check . \
    && rm -rf /src

# Run as an unprivileged user with a home directory, where the embedded PostgreSQL keeps
# its data (~/.local/share/deal-ledger) when no LEDGER_DATABASE_URL is given.
RUN useradd --create-home --uid 10001 --user-group --shell /usr/sbin/nologin ledger
USER 10001:10001
WORKDIR /home/ledger

# Only LEDGER_* settings (ledger/settings.py VARIABLES): Settings.from_env refuses unknown ones.
ENV LEDGER_HOST=0.0.0.0 LEDGER_PORT=8000
EXPOSE 8000

# Liveness through /health; slim images have no curl, so ask Python's urllib.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('LEDGER_PORT', '8000') + '/health', timeout=4)"]

ENTRYPOINT ["ledger"]
CMD ["serve"]

# Stateyard server image. Data lives in /data (mount a volume); set STATEYARD_SECRET_KEY and,
# for production, STATEYARD_DATABASE_URL=postgresql://... .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    STATEYARD_HOST=0.0.0.0 \
    STATEYARD_PORT=8080 \
    STATEYARD_DATABASE_URL=sqlite:////data/stateyard.db \
    STATEYARD_KEY_FILE=/data/stateyard.key \
    STATEYARD_SCHEMA_DIR=/app/schema \
    STATEYARD_FIXTURES_DIR=/app/fixtures

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir . && useradd --create-home --uid 1000 stateyard && mkdir /data && chown stateyard /data
COPY schema ./schema
COPY fixtures ./fixtures

USER stateyard
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s \
    CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"STATEYARD_PORT\"]}/health')"
CMD ["stateyard", "serve"]

# Rapport's service image: installs exactly the locked dependencies, runs as a non-root user,
# keeps its SQLite store (and .eml outbox) on the /data volume.
FROM python:3.11-slim
WORKDIR /app
COPY requirements.lock pyproject.toml README.md ./
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock
COPY engine engine
COPY signals signals
COPY api api
COPY rules rules
COPY examples examples
RUN pip install --no-cache-dir --no-deps --no-build-isolation . \
    && useradd --system --uid 10001 --home-dir /data rapport \
    && mkdir -p /data && chown rapport /data
USER rapport
VOLUME /data
ENV RAPPORT_DATABASE_URL=sqlite:////data/rapport.db \
    RAPPORT_OUTBOX_DIR=/data/outbox \
    RAPPORT_RULES_DIR=/app/rules \
    RAPPORT_HOST=0.0.0.0 \
    RAPPORT_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
    CMD ["python", "-c", "import urllib.request, sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/-/healthy').status != 200)"]
CMD ["rapport", "serve", "--demo"]

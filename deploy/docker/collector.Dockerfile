# edgelabel collector: receives keyframes from agents, stores them in /data.
# Build from the repository root:  docker build -f deploy/docker/collector.Dockerfile -t edgelabel-collector .
FROM python:3.11-slim-bookworm

# uid 10001 in every image, so files one container writes to a shared volume are readable by the others.
RUN useradd --system --uid 10001 --create-home --home-dir /home/edgelabel --shell /usr/sbin/nologin edgelabel \
    && mkdir /data /keys && chown edgelabel:edgelabel /data /keys

WORKDIR /src
COPY pyproject.toml README.md ./
COPY edge ./edge
COPY server ./server
# The project itself; its dependencies' ranges live in pyproject.toml. Several nodes on PostgreSQL
# and S3 (compose.cluster.yaml) build with --build-arg EXTRAS=collector,postgres,s3.
ARG EXTRAS=collector
# hadolint ignore=DL3013
RUN pip install --no-cache-dir ".[${EXTRAS}]" && rm -rf /src

USER 10001
# /keys: where the compose file's "keys" service writes device credentials.
VOLUME ["/data"]
EXPOSE 5555
# SIGTERM (docker stop) finishes the batch at hand and exits cleanly.
STOPSIGNAL SIGTERM
ENTRYPOINT ["edgelabel-collector"]
CMD ["serve", "--data-dir", "/data", "--ingest", "tcp://0.0.0.0:5555"]

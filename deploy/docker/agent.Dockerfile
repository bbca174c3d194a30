# edgelabel agent, generic CPU image (x86_64 or arm64), with ONNX Runtime and OpenVINO's runtime
# (for the int8 models 'edgelabel-agent quantize --target openvino' writes).
# Build from the repository root:  docker build -f deploy/docker/agent.Dockerfile -t edgelabel-agent .
# A smaller image without OpenVINO (about 180 MB less):  --build-arg EXTRAS=edge
FROM python:3.11-slim-bookworm
ARG EXTRAS=edge,openvino

# uid 10001 in every image, so files one container writes to a shared volume are readable by the others.
RUN useradd --system --uid 10001 --create-home --home-dir /home/edgelabel --shell /usr/sbin/nologin edgelabel \
    && mkdir -p /var/lib/edgelabel/spool /var/cache/edgelabel \
    && chown -R edgelabel:edgelabel /var/lib/edgelabel /var/cache/edgelabel

WORKDIR /src
COPY pyproject.toml README.md ./
COPY edge ./edge
COPY server ./server
# The project itself; its dependencies' ranges live in pyproject.toml.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir ".[${EXTRAS}]" && rm -rf /src

USER 10001
ENV EDGELABEL_CACHE=/var/cache/edgelabel
VOLUME ["/var/lib/edgelabel/spool", "/var/cache/edgelabel"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["edgelabel-agent"]
CMD ["--help"]

# edgelabel agent for NVIDIA Jetson (JetPack 6, L4T r36), with ONNX Runtime's CUDA and TensorRT
# execution providers. Build on the Jetson (or with arm64 emulation) from the repository root:
#   docker build -f deploy/docker/agent-jetson.Dockerfile -t edgelabel-agent:jetson .
# Run with the NVIDIA runtime:  docker run --runtime nvidia ... edgelabel-agent:jetson run \
#     --provider TensorrtExecutionProvider --provider CUDAExecutionProvider ...
# When a provider cannot load, the agent logs it and falls back to the CPU.
# TensorRT itself (libnvinfer) comes with the l4t-jetpack base. Engines built by the TensorRT
# provider are cached in /var/cache/edgelabel/trt (a volume): set [detector.tensorrt]
# engine_cache_dir = "/var/cache/edgelabel/trt" so a restart does not rebuild them for minutes.
# The image also holds the quantize extra (NNCF, onnx), so a QDQ model for TensorRT can be made
# on the device from its own footage: edgelabel-agent quantize --target onnxruntime ...
ARG L4T_BASE=nvcr.io/nvidia/l4t-jetpack:r36.3.0
FROM ${L4T_BASE}

# ONNX Runtime with the GPU providers for JetPack 6 comes from NVIDIA's Jetson wheel index
# (the PyPI onnxruntime wheel for aarch64 is CPU-only). Pin the version your JetPack supports.
ARG ORT_GPU_INDEX=https://pypi.jetson-ai-lab.dev/jp6/cu126
ARG ORT_GPU_VERSION=1.20.0

# edgelabel needs Python 3.11 or newer (tomllib); L4T r36 is Ubuntu 22.04, whose default python3
# is 3.10, so the image uses Ubuntu's python3.11 package. NVIDIA's ONNX Runtime GPU wheel must
# then be a cp311 build: check the index below for your JetPack (only a Jetson can confirm it).
# Versions follow the L4T base image.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --create-home --home-dir /home/edgelabel --shell /usr/sbin/nologin edgelabel \
    && usermod -aG video edgelabel \
    && mkdir -p /var/lib/edgelabel/spool /var/cache/edgelabel/trt \
    && chown -R edgelabel:edgelabel /var/lib/edgelabel /var/cache/edgelabel

RUN python3.11 -m venv /opt/edgelabel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY edge ./edge
COPY server ./server
# The GPU build of ONNX Runtime, then the agent without the CPU-only onnxruntime (the edge-base
# extra) and the quantizer (the quantize extra: NNCF and onnx, no runtime of their own).
# hadolint ignore=DL3013
RUN /opt/edgelabel/bin/pip install --no-cache-dir --extra-index-url "${ORT_GPU_INDEX}" "onnxruntime-gpu==${ORT_GPU_VERSION}" \
    && /opt/edgelabel/bin/pip install --no-cache-dir '.[edge-base,quantize]' \
    && rm -rf /src

USER 10001
ENV PATH=/opt/edgelabel/bin:$PATH \
    EDGELABEL_CACHE=/var/cache/edgelabel
VOLUME ["/var/lib/edgelabel/spool", "/var/cache/edgelabel"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["edgelabel-agent"]
CMD ["--help"]

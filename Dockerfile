# labelclean on a CUDA machine: GPU torch + the GPU faiss build (never both faiss builds).
#   docker build -t labelclean .
#   docker run --gpus all -v $PWD/data:/data -v labelclean-cache:/cache labelclean \
#       run /data/images -w /data/labelclean-work --model ViT-B-32
FROM nvidia/cuda:13.0.0-cudnn-runtime-ubuntu24.04

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    HF_HOME=/cache/huggingface \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv

WORKDIR /src
COPY pyproject.toml README.md ./
COPY labelclean ./labelclean
COPY templates ./templates
RUN pip install ".[gpu]" && rm -rf /src

RUN useradd --create-home --uid 1000 labelclean \
    && mkdir -p /cache /data && chown labelclean:labelclean /cache /data
USER labelclean
WORKDIR /data
VOLUME ["/cache", "/data"]

ENTRYPOINT ["labelclean"]
CMD ["--help"]

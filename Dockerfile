# seganypet-node on its embedded defaults: SQLite and the spool in /data, DICOM on port 11112.
#   docker build -t seganypet-node .
#   docker run -p 11112:11112 -v seganypet-data:/data seganypet-node
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends dcmtk \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/seganypet-node
# CPU build of torch, pinned (an unpinned install pulls the CUDA wheels).
RUN pip install --no-cache-dir "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu
COPY setup.cfg pyproject.toml README.md ./
COPY seganypet_node ./seganypet_node
COPY config ./config
COPY migrations ./migrations
COPY models ./models
RUN pip install --no-cache-dir -e .

RUN useradd --system --home /data node && mkdir -p /data && chown node /data
USER node
ENV SEGANYPET_NODE_DATA_DIR=/data \
    SEGANYPET_NODE_HOST=0.0.0.0
VOLUME /data
EXPOSE 11112
HEALTHCHECK --interval=60s --timeout=10s CMD echoscu -aec SEGANYPET 127.0.0.1 11112 || exit 1
CMD ["seganypet-node", "serve"]

# swarm-node.Dockerfile -- a Docker engine in a container: one node of the multi-node swarm
# test_swarm.py builds on one machine. Its /var/lib/docker must be a volume (overlay2
# cannot stack on the container's own overlay root).
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker.io iptables \
 && rm -rf /var/lib/apt/lists/*
ENTRYPOINT ["dockerd"]

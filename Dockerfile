# Baton in a container.
#
#   docker build -t baton .
#   docker run -d --name baton --init --network host \
#     --cap-drop ALL --cap-add NET_ADMIN --cap-add NET_RAW \
#     --stop-timeout 30 --env-file /etc/baton/baton.env \
#     -v /etc/baton:/etc/baton:ro baton
#
# --network host: the VIPs, the VRRP adverts and the listeners live on the
#   host's interfaces, as with keepalived on the host.
# --cap-drop ALL --cap-add NET_ADMIN --cap-add NET_RAW: the only privileges
#   Baton uses (VIPs over netlink; VRRP on a raw socket and gratuitous ARP on
#   an AF_PACKET socket). The node binary carries the same two as file
#   capabilities (setcap below), which is how the non-root user `baton` gets
#   them. Because of those file capabilities the kernel refuses to start node
#   at all ("operation not permitted") when the container's bounding set
#   lacks either one, so pass both flags on every `docker run`, `baton check`
#   included. `--security-opt no-new-privileges` makes the kernel ignore file
#   capabilities: do not combine it with this image.
# --init: a small init as PID 1 forwards SIGTERM/SIGHUP and reaps the
#   children of notify and track scripts.
# --stop-timeout 30: above the default shutdown_timeout (10s), so open
#   sessions get their grace period before `docker stop` kills.
# --env-file: secrets named by *_env keys (BATON_ADMIN_TOKEN, HCHECK_PASSWORD,
#   VRRP_PASS), one KEY=value per line, no quotes.
#
# Reload: `docker kill -s HUP baton`.  Validate first:
#   docker run --rm --cap-drop ALL --cap-add NET_ADMIN --cap-add NET_RAW \
#     --env-file /etc/baton/baton.env -v /etc/baton:/etc/baton:ro baton check -c /etc/baton/baton.yaml
# CLI inside the running container: `docker exec baton baton status`.
# See docs/operations.md.

# ---------------------------------------------------------------- build
FROM node:20-bookworm AS build

# node-gyp builds the native addons of packages/vrrp, packages/baton and
# packages/proxy (the relay engine) (and raw-socket) during `npm ci`. The full bookworm image already has these;
# they are named so the need is explicit.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*

# node-gyp compiles against the headers this image ships in /usr/local
# (include/node) instead of downloading them.
ENV npm_config_nodedir=/usr/local

WORKDIR /opt/baton

# The whole packages/ tree goes in before `npm ci`: the workspaces' install
# scripts (node-gyp rebuild) need their binding.gyp and native sources.
COPY package.json package-lock.json tsconfig.base.json ./
COPY packages/ packages/
RUN npm ci --no-audit --no-fund

# Compile the daemon and the packages it references. (`npm run build`
# compiles the repository's test/ project too, which the image leaves out.)
RUN npx tsc --build packages/baton \
 && test -f packages/baton/dist/src/cli.js

# Drop the build-only dependencies (typescript, @types/node); the compiled
# addons under packages/*/build and node_modules stay.
RUN npm prune --omit=dev --no-audit --no-fund

# ---------------------------------------------------------------- runtime
FROM node:20-bookworm-slim

# File capabilities on node: a process started from it by the non-root user
# gets CAP_NET_ADMIN and CAP_NET_RAW, bounded by the container's set. The
# forked VRRP child and the data-plane workers run the same binary.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcap2-bin \
 && rm -rf /var/lib/apt/lists/* \
 && setcap cap_net_admin,cap_net_raw+ep /usr/local/bin/node \
 && getcap /usr/local/bin/node \
 && groupadd --system baton \
 && useradd --system --gid baton --home-dir /opt/baton --no-create-home --shell /usr/sbin/nologin baton \
 && install -d -o baton -g baton -m 0750 /var/lib/baton

WORKDIR /opt/baton

# Root-owned and read-only for `baton`: the daemon writes nothing here (its
# only file is the state file of `cluster:`, in /var/lib/baton: mount a
# volume there to keep the writer decisions across container restarts).
COPY --from=build /opt/baton/package.json /opt/baton/package-lock.json ./
COPY --from=build /opt/baton/node_modules ./node_modules
COPY --from=build /opt/baton/packages ./packages
# The worked examples, for `baton check -c /opt/baton/config/...` and as a start.
COPY config/ ./config/

RUN chmod 0755 packages/baton/dist/src/cli.js \
 && ln -s /opt/baton/packages/baton/dist/src/cli.js /usr/local/bin/baton

ENV NODE_ENV=production \
    BATON_CONFIG=/etc/baton/baton.yaml

# Documentation only (with --network host nothing is published): the write
# and read ports and the admin API of the shipped examples.
EXPOSE 6446 6447 9900

USER baton
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/opt/baton/packages/baton/dist/src/cli.js"]
CMD ["start", "-c", "/etc/baton/baton.yaml"]

# cio-relay: one image for every role (`serve`, `work`, `run`, and the operator commands).
#   docker build -t cio-relay .
#   docker run --rm -e REDIS_URL=redis://redis:6379 -e CUSTOMERIO_WEBHOOK_SECRET=… -p 3000:3000 -p 9090:9090 cio-relay serve

# --- build: Swift on Debian 12, the same system libraries as the runtime stage ---
FROM swift:6.3-bookworm AS build
# Unpinned on purpose (DL3008): these come from Debian 12's security-updated archive, and a pin
# would break every rebuild after the next libssl3 update instead of picking it up.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends libhiredis-dev libssl-dev libsqlite3-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The manifest names the test targets too, so their folders must be there for it to load.
COPY Package.swift ./
COPY Plugins ./Plugins
COPY Sources ./Sources
COPY Tests ./Tests
# The context has no .git: the commit that `cio-relay --version` names comes from this argument
# (docker build --build-arg CIO_RELAY_COMMIT=$(git rev-parse --short=12 HEAD) .), else "unknown".
ARG CIO_RELAY_COMMIT=unknown
# The Swift standard library and Foundation are linked statically: the runtime stage needs no
# Swift toolchain, only the C libraries below (IntegrationTests/check-image.sh checks that list).
# Stripped: 91 MB instead of 189 MB, and the image stays under 200 MB.
RUN printf '%s' "$CIO_RELAY_COMMIT" > .cio-relay-commit \
 && swift build -c release --product cio-relay --static-swift-stdlib \
 && install -D -s -m 0755 "$(swift build -c release --show-bin-path)/cio-relay" /out/cio-relay

# --- runtime: Debian 12 slim with hiredis, OpenSSL, SQLite and CA certificates ---
FROM debian:bookworm-slim
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends libhiredis0.14 libssl3 libsqlite3-0 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 cio-relay \
 && useradd --no-log-init --uid 10001 --gid cio-relay --home-dir /var/lib/cio-relay --create-home --shell /usr/sbin/nologin cio-relay
COPY --from=build /out/cio-relay /usr/local/bin/cio-relay
# The working directory holds ./data, where the default SQLite warehouse lives; with a read-only
# root filesystem mount a volume there, or set WAREHOUSE_URL to PostgreSQL or none.
WORKDIR /var/lib/cio-relay
USER 10001:10001
# Webhooks on PORT (3000); /healthz, /readyz, /metrics and /console on ADMIN_PORT (9090).
EXPOSE 3000 9090
# Exec form: the binary is PID 1 and gets SIGTERM itself (no shell at run time).
ENTRYPOINT ["/usr/local/bin/cio-relay"]
CMD ["serve"]

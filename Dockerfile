# Backtalk in a container: docs/deployment.md.
#   docker build -t backtalk .
#   docker run -p 8080:8080 -v backtalk-data:/data backtalk serve --demo

# The crate's rust-version (Cargo.toml). The builder is on bookworm like the runtime stage,
# so the glibc the binary is linked against is the one it runs with.
ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
# Dependencies first, against a placeholder crate: this layer is reused until Cargo.toml or
# Cargo.lock change. (The C parts, bundled SQLite and aws-lc, need only the image's gcc.)
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && cargo build --release --locked \
 && rm -rf src
# Then the crate itself. The whole context (less .dockerignore) is copied because the binary
# embeds files from several folders at compile time: prompts/, migrations/, demo/store/,
# eval/optout/. touch: the copied files may be older than the placeholder's build.
COPY . .
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked \
 && install -D -m 0755 target/release/backtalk /out/backtalk

FROM debian:bookworm-slim
# The binary links only glibc (libc, libm, libgcc_s); TLS is rustls, SQLite is compiled in.
# ca-certificates: the root certificates for Twilio, Telnyx, the LLM API and SMTP.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 backtalk \
 && useradd --system --uid 10001 --gid backtalk --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin backtalk \
 && mkdir -p /data \
 && chown backtalk:backtalk /data
COPY --from=build /out/backtalk /usr/local/bin/backtalk
# The example flows, for copying into /data/flows (flows are read from BACKTALK_FLOWS_DIR,
# by default $BACKTALK_DATA_DIR/flows; none runs until copied there).
COPY flows /usr/share/backtalk/flows

# SQLite database (unless BACKTALK_DATABASE_URL names PostgreSQL), search index, vectors,
# flows and segments. ./backtalk.toml in it is read as the config file when present.
ENV BACKTALK_DATA_DIR=/data \
    BACKTALK_LISTEN=0.0.0.0:8080
VOLUME ["/data"]
WORKDIR /data
USER backtalk:backtalk
EXPOSE 8080

# No curl in the image: bash's /dev/tcp asks GET /healthz on the port of BACKTALK_LISTEN.
# (Docker format only: podman build needs --format docker to keep it.)
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${BACKTALK_LISTEN##*:} && printf 'GET /healthz HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]

# SIGTERM (docker stop) finishes the jobs in hand before exiting.
ENTRYPOINT ["backtalk"]
CMD ["serve"]

# Builds the single `helpline` binary; the same image runs `serve`, `api` or `worker`.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin helpline

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/helpline /usr/local/bin/helpline
ENV HELPLINE_LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["helpline"]
CMD ["serve"]

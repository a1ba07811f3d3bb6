# syntax=docker/dockerfile:1
# Build: a static binary (pure-Go SQLite, no cgo).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/rolegate ./cmd/rolegate \
 && mkdir -p /out/data

# Run: nothing but the binary, as a non-root user, data on a volume.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/rolegate /rolegate
COPY --from=build --chown=65532:65532 /out/data /data
ENV ROLEGATE_ADDR=0.0.0.0:8080 \
    ROLEGATE_DB=/data/rolegate.db
VOLUME ["/data"]
EXPOSE 8080
USER 65532:65532
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 CMD ["/rolegate", "healthcheck"]
ENTRYPOINT ["/rolegate"]
CMD ["serve"]

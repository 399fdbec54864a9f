# factorgate as a container: a static binary on an empty base image, run as
# a non-root user. Build: docker build -t factorgate .
# Run (SQLite under the volume): docker run -p 8080:8080 -v fgdata:/data factorgate
# compose.yaml runs it on PostgreSQL.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=container
# modernc.org/sqlite is pure Go, so the binary needs no C library.
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/factorgate ./cmd/factorgate \
 && mkdir -p /out/data

FROM scratch
COPY --from=build /out/factorgate /factorgate
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV FACTORGATE_ADDR=0.0.0.0:8080 \
    FACTORGATE_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s CMD ["/factorgate", "healthcheck", "--addr", "127.0.0.1:8080"]
ENTRYPOINT ["/factorgate"]
CMD ["serve"]

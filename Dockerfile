# One image with every aio program. Multi-stage: the build stage
# has the compilers and -dev packages; the runtime stage only the shared
# libraries the programs link, and runs as a non-root user.
#
#   docker build -t aio .        (here, without a Docker engine: deploy/build-image.sh)
#   docker run --rm -p 7000:7000 -p 9100:9100 aio aio-echo
#
# Configuration is by environment: every flag is also AIO_<FLAG>
# (AIO_PORT, AIO_METRICS_PORT, AIO_THREADS, AIO_LOG_LEVEL, ...).

FROM debian:bookworm AS build
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      g++ cmake ninja-build libasio-dev libssl-dev prometheus-cpp-dev libcli11-dev \
      libspdlog-dev libfmt-dev zlib1g-dev libcurl4-openssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY cmake cmake
COPY framework framework
COPY servers servers
COPY clients clients
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DAIO_BUILD_TESTS=OFF -DAIO_BUILD_BENCH=OFF -DAIO_BUILD_EXAMPLES=OFF \
 && cmake --build /build -j "$(nproc)" \
 && mkdir -p /out \
 && find /build/servers /build/clients -maxdepth 2 -type f -name 'aio-*' -perm -u+x -exec install -s -m 0755 {} /out/ \;

FROM debian:bookworm AS runtime
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      libssl3 libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libcivetweb1 libspdlog1.10 libfmt9 zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin aio
COPY --from=build /out/ /usr/local/bin/
USER aio
ENV AIO_HOST=0.0.0.0
EXPOSE 7000 7001 7002 9100 9101 9102
CMD ["aio-echo"]

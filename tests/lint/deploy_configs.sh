#!/usr/bin/env bash
# The deployment files that a tool can check offline are checked:
# the Prometheus config with promtool, the compose file with docker-compose
# (parsing and interpolation only, no Docker engine needed), every YAML file
# under deploy/ with yamllint. Needs the Debian packages prometheus,
# docker-compose and yamllint (./dev deps installs them).
#
#   tests/lint/deploy_configs.sh [SOURCE_DIR]
set -euo pipefail
cd "${1:-$(dirname "$0")/../..}"

status=0
run() {
  echo "+ $*"
  "$@" || status=1
}

run promtool check config deploy/prometheus/prometheus.yml
run docker-compose -f deploy/docker-compose.yml config -q
mapfile -t yaml < <(find deploy -type f \( -name '*.yml' -o -name '*.yaml' \) | sort)
run yamllint -d relaxed --strict "${yaml[@]}"
exit "$status"

#!/usr/bin/env bash
# Make sure PostgreSQL and RabbitMQ answer on the configured hosts before we run anything.
# Order: already reachable -> start the local servers -> docker compose (when a Docker engine
# runs) -> install them from Debian packages and start them.
set -euo pipefail

PG_HOST=${LCS_PG_HOST:-127.0.0.1}
PG_PORT=${LCS_PG_PORT:-5432}
MQ_HOST=${LCS_MQ_HOST:-127.0.0.1}
MQ_PORT=${LCS_MQ_PORT:-5672}
here=$(cd "$(dirname "$0")/.." && pwd)

say() { printf '[infra] %s\n' "$*" >&2; }
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
wait_port() {  # host port seconds
  local i
  for ((i = 0; i < $3 * 5; i++)); do port_open "$1" "$2" && return 0; sleep 0.2; done
  return 1
}
is_local() { [[ "$1" == 127.0.0.1 || "$1" == localhost || "$1" == ::1 ]]; }
have_docker_engine() { command -v docker >/dev/null && docker info >/dev/null 2>&1; }
apt_install() {
  say "installing $* from Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  if [[ ! -f /var/lib/apt/lists/lock ]] || [[ -z "$(ls /var/lib/apt/lists 2>/dev/null | grep -v lock)" ]]; then
    apt-get update -qq
  fi
  apt-get install -y -qq "$@" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$@" >/dev/null; }
}

start_postgres() {
  if ! command -v pg_ctlcluster >/dev/null && ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    if have_docker_engine; then
      say "starting PostgreSQL with docker compose"
      docker compose -f "$here/deploy/compose.yaml" up -d --wait postgres && return 0
    fi
    apt_install postgresql
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  if ! pg_lsclusters -h 2>/dev/null | grep -q "^$version *main"; then
    pg_createcluster "$version" main >/dev/null
  fi
  # trust auth on loopback for the local development cluster
  local hba="/etc/postgresql/$version/main/pg_hba.conf"
  if ! grep -q "lcs: trust loopback" "$hba"; then
    sed -i '1i # lcs: trust loopback\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\nlocal all postgres trust' "$hba"
  fi
  say "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || pg_ctlcluster "$version" main start || true
}

start_rabbitmq() {
  if ! command -v rabbitmq-server >/dev/null; then
    if have_docker_engine; then
      say "starting RabbitMQ with docker compose"
      docker compose -f "$here/deploy/compose.yaml" up -d --wait rabbitmq && return 0
    fi
    apt_install rabbitmq-server
  fi
  say "starting RabbitMQ"
  # A node left running with its application stopped (`rabbitmqctl stop_app`, as the chaos
  # tests do to play a broker outage) only needs the application started again.
  if command -v rabbitmqctl >/dev/null && timeout 30 rabbitmqctl -q start_app >/dev/null 2>&1; then
    return 0
  fi
  rabbitmq-server -detached >/dev/null 2>&1 || true
}

if ! port_open "$PG_HOST" "$PG_PORT"; then
  is_local "$PG_HOST" || { say "PostgreSQL at $PG_HOST:$PG_PORT is not reachable"; exit 1; }
  start_postgres
  wait_port "$PG_HOST" "$PG_PORT" 60 || { say "PostgreSQL did not come up"; exit 1; }
fi
if ! port_open "$MQ_HOST" "$MQ_PORT"; then
  is_local "$MQ_HOST" || { say "RabbitMQ at $MQ_HOST:$MQ_PORT is not reachable"; exit 1; }
  start_rabbitmq
  wait_port "$MQ_HOST" "$MQ_PORT" 120 || { say "RabbitMQ did not come up"; exit 1; }
fi
# The port opens before the node finishes booting; wait until it really serves.
if command -v rabbitmqctl >/dev/null && is_local "$MQ_HOST"; then
  timeout 120 rabbitmqctl -q await_startup >/dev/null 2>&1 || true
fi
# The tests make a throwaway TLS certificate with the openssl CLI (the bus's amqps:// transport).
if ! command -v openssl >/dev/null; then
  apt_install openssl
fi
# The desk's browser tests drive Debian's chromium headless (fonts-noto-cjk: Chinese must render).
if [[ "${LCS_SKIP_BROWSER:-}" != 1 ]] && { ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null \
     || ! fc-list 2>/dev/null | grep -i "Noto Sans CJK" >/dev/null; }; then  # no -q: grep reads it all, so no SIGPIPE fails the pipe
  apt_install chromium chromium-driver fonts-noto-cjk || say "chromium could not be installed: the browser tests will skip"
fi
say "PostgreSQL $PG_HOST:$PG_PORT and RabbitMQ $MQ_HOST:$MQ_PORT are up"

#!/usr/bin/env bash
# Makes sure the real parts the tests talk to run on loopback:
# Postgres on 127.0.0.1:5432 (user postgres, trust) and NATS with JetStream
# on 127.0.0.1:4222. Starts them if installed, installs them with apt if not.
set -euo pipefail

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for_port() {
  for _ in $(seq 1 100); do
    port_open "$1" && return 0
    sleep 0.2
  done
  echo "ensure-services: nothing listens on 127.0.0.1:$1 after 20 s" >&2
  return 1
}

apt_install() {
  if [ -z "${APT_UPDATED:-}" ]; then
    apt-get update -qq
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! port_open 5432; then
  if ! command -v pg_ctlcluster >/dev/null || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
    echo "ensure-services: installing Postgres"
    apt_install postgresql
  fi
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  # Tests connect as postgres over loopback without a password.
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  hba_changed=
  if ! grep -qE '^host[[:space:]]+all[[:space:]]+(all|postgres)[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
    sed -i '1i host all postgres 127.0.0.1/32 trust\nhost all postgres ::1/128 trust' "$hba"
    hba_changed=1
  fi
  # An install may have started the cluster already (where services start on install).
  if pg_ctlcluster --skip-systemctl-redirect "$version" main status >/dev/null 2>&1; then
    if [ -n "$hba_changed" ]; then
      pg_ctlcluster --skip-systemctl-redirect "$version" main reload
    fi
  else
    echo "ensure-services: starting Postgres $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
  fi
  wait_for_port 5432
fi

if ! port_open 4222; then
  if ! command -v nats-server >/dev/null; then
    echo "ensure-services: installing NATS"
    apt_install nats-server
  fi
  store_dir="${TMPDIR:-/tmp}/terminagent-nats"
  mkdir -p "$store_dir"
  echo "ensure-services: starting NATS with JetStream (store in $store_dir)"
  nohup setsid "$(command -v nats-server)" -a 127.0.0.1 -p 4222 -js -sd "$store_dir" \
    >"$store_dir/nats.log" 2>&1 </dev/null &
  wait_for_port 4222
fi

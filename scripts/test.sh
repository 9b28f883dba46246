#!/usr/bin/env bash
# Every check and every test: formatting, lints, unit tests, and the integration suite against
# SQLite and PostgreSQL. Installs and starts what the tests need when it is missing.
#   STRATUS_TEST_PG_URL   admin URL of the PostgreSQL server (default postgres://postgres@127.0.0.1:5432/test)
#   STRATUS_TEST_SKIP_POSTGRES=1   run the SQLite half only (the PostgreSQL tests say they were skipped)
#   STRATUS_TEST_SKIP_S3=1         do not start moto_server; the S3 tests then pass without running
# The full-disk test mounts a small tmpfs, so the suite runs as root (as CI does).
set -euo pipefail
cd "$(dirname "$0")/.."

export STRATUS_TEST_PG_URL="${STRATUS_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

say() { printf '\n== %s\n' "$*"; }

apt_install() {
  if [ "$(id -u)" != 0 ]; then echo "need root to install: $*" >&2; return 1; fi
  # Another apt process (unattended upgrades, a second session) may hold the dpkg lock: wait.
  local lock=(-o DPkg::Lock::Timeout=300)
  if [ -z "${APT_UPDATED:-}" ]; then apt-get "${lock[@]}" update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get "${lock[@]}" install -y -qq "$@" >/dev/null
}

ensure_python() {
  # The content-hash and zip tests check Stratus against Python's hashlib and zipfile; the tus
  # tests drive it with tuspy, a tus client nobody here wrote.
  command -v python3 >/dev/null || apt_install python3 python3-pip
  if ! python3 -c 'import tusclient' 2>/dev/null; then
    python3 -m pip install --quiet tuspy 2>/dev/null || python3 -m pip install --quiet --break-system-packages tuspy
  fi
  # The API is fuzzed from its OpenAPI document by schemathesis.
  if ! command -v schemathesis >/dev/null; then
    python3 -m pip install --quiet schemathesis 2>/dev/null || python3 -m pip install --quiet --break-system-packages schemathesis
  fi
  # Mail is checked through a real SMTP server on loopback: aiosmtpd.
  if ! python3 -c 'import aiosmtpd' 2>/dev/null; then
    python3 -m pip install --quiet aiosmtpd 2>/dev/null || python3 -m pip install --quiet --break-system-packages aiosmtpd
  fi
}

ensure_dav_clients() {
  # WebDAV is checked by real clients: the litmus suite and rclone, both Debian packages.
  command -v litmus >/dev/null || apt_install litmus
  command -v rclone >/dev/null || apt_install rclone
  # The Nextcloud protocol is checked by Nextcloud's own sync client (Debian's 3.7).
  command -v nextcloudcmd >/dev/null || apt_install nextcloud-desktop-cmd
}

ensure_postgres() {
  [ "${STRATUS_TEST_SKIP_POSTGRES:-}" = 1 ] && return 0
  command -v psql >/dev/null || apt_install postgresql postgresql-client
  if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
    say "starting PostgreSQL"
    command -v pg_ctlcluster >/dev/null || apt_install postgresql
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 60); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 0.5; done
  fi
  if ! psql "$STRATUS_TEST_PG_URL" -Atqc 'SELECT 1' >/dev/null 2>&1; then
    # A fresh Debian cluster: let local connections in without a password, create `test`.
    say "configuring PostgreSQL for local tests"
    local hba
    hba=$(su postgres -c "psql -Atqc 'SHOW hba_file'")
    printf 'local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n' > "$hba"
    su postgres -c "psql -qc 'SELECT pg_reload_conf()'" >/dev/null
    su postgres -c "createdb test" 2>/dev/null || true
  fi
  psql "$STRATUS_TEST_PG_URL" -Atqc 'SELECT 1' >/dev/null
}

ensure_s3() {
  # An S3-compatible server on loopback: moto_server, checking every request's signature once
  # scripts/s3_setup.py has made an IAM user and its key with the first three requests.
  [ "${STRATUS_TEST_SKIP_S3:-}" = 1 ] && return 0
  if ! command -v moto_server >/dev/null || ! python3 -c 'import boto3' 2>/dev/null; then
    python3 -m pip install --quiet 'moto[server]' boto3 2>/dev/null ||
      python3 -m pip install --quiet --break-system-packages 'moto[server]' boto3
  fi
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  INITIAL_NO_AUTH_ACTION_COUNT=3 moto_server -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
  MOTO_PID=$!
  for _ in $(seq 100); do
    python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/')" 2>/dev/null && break
    sleep 0.2
  done
  eval "$(python3 scripts/s3_setup.py "http://127.0.0.1:$port")"
}

cleanup() {
  drop_test_databases
  if [ -n "${MOTO_PID:-}" ]; then kill "$MOTO_PID" 2>/dev/null || true; fi
}

drop_test_databases() {
  [ "${STRATUS_TEST_SKIP_POSTGRES:-}" = 1 ] && return 0
  psql "$STRATUS_TEST_PG_URL" -Atqc "SELECT datname FROM pg_database WHERE datname LIKE 'stratus\_test\_%'" 2>/dev/null |
    while read -r db; do psql "$STRATUS_TEST_PG_URL" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null; done
}

ensure_browser() {
  # The web app is driven by playwright-core (npm, locked in web-tests/) in Debian's Chromium.
  command -v chromium >/dev/null || apt_install chromium
  # Icons in the app are emoji; without a colour emoji font the screenshots show boxes.
  dpkg -s fonts-noto-color-emoji >/dev/null 2>&1 || apt_install fonts-noto-color-emoji
  command -v npm >/dev/null || apt_install nodejs npm
  (cd web-tests && npm ci --silent --no-audit --no-fund)
}

ensure_python
ensure_dav_clients
ensure_browser
ensure_postgres
drop_test_databases
trap cleanup EXIT
ensure_s3

say "cargo fmt --check"
cargo fmt --all -- --check

say "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

say "cargo build (the binaries the tests run: stratus, stratus-cli)"
cargo build --workspace --bins --locked

say "cargo test (SQLite and PostgreSQL)"
log=$(mktemp)
cargo test --workspace --all-targets --locked 2>&1 | tee "$log"
# Doctests: they prove that a Caller or a LinkVisit cannot be forged outside the service.
cargo test -p stratus-service --doc --locked 2>&1 | tee -a "$log"
# One closing line with the totals of every test binary.
awk '/^test result:/ { p += $4; f += $6 } END { printf "\ntests: %d passed, %d failed\n", p, f }' "$log"
rm -f "$log"

say "schemathesis over /api/openapi.json (authenticated and anonymous, 90 s each; any 5xx fails)"
scripts/fuzz.sh target/debug/stratus 90

say "browser tests (playwright-core driving Chromium against stratus serve)"
node web-tests/run.mjs target/debug/stratus

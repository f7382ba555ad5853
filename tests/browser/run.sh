#!/usr/bin/env bash
# Browser tests of the citizen pages: Playwright (playwright-core) driving
# Debian's chromium, axe-core on every page. Installs what is missing
# (chromium, node/npm, node_modules) and fails loudly when it cannot.
#
# Usage: bash tests/browser/run.sh [node --test args, e.g. --test-name-pattern=keyboard]
# Env:   TERMINAGENT_BIN  the binary under test (default: $REPO/target/debug/terminagent)
#        SCREENSHOT_DIR   also save a PNG of every page axe checks there
#        BROWSER_TEST_KEEP_TMP=1  keep each server's temp dir (database, outbox)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CHROMIUM=/usr/bin/chromium

die() {
  echo "" >&2
  echo "tests/browser/run.sh: ERROR: $*" >&2
  exit 1
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

APT_UPDATED=
apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install $* by hand"
  if [ -z "$APT_UPDATED" ]; then
    echo "tests/browser/run.sh: apt-get update" >&2
    as_root apt-get update -qq || die "apt-get update failed (needed to install $*)"
    APT_UPDATED=1
  fi
  echo "tests/browser/run.sh: apt-get install -y $*" >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2 \
    || die "apt-get install -y $* failed"
}

# Node.js and npm (Debian's).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm
fi
command -v node >/dev/null 2>&1 || die "node is still missing after installing nodejs"
command -v npm >/dev/null 2>&1 || die "npm is still missing after installing npm"

# Debian's chromium: Playwright never downloads a browser here.
if [ ! -x "$CHROMIUM" ]; then
  apt_install chromium
fi
[ -x "$CHROMIUM" ] || die "$CHROMIUM is still missing after apt-get install chromium"

# node_modules exactly as package-lock.json pins it. npm writes
# node_modules/.package-lock.json on every install: it dates node_modules.
cd "$HERE"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "tests/browser/run.sh: npm ci" >&2
  npm ci --no-audit --no-fund >&2 || die "npm ci failed in $HERE"
  touch node_modules/.package-lock.json
fi
[ -f node_modules/axe-core/axe.min.js ] || die "node_modules/axe-core/axe.min.js missing after npm ci"
[ -d node_modules/playwright-core ] || die "node_modules/playwright-core missing after npm ci"

# The binary under test.
TERMINAGENT_BIN="${TERMINAGENT_BIN:-$REPO/target/debug/terminagent}"
case "$TERMINAGENT_BIN" in
  /*) ;;
  *) TERMINAGENT_BIN="$REPO/$TERMINAGENT_BIN" ;;
esac
if [ ! -x "$TERMINAGENT_BIN" ]; then
  die "the terminagent binary $TERMINAGENT_BIN does not exist (or is not executable).
Build it first: cargo build -p terminagent --bins   (or set TERMINAGENT_BIN=/path/to/terminagent)"
fi
export TERMINAGENT_BIN

# Each test file starts its own server and browser; files run side by side.
# The TAP reporter closes with the summary ("# pass N", "# fail N").
shopt -s nullglob
TEST_FILES=(tests/*.test.mjs)
[ "${#TEST_FILES[@]}" -gt 0 ] || die "no test files in $HERE/tests/"
exec node --test --test-reporter=tap --test-timeout=120000 "$@" "${TEST_FILES[@]}"

#!/usr/bin/env bash
# Set up the real-browser test: Debian's chromium plus playwright-core (driver only).
# Idempotent. Never lets playwright download a browser: only package registries are reachable.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup_browser: /usr/bin/chromium is missing; run this script as root to install it" >&2
        exit 1
    fi
    echo "setup_browser: installing chromium with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y chromium
else
    echo "setup_browser: chromium present: $(/usr/bin/chromium --version 2>/dev/null || echo '?')"
fi

if ! command -v npm >/dev/null 2>&1; then
    echo "setup_browser: npm is missing; install Node.js 18+ (e.g. apt-get install -y nodejs npm)" >&2
    exit 1
fi

cd "$ROOT/tests/browser"
if [ ! -d node_modules/playwright-core ]; then
    echo "setup_browser: installing playwright-core"
    npm install --no-audit --no-fund
else
    echo "setup_browser: playwright-core present"
fi
echo "setup_browser: done"

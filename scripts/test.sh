#!/usr/bin/env bash
# One command: set up everything the tests need, then run the whole suite
# (SQLite and the real PostgreSQL, headless Chromium). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --test

export CTI_TEST_POSTGRES_URL=${CTI_TEST_POSTGRES_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/test}
export CTI_TEST_REDIS_URL=${CTI_TEST_REDIS_URL:-redis://127.0.0.1:6379/15}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

# PostgreSQL: start the local cluster if it is installed but down
if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "==> PostgreSQL is down; starting it" >&2
  if command -v pg_ctlcluster >/dev/null; then
    as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi

# Redis: start it if installed but down
if command -v redis-cli >/dev/null && ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  echo "==> Redis is down; starting it" >&2
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
fi

# Chromium for the browser tests (Debian's package; Playwright never downloads a browser here)
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null; then
  echo "==> installing Debian's chromium for the browser tests" >&2
  as_root apt-get install -y chromium >/dev/null || { as_root apt-get update >/dev/null && as_root apt-get install -y chromium >/dev/null; }
fi

# LibreOffice Calc: the export tests open the CSV and XLSX downloads as a spreadsheet user would
if ! command -v soffice >/dev/null && command -v apt-get >/dev/null; then
  echo "==> installing Debian's libreoffice-calc for the export tests" >&2
  as_root apt-get install -y --no-install-recommends libreoffice-calc >/dev/null || { as_root apt-get update >/dev/null && as_root apt-get install -y --no-install-recommends libreoffice-calc >/dev/null; }
fi

exec .venv/bin/python -m pytest "$@"

#!/bin/sh
# The report tests open report.html in headless Chromium (Debian's package). Install it where we can
# (root with apt); otherwise fail with one line naming the package, never skip.
found() { command -v chromium >/dev/null 2>&1; }
found && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium (apt-get) for the report tests" >&2
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -qq chromium || { apt-get update -qq && apt-get install -y -qq chromium; }; } >/dev/null 2>&1
fi
found && exit 0
echo "make test: the report tests need headless Chromium: install the package 'chromium' (e.g. sudo apt-get install chromium)" >&2
exit 1

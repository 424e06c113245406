#!/bin/sh
# Usage: ensure-package.sh PACKAGE COMMAND "WHO NEEDS IT"
# A test needs a Debian program (Mosquitto, Chromium, ffmpeg). Install it where we can
# (root with apt); otherwise fail with one line naming the package, never skip.
package=$1 command=$2 who=$3
found() { command -v "$command" >/dev/null 2>&1 || [ -x "/usr/sbin/$command" ]; }
found && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing $package (apt-get) for $who" >&2
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -qq "$package" || { apt-get update -qq && apt-get install -y -qq "$package"; }; } >/dev/null 2>&1
fi
found && exit 0
echo "make test: $who need $package: install the package '$package' (e.g. sudo apt-get install $package)" >&2
exit 1

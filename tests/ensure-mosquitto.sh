#!/bin/sh
# The IoT tests need the Mosquitto broker. Install it where we can (root with
# apt); otherwise fail with one line naming the package, never skip.
found() { command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ]; }
found && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing mosquitto (apt-get) for the IoT tests" >&2
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -qq mosquitto || { apt-get update -qq && apt-get install -y -qq mosquitto; }; } >/dev/null 2>&1
fi
found && exit 0
echo "make test: the IoT tests need the Mosquitto broker: install the package 'mosquitto' (e.g. sudo apt-get install mosquitto)" >&2
exit 1

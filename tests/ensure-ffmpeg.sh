#!/bin/sh
# The stream tests serve the sample clip with ffmpeg. Install it where we can (root with
# apt); otherwise fail with one line naming the package, never skip.
found() { command -v ffmpeg >/dev/null 2>&1; }
found && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ffmpeg (apt-get) for the stream tests" >&2
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -qq ffmpeg || { apt-get update -qq && apt-get install -y -qq ffmpeg; }; } >/dev/null 2>&1
fi
found && exit 0
echo "make test: the stream tests need ffmpeg: install the package 'ffmpeg' (e.g. sudo apt-get install ffmpeg)" >&2
exit 1

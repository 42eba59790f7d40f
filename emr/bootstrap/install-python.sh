#!/bin/bash
# EMR bootstrap action (every node, before applications start): the packed venv of the jobs
# (spark.archives=...#environment) links its interpreter to /usr/bin/python3.11, which Amazon Linux 2023
# (EMR 7.x) ships as a package but does not install by default.
set -euo pipefail
if ! command -v /usr/bin/python3.11 >/dev/null 2>&1; then
  sudo dnf install -y python3.11
fi
/usr/bin/python3.11 --version

#!/usr/bin/env bash
# Install a headless browser for the screening-page test (tests/crop/pseudolabel/test_screen_browser.py):
# Debian's chromium + its matching chromedriver (apt), and the selenium client (PyPI).
# Idempotent; called by .ci/run. Needs root (or sudo) for apt-get.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver
fi

if ! python -c "import selenium" >/dev/null 2>&1; then
    python -m pip install -q "selenium>=4.15"
fi

chromium --version
chromedriver --version
python -c "import selenium; print('selenium', selenium.__version__)"

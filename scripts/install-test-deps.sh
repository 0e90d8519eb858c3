#!/usr/bin/env bash
# Installs what the test suite needs, only when missing (fast when all is there).
# Debian packages via apt-get (as root or with sudo), Python packages via pip.
set -euo pipefail

apt_packages=()
command -v swaks >/dev/null 2>&1 || apt_packages+=(swaks)

if [ ${#apt_packages[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing Debian packages: ${apt_packages[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${apt_packages[@]}" >/dev/null
fi

python3 -c "import pytest" 2>/dev/null || python3 -m pip install --quiet pytest
python3 -c "import aiosmtpd" 2>/dev/null || python3 -m pip install --quiet aiosmtpd
python3 -c "import dnslib" 2>/dev/null || python3 -m pip install --quiet dnslib
python3 -c "import cryptography" 2>/dev/null || python3 -m pip install --quiet cryptography
python3 -c "import yaml" 2>/dev/null || python3 -m pip install --quiet pyyaml

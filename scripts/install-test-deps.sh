#!/usr/bin/env bash
# Installs what the test suite needs, only when missing (fast when all is there).
# Debian packages via apt-get (as root or with sudo), Python packages via pip.
set -euo pipefail

apt_packages=()
command -v swaks >/dev/null 2>&1 || apt_packages+=(swaks)
# The real engines the e2e suite scans with (scripts/engines.sh starts them).
command -v rspamd >/dev/null 2>&1 || apt_packages+=(rspamd)
command -v spamd >/dev/null 2>&1 || apt_packages+=(spamassassin)
command -v spamc >/dev/null 2>&1 || apt_packages+=(spamc)
command -v clamd >/dev/null 2>&1 || apt_packages+=(clamav-daemon)
# Manual pages rendered by the tests (groff -man, man -l); the package test installs with
# dpkg and creates the service user with adduser.
command -v groff >/dev/null 2>&1 || apt_packages+=(groff-base)
command -v man >/dev/null 2>&1 || apt_packages+=(man-db)
command -v adduser >/dev/null 2>&1 || apt_packages+=(adduser)
# The shells whose generated completion scripts are syntax-checked.
command -v zsh >/dev/null 2>&1 || apt_packages+=(zsh)
command -v fish >/dev/null 2>&1 || apt_packages+=(fish)
# The web panel's browser tests: Debian's Chromium and its driver (never a downloaded browser).
command -v chromium >/dev/null 2>&1 || apt_packages+=(chromium)
command -v chromedriver >/dev/null 2>&1 || apt_packages+=(chromium-driver)
# libfaketime: the behaviour tests move the real binary's clock by days (a newsletter's
# weekly history).
command -v faketime >/dev/null 2>&1 || apt_packages+=(faketime)

if [ ${#apt_packages[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing Debian packages: ${apt_packages[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${apt_packages[@]}" >/dev/null
fi

# cargo-deb, pinned in scripts/package.sh (the package test builds a .deb).
"$(dirname "$0")/package.sh" --tool

python3 -c "import pytest" 2>/dev/null || python3 -m pip install --quiet pytest
python3 -c "import aiosmtpd" 2>/dev/null || python3 -m pip install --quiet aiosmtpd
python3 -c "import dnslib" 2>/dev/null || python3 -m pip install --quiet dnslib
python3 -c "import cryptography" 2>/dev/null || python3 -m pip install --quiet cryptography
python3 -c "import yaml" 2>/dev/null || python3 -m pip install --quiet pyyaml
python3 -c "import dkim" 2>/dev/null || python3 -m pip install --quiet dkimpy
python3 -c "import nacl" 2>/dev/null || python3 -m pip install --quiet pynacl
# The metrics test reads /metrics with Prometheus's own text parser.
python3 -c "import prometheus_client" 2>/dev/null || python3 -m pip install --quiet prometheus-client
# The web panel's browser tests drive Chromium with Selenium.
python3 -c "import selenium" 2>/dev/null || python3 -m pip install --quiet selenium
# olevba confirms that the attachment tests' macro fixtures hold macros.
command -v olevba >/dev/null 2>&1 || python3 -m pip install --quiet oletools

# Redis on 127.0.0.1:6379 (the counters' cluster backend is tested against it): start one
# when none answers, installing it first when needed.
redis_up() { python3 -c "import socket; s=socket.create_connection(('127.0.0.1', 6379), 1); s.sendall(b'PING\r\n'); assert s.recv(7).startswith(b'+PONG')" 2>/dev/null; }
if ! redis_up; then
    if ! command -v redis-server >/dev/null 2>&1; then
        sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        echo "installing Debian package: redis-server"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >/dev/null
    fi
    echo "starting redis-server on 127.0.0.1:6379"
    redis-server --bind 127.0.0.1 --port 6379 --daemonize yes --save "" --appendonly no >/dev/null
    for _ in $(seq 50); do redis_up && break; sleep 0.1; done
    redis_up || { echo "redis-server did not start" >&2; exit 1; }
fi

# PostgreSQL on 127.0.0.1:5432, database `test`, trust auth for `postgres` (the store's
# PostgreSQL backend runs its conformance suites against it): start the cluster when none
# answers. The tests fail, saying so, when there is still none.
pg_up() { python3 -c "import socket; socket.create_connection(('127.0.0.1', 5432), 1)" 2>/dev/null; }
if ! pg_up && command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "starting PostgreSQL on 127.0.0.1:5432"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    for _ in $(seq 50); do pg_up && break; sleep 0.1; done
fi

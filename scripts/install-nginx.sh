#!/usr/bin/env bash
# Install the Debian `nginx` package the reverse-proxy test (tests/deploy/test_nginx_proxy.py) runs
# in front of `filedock serve`. Only the binary is used: the test writes its own config and never
# starts the system service. Idempotent: does nothing when /usr/sbin/nginx already exists.
set -euo pipefail
if [ -x /usr/sbin/nginx ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# policy-rc.d: the package's postinst must not start a system nginx on port 80.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends nginx >/dev/null
test -x /usr/sbin/nginx

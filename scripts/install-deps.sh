#!/bin/sh
# Install every build and test dependency of flowc from Debian's packages.
# Idempotent: does nothing (and needs no network) when all are present.
set -eu
PKGS="build-essential flex bison pkg-config libcurl4-openssl-dev libjansson-dev
      libtcc-dev tcc libssl-dev liblmdb-dev lmdb-utils libmicrohttpd-dev graphviz wrk curl python3 time file ca-certificates
      clang libclang-rt-14-dev neovim valgrind strace"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
if [ -z "$missing" ]; then
    exit 0
fi
echo "install-deps: installing:$missing" >&2
if [ "$(id -u)" != 0 ]; then
    SUDO=sudo
else
    SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing

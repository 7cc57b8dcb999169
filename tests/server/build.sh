#!/usr/bin/env bash
# tests/server/build.sh — builds the test API server into $O/tests/flowtest-server
# (O defaults to build). SAN=1 adds the address and undefined-behaviour sanitizers.
set -e
cd "$(dirname "$0")/../.."
O=${O:-build}
CC=${CC:-gcc}
FLAGS="-std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror -D_GNU_SOURCE"
if [ "${SAN:-0}" = 1 ]; then
    FLAGS="$FLAGS -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined"
else
    FLAGS="$FLAGS -O2 -g"
fi
mkdir -p "$O/tests"
# shellcheck disable=SC2086
$CC $FLAGS $(pkg-config --cflags libmicrohttpd jansson) -o "$O/tests/flowtest-server" \
    tests/server/flowtest_server.c $(pkg-config --libs libmicrohttpd jansson) -lpthread

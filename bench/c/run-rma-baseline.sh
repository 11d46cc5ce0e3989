#!/usr/bin/env bash
# run-rma-baseline.sh PROVIDER [COUNT] — build bench/c/rma_bw.c and run one
# target/initiator pair on loopback (tcp on 127.0.0.1, or shm). Prints the
# target's JSON result line on stdout; everything else goes to stderr.
#
#   PROVIDER   tcp | shm
#   COUNT      grains to write (default 200)
#
# Environment:
#   RMA_BW_OUT    build directory (default <repo>/build/bench)
#   RMA_BW_ARGS   extra flags passed to both roles (e.g. "-g 22118400 -w 1 -m")
#   RMA_BW_TIMEOUT  per-role timeout in seconds (default 30)
#   RMA_BW_VALGRIND  if set, run both roles under
#                  "valgrind --error-exitcode=1 --leak-check=full" (use a small COUNT)
set -euo pipefail

PROVIDER="${1:-}"
COUNT="${2:-200}"
case "$PROVIDER" in
tcp | shm) ;;
*)
	echo "usage: $0 tcp|shm [COUNT]" >&2
	exit 2
	;;
esac
[[ "$COUNT" =~ ^[0-9]+$ && "$COUNT" -gt 0 ]] || {
	echo "$0: COUNT must be a positive integer" >&2
	exit 2
}

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
OUT="${RMA_BW_OUT:-$REPO/build/bench}"
TIMEOUT="${RMA_BW_TIMEOUT:-30}"
read -r -a EXTRA <<<"${RMA_BW_ARGS:-}"

mkdir -p "$OUT"
BIN="$OUT/rma_bw"
if [[ ! -x "$BIN" || "$HERE/rma_bw.c" -nt "$BIN" ]]; then
	# shellcheck disable=SC2046
	cc -O2 -o "$BIN.tmp.$$" "$HERE/rma_bw.c" $(pkg-config --cflags --libs libfabric)
	mv -f "$BIN.tmp.$$" "$BIN"
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/rma_bw.XXXXXX")"
TPID=""
cleanup() {
	if [[ -n "$TPID" ]] && kill -0 "$TPID" 2>/dev/null; then
		kill "$TPID" 2>/dev/null || true
		wait "$TPID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

WRAP=()
if [[ -n "${RMA_BW_VALGRIND:-}" ]]; then
	WRAP=(valgrind -q --error-exitcode=1 --leak-check=full)
fi

# Loopback only: tcp binds 127.0.0.1 (port 0 = ephemeral, published through the
# exchange file); shm uses a local endpoint name.
if [[ "$PROVIDER" == tcp ]]; then
	ADDR=(-n 127.0.0.1 -s 0)
	IADDR=(-n 127.0.0.1)
else
	ADDR=(-n "rmabw-target-$$")
	IADDR=()
fi

XFILE="$WORK/exchange"
"${WRAP[@]}" "$BIN" -r target -p "$PROVIDER" "${ADDR[@]}" -c "$COUNT" -x "$XFILE" \
	-t "$TIMEOUT" -q "${EXTRA[@]}" >"$WORK/target.json" 2>"$WORK/target.err" &
TPID=$!

IRC=0
"${WRAP[@]}" "$BIN" -r initiator -p "$PROVIDER" "${IADDR[@]}" -c "$COUNT" -x "$XFILE" \
	-t "$TIMEOUT" -q "${EXTRA[@]}" >"$WORK/initiator.json" 2>"$WORK/initiator.err" || IRC=$?
TRC=0
wait "$TPID" || TRC=$?
TPID=""

if [[ $IRC -ne 0 || $TRC -ne 0 ]]; then
	echo "$0: target exit $TRC, initiator exit $IRC" >&2
	sed 's/^/target: /' "$WORK/target.err" "$WORK/target.json" >&2
	sed 's/^/initiator: /' "$WORK/initiator.err" "$WORK/initiator.json" >&2
	exit 1
fi
[[ -s "$WORK/target.err" ]] && sed 's/^/target: /' "$WORK/target.err" >&2
[[ -s "$WORK/initiator.err" ]] && sed 's/^/initiator: /' "$WORK/initiator.err" >&2
[[ -n "${RMA_BW_VERBOSE:-}" ]] && sed 's/^/initiator: /' "$WORK/initiator.json" >&2
cat "$WORK/target.json"

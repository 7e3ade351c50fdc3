#!/usr/bin/env bash
# crib's main job: checkpoint a running process and bring it back.
# A multithreaded demo process (four counting threads, a checksummed heap, a
# file at an offset, a pipe with bytes in flight, an eventfd, a blocked
# pending SIGHUP, signal handlers and an itimer) is dumped by crib's CRIB
# programs, killed, and restored under the same PID; then it checks that
# everything it owns came back and carries on.
set -euo pipefail
build=${1:-build}
crib="$build/bin/crib"
demo="$build/bin/workloads/demo"
heap_mib=${DEMO_HEAP_MIB:-256}

work=$(mktemp -d /tmp/crib-demo.XXXXXX)
image="$work/image"
pid=
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n== %s\n' "$*"; }
wait_for() {  # wait_for FILE SECONDS
  for _ in $(seq $(($2 * 20))); do [ -e "$1" ] && return 0; sleep 0.05; done
  echo "demo: timed out waiting for $1" >&2
  return 1
}

say "start the demo process ($heap_mib MiB heap, 4 threads), output in $work/stdout"
setsid "$demo" "$work" "$heap_mib" </dev/null >"$work/stdout" 2>"$work/stderr" &
pid=$!
wait_for "$work/ready" 30
sleep 1.2
echo "pid $pid, threads: $(ls /proc/$pid/task | tr '\n' ' ')"
tail -n 1 "$work/stdout"

say "crib dump -t $pid -D $image"
"$crib" dump -t "$pid" -D "$image"
{ wait "$pid"; } 2>/dev/null || true
if kill -0 "$pid" 2>/dev/null; then echo "demo: pid $pid still runs" >&2; exit 1; fi
echo "pid $pid is gone"

say "crib show $image (abridged)"
"$crib" show "$image" | sed -n '1,3p;/^threads/,/^  tid/p'
echo "  ..."
"$crib" show --json "$image" | python3 -c '
import json, sys
image = json.load(sys.stdin)
process = image.get("process", image)
counts = {key: len(process[key]) for key in ("threads", "vmas", "files")}
print("  {threads} threads, {vmas} mappings, {files} files in the image".format(**counts))'

say "crib restore -D $image -d"
"$crib" restore -D "$image" -d
echo "threads now: $(ls /proc/$pid/task | tr '\n' ' ')"
sleep 2
echo "its output after the restore:"
tail -n 2 "$work/stdout"

say "ask the restored process to check itself (DIR/check + SIGUSR1)"
touch "$work/check"
kill -USR1 "$pid"
wait_for "$work/result" 30
echo "result: $(cat "$work/result")"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
pid=
grep -qx ok "$work/result"

#!/usr/bin/env bash
# crib's main job until checkpoint/restore lands: load a shipped BPF object,
# show it, run a program on a context and show what it left in its maps and
# ringbuf.
set -euo pipefail
build=${1:-build}
crib="$build/bin/crib"
object="$build/bpf/demo.bpf.o"
text=${DEMO_TEXT:-"The quick brown fox jumps over the lazy dog. The dog sleeps, the fox runs."}

ctx=$(mktemp)
trap 'rm -f "$ctx"' EXIT
python3 - "$ctx" "$text" <<'PY'
import struct, sys
text = sys.argv[2].encode()[:256]
open(sys.argv[1], "wb").write(struct.pack("<I", len(text)) + text.ljust(256, b"\0"))
PY

echo "== crib prog show $object"
"$crib" prog show "$object"
echo
echo "== crib prog load $object"
"$crib" prog load "$object"
echo
echo "== crib prog run --prog count_words (text: \"$text\")"
"$crib" prog run "$object" --prog count_words --ctx "$ctx" --show-maps
echo
echo "== the same run as JSON, decoded: one ringbuf record per word"
"$crib" prog run "$object" --prog count_words --ctx "$ctx" --json | python3 -c '
import json, struct, sys
text = sys.argv[1].encode()
run = json.load(sys.stdin)
print("retval (words):", run["retval"])
for rec in run["ringbuf"]:
    h, start, length, count = struct.unpack("<IIII", bytes.fromhex(rec["data"].replace(" ", "")))
    print(f"  word {text[start:start+length].decode()!r:10} hash {h:#010x} seen {count}x")
' "$text"

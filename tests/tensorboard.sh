#!/bin/bash
# TensorBoard event files (core/tb_events.c) read back by an independent
# reader: tests/tb_read.py frames the TFRecords itself, checks both CRC-32Cs
# bit by bit and parses every Event with google.protobuf. The files come from
# `tests/check_tb DIR` (train/ and validation/ runs, Keras-like tags, edge
# cases: step 2^40 and -7, subnormal, overflow, inf, nan, -0, UTF-8 and
# 300-character tags). Then damaged copies must be refused. Skipped (exit 77)
# only where python3-protobuf is absent.
. "${KCV_TOP_SRCDIR:?}/tests/lib.sh"

if ! "$PY" -c "import google.protobuf" 2>/dev/null; then
	echo "SKIP: $PY has no google.protobuf (apt-get install python3-protobuf)"
	exit 77
fi
TOOL="$BUILD/tests/check_tb"
[ -x "$TOOL" ] || { fail "$TOOL not built (make check builds it)"; finish; }

t0=$(date +%s.%N)
expect_status 0 "write event files" -- "$TOOL" "$TMP/logs"
t1=$(date +%s.%N)
[ "$(wc -l <"$TMP/out")" -eq 2 ] && pass "two event files" || fail "tool printed: $(cat "$TMP/out")"
expect_in "$TMP/out" "$TMP/logs/train/events.out.tfevents." "train file name"
expect_in "$TMP/out" "$TMP/logs/validation/events.out.tfevents." "validation file name"
if "$PY" "$SRC/tests/tb_read.py" "$TMP/logs" "$t0" "$t1" >"$TMP/py.out" 2>"$TMP/py.err"; then
	pass "protobuf reader: $(tr '\n' ' ' <"$TMP/py.out")"
else
	fail "protobuf reader: $(cat "$TMP/py.err")"
fi

# The reader is not blind: damaged copies fail, each for the right reason.
damage() { # NAME PYTHON-EXPRESSION-ON-blob EXPECTED-MESSAGE
	rm -rf "$TMP/bad" && cp -r "$TMP/logs" "$TMP/bad"
	local f
	f=$(ls "$TMP/bad/train/"*tfevents*)
	"$PY" - "$f" "$2" <<'PYEOF' || { fail "$1: could not damage the file"; return; }
import sys
sys.path.insert(0, __import__("os").environ["KCV_TOP_SRCDIR"] + "/tests")
import struct, tb_read
path, expr = sys.argv[1], sys.argv[2]

def reframe(datas):
    out = b""
    for d in datas:
        n = struct.pack("<Q", len(d))
        out += n + struct.pack("<I", tb_read.masked(tb_read.crc32c(n)))
        out += d + struct.pack("<I", tb_read.masked(tb_read.crc32c(d)))
    return out

blob = open(path, "rb").read()
recs = tb_read.records(blob, path)
blob = eval(expr)
open(path, "wb").write(blob)
PYEOF
	if "$PY" "$SRC/tests/tb_read.py" "$TMP/bad" "$t0" "$t1" >/dev/null 2>"$TMP/py.err"; then
		fail "$1: damaged file accepted"
	else
		expect_in "$TMP/py.err" "$3" "$1 refused"
	fi
}
damage "flipped data byte" "blob[:60] + bytes([blob[60] ^ 1]) + blob[61:]" "data CRC mismatch"
damage "flipped length byte" "blob[:41] + bytes([blob[41] ^ 1]) + blob[42:]" "length CRC mismatch"
damage "truncated file" "blob[:-3]" "truncated data"
damage "changed value" "reframe(recs[:1] + [recs[1].replace(b'\\x00\\x00\\xe0\\x3f', b'\\x00\\x00\\xe0\\x40')] + recs[2:])" \
	"value 7.0, expected float32 1.75"
damage "missing event" "reframe(recs[:-1])" "15 scalar events, expected 16"
finish

# Shared helpers of the shell tests (sourced). Run by `make check`, which sets
# KCV_BIN, KCV_TOP_SRCDIR, KCV_TOP_BUILDDIR, KCV_SHARED_DIR, KCV_PYTHON.
set -u
KCV=${KCV_BIN:?run through make check}
SRC=${KCV_TOP_SRCDIR:?}
BUILD=${KCV_TOP_BUILDDIR:?}
SHARED=${KCV_SHARED_DIR:?}
PY=${KCV_PYTHON:-/usr/bin/python3}
VOC_MINI="$SHARED/data/voc2007-mini/VOCdevkit"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/kcv-test-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
failures=0

fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

pass() {
	echo "ok: $*"
}

# expect_status STATUS DESCRIPTION -- COMMAND...: runs the command, keeps its
# stdout in $TMP/out and stderr in $TMP/err.
expect_status() {
	local want=$1 what=$2
	shift 3
	"$@" >"$TMP/out" 2>"$TMP/err"
	local got=$?
	if [ "$got" -ne "$want" ]; then
		fail "$what: exit status $got, expected $want; stderr: $(head -c 600 "$TMP/err")"
		return 1
	fi
	pass "$what"
	return 0
}

# expect_in FILE TEXT DESCRIPTION
expect_in() {
	if grep -qF -- "$2" "$1"; then
		pass "$3"
	else
		fail "$3: \"$2\" not in $(head -c 600 "$1")"
	fi
}

same_weights() { # same_weights A B: every tensor of two checkpoints bit-identical
	"$PY" - "$1" "$2" <<PYEOF
import sys
sys.path.insert(0, "$SRC/tests")
import numpy as np, st_io
a, b = st_io.load(sys.argv[1]), st_io.load(sys.argv[2])
a = a[0] if isinstance(a, tuple) else a
b = b[0] if isinstance(b, tuple) else b
assert sorted(a) == sorted(b), "different tensors"
bad = [k for k in a if a[k].tobytes() != b[k].tobytes()]
assert not bad, "differ: %s" % bad[:5]
PYEOF
}

jget() { # jget FILE EXPR: evaluate a Python expression on the JSON object j
	"$PY" -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"
}

finish() {
	if [ "$failures" -ne 0 ]; then
		echo "$failures failure(s)" >&2
		exit 1
	fi
	exit 0
}

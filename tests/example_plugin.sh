#!/bin/bash
# The out-of-tree example plugin builds against an installed kcv (a temporary
# prefix, through pkg-config) and runs in a pipeline through KCV_PLUGIN_PATH.
. "${KCV_TOP_SRCDIR:?}/tests/lib.sh"

dest="$TMP/root"
if ! make -C "$BUILD" install DESTDIR="$dest" >"$TMP/install.log" 2>&1; then
	fail "make install: $(tail -5 "$TMP/install.log")"
	finish
fi
pc=$(find "$dest" -name kcv.pc | head -1)
[ -n "$pc" ] || { fail "kcv.pc not installed"; finish; }
prefix_dir=$(dirname "$(dirname "$(dirname "$pc")")") # <dest><prefix>
libdir=$(dirname "$(dirname "$pc")")
bin="$prefix_dir/bin/kcv"
for f in "$bin" "$libdir/libkcv.so" "$prefix_dir/include/kcv/kcv.h" "$prefix_dir/include/kcv/plugin.h" \
	"$prefix_dir/include/kcv/version.h" "$libdir/kcv/pascal_voc.so" "$libdir/kcv/random_flip.so" \
	"$prefix_dir/share/kcv/pipelines/voc_retinanet.json"; do
	[ -e "$f" ] && pass "installed $(basename "$f")" || fail "not installed: $f"
done
# the installed .pc knows the plugin folder
pcvar=$(PKG_CONFIG_PATH="$(dirname "$pc")" pkg-config --define-prefix --variable=plugindir kcv)
[ "$pcvar" = "$libdir/kcv" ] && pass "pkg-config plugindir" || fail "plugindir is '$pcvar', expected '$libdir/kcv'"

# build the example in a copy, as a third party would
cp -r "$SRC/docs/examples/random_grayscale" "$TMP/example"
chmod -R u+w "$TMP/example"
if make -C "$TMP/example" PKG_CONFIG="env PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --define-prefix" \
	CFLAGS="-O2 -Wall -Wextra -Werror" >"$TMP/build.log" 2>&1; then
	pass "example builds with pkg-config kcv"
else
	fail "example build: $(tail -5 "$TMP/build.log")"
	finish
fi

# run the installed kcv with the example through KCV_PLUGIN_PATH
run() {
	env LD_LIBRARY_PATH="$libdir" KCV_PLUGIN_SYSTEM_PATH="$libdir/kcv" KCV_PLUGIN_PATH="$TMP/example" "$bin" "$@"
}
expect_status 0 "installed kcv lists the example" -- run plugins --json
expect_in "$TMP/out" '"name": "random_grayscale"' "random_grayscale listed"
expect_in "$TMP/out" "$TMP/example/random_grayscale.so" "listed from its file"
expect_status 0 "example runs in a pipeline" -- run data "$TMP/example/pipeline.json" --bench --seconds 0 --json
expect_in "$TMP/out" '"images": 16' "all 16 images went through it"
expect_status 0 "example draws a grid" -- run data "$TMP/example/pipeline.json" --show 4 --out "$TMP/gray.jpg"
[ -s "$TMP/gray.jpg" ] && pass "grid written" || fail "no grid"
expect_status 1 "example option is validated" -- run data "$TMP/example/pipeline.json" --stats \
	--set 'data.augment.layers.0.rate=2'
expect_in "$TMP/err" "data.augment.layers.0.rate: expected a number in [0, 1], got 2" "range error names the path"
finish

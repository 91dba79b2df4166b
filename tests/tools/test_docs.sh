#!/usr/bin/env bash
# The docs follow the option table: every option, with its default, is in the
# README, hybrid(7) and hybridctl --help; the man pages render without warnings.
# usage: test_docs.sh BUILD_DIR SOURCE_DIR
set -u
BUILD=$1 SRC=$2
. "$SRC/tests/tools/lib.sh"
unset $(env | grep -o '^HYBRID_[A-Z_]*') 2>/dev/null

run "$BUILD/tools/hybridctl" --show
tail -n +2 "$OUT" | while read -r name value _; do echo "$name $value"; done >"$ERR.opts"
while read -r name value; do
	var=HYBRID_$(echo "$name" | tr a-z- A-Z_)
	grep -q "^| \`$var\` |.*--$name" "$SRC/README.md" && ok "README: $var" || { last="README"; bad "README lacks $var with --$name"; }
	case $value in "("*) ;; *)
		grep -q "^| \`$var\` |.*| \`$value\` |" "$SRC/README.md" && ok "README: $var default $value" \
			|| { last="README"; bad "README: $var default is not \`$value\`"; } ;;
	esac
	grep -q "^\.B $var\$" "$SRC/man/hybrid.7" && ok "hybrid.7: $var" || { last="hybrid.7"; bad "hybrid.7 lacks $var"; }
done <"$ERR.opts"
rm -f "$ERR.opts"
if command -v man >/dev/null && man --version >/dev/null 2>&1; then
	for page in "$SRC"/man/*.[137]; do
		w=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l "$page" 2>&1 >/dev/null)
		[ -z "$w" ] && ok "renders: ${page##*/}" || { last="man ${page##*/}"; bad "${page##*/}: $w"; }
	done
fi
finish

#!/usr/bin/env bash
# The man pages: every page renders with `man -l` without a warning; every
# function of include/hybrid.h has its page, with RETURN VALUE and ERRORS; every
# page it cites exists.  The checker itself is first shown a broken page, so that
# a renderer that stays silent about everything cannot pass.
# usage: test_manpages.sh BUILD_DIR SOURCE_DIR
set -u
BUILD=$1 SRC=$2
. "$SRC/tests/tools/lib.sh"
tmp=$(mktemp -d); trap 'rm -rf "$tmp" "$OUT" "$ERR"' EXIT

# warnings PAGE: what man (or, without man-db, groff) says about PAGE on stderr
if command -v man >/dev/null && man --version >/dev/null 2>&1; then
	warnings() { LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l "$1" 2>&1 >/dev/null; }
elif command -v groff >/dev/null; then
	warnings() { groff -man -ww -z -Tutf8 "$1" 2>&1; }
else
	skip_all "neither man nor groff is installed"
fi

printf '.TH BROKEN 3\n.SH NAME\nbroken \\- a page with faults\n.NOSUCHMACRO x\n\\[nosuchglyph]\n' >"$tmp/broken.3"
last="checker on a broken page" status=0
[ -n "$(warnings "$tmp/broken.3")" ] && ok "the checker reports a broken page" || bad "the checker is silent on a broken page"

for page in "$SRC"/man/*.[137]; do
	name=${page##*/} last="man -l $name" status=0
	w=$(warnings "$page")
	[ -z "$w" ] && ok "renders without warnings: $name" || bad "$name: $w"
	case $name in *.3)
		grep -q '^\.SH RETURN VALUE' "$page" && grep -q '^\.SH ERRORS' "$page" \
			&& ok "$name: RETURN VALUE and ERRORS" || bad "$name lacks RETURN VALUE or ERRORS" ;;
	esac
	# every page cited in SEE ALSO or the text is one of ours or a system page
	for ref in $(grep -o '^\.BR [a-z_0-9]* ([1-8])' "$page" | sed 's/^\.BR \([a-z_0-9]*\) (\([1-8]\))/\1.\2/' | sort -u); do
		case $ref in hybrid*) [ -e "$SRC/man/$ref" ] && ok "$name cites $ref" || bad "$name cites $ref, which does not exist" ;; esac
	done
done

# one page per public function
for fn in $(grep -oE '^[a-z].*[ *](hybrid_[a-z_]+)\(' "$SRC/include/hybrid.h" | grep -oE 'hybrid_[a-z_]+\($' | tr -d '('); do
	last="man page for $fn" status=0
	[ -e "$SRC/man/$fn.3" ] && ok "$fn has $fn.3" || bad "no man/$fn.3 for $fn"
done
finish

#!/usr/bin/env bash
# Hostile input (issue 9): every option of the table with empty, garbage,
# negative, overflowing, huge and out-of-range values,
#   - through the real library start: a program preloaded with libhybrid.so
#     and HYBRID_<NAME>=value keeps its stdout and exit status, and stderr has
#     its own line plus exactly one "libhybrid:" line naming the variable;
#   - through hybridctl, as HYBRID_<NAME>, --name=value, --name value and the
#     short option: exit 2, one line on stderr, nothing on stdout, the command
#     never started.
# Unknown HYBRID_ names (issue 19) are not errors: the library says one line
# naming the variable, ending "ignored", and runs; hybridctl says it too and
# runs the command, passing the name on so that it says the one line of
# the whole run.
# The sweep is generated from the option table as hybridctl shows it (--show
# for the names, --help for each one's type, short letter and accepted range),
# so a new option is covered without touching this file; an option whose type
# the generator does not know fails the test instead of going unchecked.
# Before the bad values, each option's default value is shown to be accepted
# by the same checks (the harness can tell good from bad).
# usage: test_hostile.sh BUILD_DIR SOURCE_DIR
set -u
BUILD=$(cd "$1" && pwd) SRC=$2
CTL=$BUILD/tools/hybridctl
LIB=$BUILD/lib/libhybrid.so
. "$SRC/tests/tools/lib.sh"
unset $(env | grep -o '^HYBRID_[A-Za-z_]*') LD_PRELOAD 2>/dev/null
export LC_ALL=C
tmp=$(mktemp -d); trap 'rm -rf "$OUT" "$ERR" "$tmp"' EXIT
[ -x "$CTL" ] && [ -e "$LIB" ] || skip_all "$CTL or $LIB not built"

# The preloaded program: one process image (dash runs the builtins itself),
# with its own stdout, stderr and exit status to compare.
# env(1) sets the variables for it without being preloaded itself.
SH=/bin/sh
prog() { env "$@" "$SH" -c 'echo "out: $1"; echo "err: $1" >&2; exit 3' sh hostile; }
prog >"$tmp/want.out" 2>"$tmp/want.err"

# --- the table ------------------------------------------------------------
"$CTL" --show >"$tmp/show" 2>&1 || { last="hybridctl --show"; status=$?; bad "--show failed"; finish; exit; }
"$CTL" --help >"$tmp/help" 2>&1
names=$(awk 'NR > 1 { print $1 }' "$tmp/show")
last="hybridctl --show"
[ "$(echo "$names" | wc -w)" -ge 17 ] && ok "table: $(echo "$names" | wc -w) options from --show" \
	|| bad "table: too few options in --show"

# --help describes each option: "  -X, --name=type" or "      --name[=type]",
# then its help line, then "(accepted values)".
describe() { # name -> "short|type|accepted"
	awk -v n="$1" '
		found == 1 { found = 2; next }
		found == 2 { sub(/^ +\(/, ""); sub(/\)$/, ""); print short "|" type "|" $0; exit }
		$0 ~ "^  (-[A-Za-z], |    )--" n "(\\[?=)" {
			short = ""; if (match($0, /^  -[A-Za-z],/)) short = substr($0, 4, 1)
			type = $0; sub(/^[^=]*=/, "", type); sub(/\]$/, "", type)
			found = 1
		}' "$tmp/help"
}

nodes=$(ls -d /sys/devices/system/node/node[0-9]* 2>/dev/null | wc -l)
[ "$nodes" -ge 1 ] || nodes=1
# how many memory nodes this process may use ("+N" counts in them)
allowed_n=$(awk '/^Mems_allowed_list:/ { n = split($2, r, ","); c = 0
	for (i = 1; i <= n; i++) { if (split(r[i], a, "-") == 2) c += a[2] - a[1] + 1; else c++ }
	print c }' /proc/self/status)
long9=$(printf '9%.0s' $(seq 1 300))   # 300 digits
longx=$(printf 'x%.0s' $(seq 1 5000))  # 5000 letters

# Values that no type accepts (each type adds its own below).
common_bad=("" " " "garbage" "-" "--" "0x10" "1 2" $'1\n' $'\t1' "é" "NaN" "inf" "$long9" "$longx" "%s%s%n" '$(id)' ";" "\\")

# bad_values TYPE ACCEPTED DEFAULT: one value per line (NUL-separated)
bad_values() {
	local type=$1 acc=$2 v lo hi
	if [ "$type" = path ]; then # any non-empty string is a path
		printf '\0'
		return 0
	fi
	for v in "${common_bad[@]}"; do printf '%s\0' "$v"; done
	case $type in
	integer)
		lo=$(sed -nE 's/.*from (-?[0-9]+) to (-?[0-9]+).*/\1/p' <<<"$acc")
		hi=$(sed -nE 's/.*from (-?[0-9]+) to (-?[0-9]+).*/\2/p' <<<"$acc")
		[ -n "$lo" ] && [ -n "$hi" ] || return 1
		printf '%s\0' $((lo - 1)) $((hi + 1)) -1 "-$long9" 9223372036854775807 9223372036854775808 \
			-9223372036854775808 -9223372036854775809 18446744073709551615 18446744073709551616 \
			1.5 1K 1e3 0x1 "+-1" "--1" "1-" "$lo " " $hi" "${hi}x"
		;;
	size)
		printf '%s\0' -1 -1K 1Q 1KK K .5K 1. 1.5.5K "1 K" 1KX 1KiBB 1E 16E 2P 1025T 1.5P 1048577G \
			17179869184G 18446744073709551616 18446744073709551615 99999999999999999999K \
			1.0000000001K 0x1000 1e6 "+1M" "1M "
		;;
	duration)
		local min max mn mu xn xu
		min=$(sed -nE 's/.*from ([0-9]+[a-z]+) to ([0-9]+[a-z]+).*/\1/p' <<<"$acc")
		max=$(sed -nE 's/.*from ([0-9]+[a-z]+) to ([0-9]+[a-z]+).*/\2/p' <<<"$acc")
		[ -n "$min" ] && [ -n "$max" ] || return 1
		mn=${min%%[a-z]*} mu=${min#"$mn"} xn=${max%%[a-z]*} xu=${max#"$xn"}
		[ "$mn" -gt 0 ] && printf '%s\0' "$((mn - 1))$mu" "0$mu"
		printf '%s\0' "$((xn + 1))$xu" 5 1 0 -1s -10ms 1S 1sec "1 s" s ms 1.s .5s 1e3ms 1ss 1m \
			"99999999999999999999s" 18446744073709551615us 18446744073709551616us 999999999h \
			1.0000000001s "+1s" "1s "
		;;
	choice)
		local c first
		first=$(sed -nE 's/^one of ([a-z]+).*/\1/p' <<<"$acc")
		[ -n "$first" ] || return 1
		printf '%s\0' "${first}x" "x${first}" "$first " " $first" "$first,$first" "${first:0:1}" 0 1 -1 \
			"$first=$first"
		;;
	"node list")
		local max=1023
		# numactl's forms (issue 19): "!0" leaves no node on a one-node
		# machine; "+N" past the allowed nodes; doubled or misplaced marks
		if [ "$nodes" -eq 1 ]; then printf '%s\0' "!0" "!+0" "!all"; fi
		printf '%s\0' "+$allowed_n" "!+0-$((allowed_n - 1))" "+all" "!" "+" "!!0" "++0" "+!0" "! 0" "0,!1" \
			"0,+1" "+-1" "+0," "!1024"
		printf '%s\0' x -1 "1-0" "0-" "-0" "0," ",0" "0,,0" "0-1-2" "0--1" "0 1" "0;1" \
			"$nodes" 1023 1024 "$((nodes))-1023" 99999999999 "0-99999999999" 18446744073709551616 \
			"all,x" "allx" "0-all" "0/0" "0x0"
		;;
	"tier list")
		printf '%s\0' x / "0/" "/0" "0//0" "0/x" "x/0" "0/1,0" "$nodes/0" "0/$nodes" "1024/0" \
			"0/0/0/0/0/0/0/0" "0,/0" "0-/0" "-1/0" "0 /0" "0/0/" "0/-" "+0/+$allowed_n" "+$allowed_n/0" \
			"!+/0" "0/!"
		if [ "$nodes" -eq 1 ]; then printf '%s\0' "0/!0" "!0/0"; fi
		;;
	boolean)
		printf '%s\0' 2 -1 yess maybe "on " "1x" "truefalse"
		;;
	"name list")
		printf '%s\0' HYBRID HOME "HYBRID_HOME," ",HYBRID_HOME" "HYBRID_HOME,,HYBRID_ROOT" \
			"HYBRID_HOME,HOME" "HYBRID_A=B" $'HYBRID_A\tB' HYBRID_EPOCH HYBRID_IGNORE_NAMES \
			"HYBRID_HOME,HYBRID_MODE" "HYBRID_$longx"
		;;
	*) return 1 ;;
	esac
}

# --- checks -----------------------------------------------------------------
n_lib=0 n_ctl=0
printable() { printf '%q' "$1" | head -c 60; }

# The checks below run thousands of times: bash builtins only, no grep/wc/cmp
# per input (a failure prints the details through lib.sh's bad()).
want_out=$(<"$tmp/want.out")
slurp() { out=; err=(); IFS= read -r -d '' out <"$OUT"; mapfile -t err <"$ERR"; }

# lib_bad VAR VALUE: through the library start
lib_bad() {
	local var=$1 val=$2 l nlib=0 nother=0 named=0 unmanaged=0
	prog "$var=$val" LD_PRELOAD="$LIB" >"$OUT" 2>"$ERR"; status=$?
	n_lib=$((n_lib + 1))
	slurp
	for l in "${err[@]}"; do
		if [[ $l == libhybrid:* ]]; then
			nlib=$((nlib + 1))
			# the variable named (a very long name may be shortened with ...)
			[[ $l == "libhybrid: ${var:0:40}"* ]] && named=1
			[[ $l == *"running unmanaged" ]] && unmanaged=1
		else
			[[ $l == "err: hostile" ]] || nother=$((nother + 1))
		fi
	done
	if [ "$status" -eq 3 ] && [ "${out%$'\n'}" = "$want_out" ] && [ "$nlib" -eq 1 ] \
		&& [ "${#err[@]}" -eq 2 ] && [ "$nother" -eq 0 ] && [ "$named" -eq 1 ] && [ "$unmanaged" -eq 1 ]; then
		pass=$((pass + 1))
	else
		last="$(printable "$var=$val") LD_PRELOAD=libhybrid.so sh"
		bad "library $(printable "$var=$val"): want status 3, stdout unchanged, one libhybrid: line naming $var and ending 'running unmanaged' ($nlib lines)"
	fi
}

# ctl_bad DESC ARGS...: hybridctl refuses before starting anything
ctl_bad() {
	local what=$1; shift
	[ -e "$tmp/ran" ] && rm -f "$tmp/ran"
	"$@" -- "$SH" -c ": >'$tmp/ran'" >"$OUT" 2>"$ERR"; status=$?
	n_ctl=$((n_ctl + 1))
	slurp
	if [ "$status" -eq 2 ] && [ -z "$out" ] && [ "${#err[@]}" -eq 1 ] && [[ ${err[0]} == hybridctl:\ * ]] \
		&& [ ! -e "$tmp/ran" ]; then
		pass=$((pass + 1))
	else
		last="$(printable "$*")"
		bad "hybridctl $what: want exit 2, one line, no stdout, command not started"
	fi
}

# lib_ignored VAR: an unknown name through the library start: the program
# unchanged, one "libhybrid: not an option: VAR..." line ending "ignored"
lib_ignored() {
	local var=$1 l nlib=0 nother=0 named=0
	prog "$var=1" LD_PRELOAD="$LIB" >"$OUT" 2>"$ERR"; status=$?
	n_lib=$((n_lib + 1))
	slurp
	for l in "${err[@]}"; do
		if [[ $l == libhybrid:* ]]; then
			nlib=$((nlib + 1))
			[[ $l == "libhybrid: not an option: ${var:0:40}"*"; ignored" ]] && named=1
		else
			[[ $l == "err: hostile" ]] || nother=$((nother + 1))
		fi
	done
	if [ "$status" -eq 3 ] && [ "${out%$'\n'}" = "$want_out" ] && [ "$nlib" -eq 1 ] \
		&& [ "${#err[@]}" -eq 2 ] && [ "$nother" -eq 0 ] && [ "$named" -eq 1 ]; then
		pass=$((pass + 1))
	else
		last="$(printable "$var=1") LD_PRELOAD=libhybrid.so sh"
		bad "library $(printable "$var=1"): want status 3, stdout unchanged, one libhybrid: line naming $var, ending 'ignored' ($nlib lines)"
	fi
}

# ctl_ignored VAR: an unknown name in hybridctl's environment: the command
# runs, one line (hybridctl's) names VAR.  A name longer than a
# HYBRID_IGNORE_NAMES list holds is not passed on: the command says it too.
ctl_ignored() {
	local var=$1 lines=1
	[ "${#var}" -ge 1023 ] && lines=2
	[ -e "$tmp/ran" ] && rm -f "$tmp/ran"
	env "$var=1" "$CTL" -- "$SH" -c ": >'$tmp/ran'" >"$OUT" 2>"$ERR"; status=$?
	n_ctl=$((n_ctl + 1))
	slurp
	if [ "$status" -eq 0 ] && [ -z "$out" ] && [ "${#err[@]}" -eq "$lines" ] \
		&& [[ ${err[0]} == "hybridctl: not an option: ${var:0:40}"*"; ignored" ]] && [ -e "$tmp/ran" ]; then
		pass=$((pass + 1))
	else
		last="$(printable "$var=1") hybridctl"
		bad "hybridctl $(printable "$var=1"): want exit 0, the command run, one line naming $var"
	fi
}

# --- each option: its default accepted, then every bad value refused ------------
types_seen=" "
for name in $names; do
	d=$(describe "$name")
	short=${d%%|*} rest=${d#*|}; type=${rest%%|*} acc=${rest#*|}
	var=HYBRID_$(tr 'a-z-' 'A-Z_' <<<"$name")
	last="describe $name"
	if [ -z "$d" ] || [ -z "$type" ]; then
		bad "$name: not described by --help: the sweep cannot cover it"; continue
	fi
	types_seen+="$type "
	default=$(awk -v n="$name" '$1 == n { print $2 }' "$tmp/show")
	optional=0; grep -q -- "--$name\\[=" "$tmp/help" && optional=1

	# controls: a value the table accepts passes the same checks the other way
	if [ -n "$default" ] && [ "${default:0:1}" != "(" ]; then
		prog "$var=$default" LD_PRELOAD="$LIB" >"$OUT" 2>"$ERR"; status=$? last="$var=$default sh"
		[ "$status" -eq 3 ] && cmp -s "$OUT" "$tmp/want.out" && cmp -s "$ERR" "$tmp/want.err" \
			&& ok "$var=$default (default): accepted, silent" || bad "$var=$default (default) not accepted"
		run "$CTL" "--$name=$default" -- "$SH" -c 'exit 5'
		expect_status 5 "--$name=$default (default): the command runs"
	fi

	vals=$tmp/vals.$name
	if ! bad_values "$type" "$acc" "$default" >"$vals"; then
		last="--help for $name: type '$type', accepted '$acc'"
		bad "$name: no bad values for type '$type' ($acc): teach bad_values this type"; continue
	fi
	before=$((n_lib + n_ctl)) fails=$fail i=0
	while IFS= read -r -d '' v; do
		i=$((i + 1))
		lib_bad "$var" "$v"
		ctl_bad "$var=VALUE" env "$var=$v" "$CTL"
		ctl_bad "--$name=VALUE" "$CTL" "--$name=$v"
		# the other spellings take the value apart from the option: a few
		# values are enough there (the common ones come first in the list).
		# An option whose value is optional (--stats[=path]) takes it only after '='.
		if [ "$i" -le 3 ] || [ "$i" -gt "${#common_bad[@]}" ]; then
			[ "$optional" = 0 ] && ctl_bad "--$name VALUE" "$CTL" "--$name" "$v"
			[ -n "$short" ] && ctl_bad "-$short VALUE" "$CTL" "-$short" "$v"
		fi
		# --show refuses too (a few per option: the same parser)
		[ "$i" -le 3 ] && ctl_bad "--$name=VALUE --show" "$CTL" "--$name=$v" --show
	done <"$vals"
	[ "$fail" -eq "$fails" ] && ok "$name ($type): $((n_lib + n_ctl - before)) bad inputs refused" \
		|| echo "     $name ($type): $((fail - fails)) of $((n_lib + n_ctl - before)) bad inputs mishandled"
done

# the launcher's own rule for the path option
ctl_bad "--stats=+" "$CTL" --stats=+
ctl_bad "--stats=" "$CTL" --stats=

# --- unknown names --------------------------------------------------------
first=$(echo "$names" | head -1)
dashed=$(echo "$names" | grep -m1 -- -)   # a name with a dash: fast-nodes
VAR1=HYBRID_$(tr 'a-z-' 'A-Z_' <<<"$first")
for var in HYBRID_NOPE HYBRID_ HYBRID__ "${VAR1}_" "${VAR1}X" "HYBRID_$(tr 'a-z-' 'a-z_' <<<"$first")" \
	   "HYBRID_$(tr 'a-z' 'A-Z' <<<"$dashed")" "HYBRID_$dashed" "HYBRID_ $first" HYBRID_1 HYBRID_$longx; do
	lib_ignored "$var"
	ctl_ignored "$var"
done
for arg in --nope --nope=1 "--$first-x=1" "--${first}x" "---$first=1" "--=1" "--$(tr 'a-z' 'A-Z' <<<"$first")=1" \
	   "--${first//-/_}=1" -Z -Z1 "--$longx"; do
	ctl_bad "$(printable "$arg")" "$CTL" "$arg"
done

# --- combinations each fine alone -------------------------------------------
for pair in "HYBRID_FREE_LOW=50 HYBRID_FREE_HIGH=10" "HYBRID_PROMOTE_THRESHOLD=5 HYBRID_PROMOTE_WINDOW=4" \
	    "HYBRID_FREE_LOW=100 HYBRID_FREE_HIGH=0"; do
	# shellcheck disable=SC2086
	prog $pair LD_PRELOAD="$LIB" >"$OUT" 2>"$ERR"; status=$? last="$pair sh"
	n_lib=$((n_lib + 1))
	[ "$status" -eq 3 ] && cmp -s "$OUT" "$tmp/want.out" && [ "$(grep -c '^libhybrid:' "$ERR")" -eq 1 ] \
		&& ok "library $pair: one line, program unchanged" || bad "library $pair"
	# shellcheck disable=SC2086
	ctl_bad "$pair" env $pair "$CTL"
done

last="types"
echo "types covered:$types_seen"
echo "bad inputs tried: $((n_lib + n_ctl)) ($n_lib through the library start, $n_ctl through hybridctl)"
[ $((n_lib + n_ctl)) -ge 1000 ] && ok "sweep size" || bad "sweep too small: $((n_lib + n_ctl))"
finish

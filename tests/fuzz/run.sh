#!/bin/bash
# tests/fuzz/run.sh - builds the libFuzzer targets of tests/fuzz/ with clang
# (ASan + UBSan) against the library's sources and runs each for a bounded time.
#
#   tests/fuzz/run.sh                    every target, FUZZ_SECONDS (default 5) each
#   tests/fuzz/run.sh -t 120 webhook     one target for 120 s
#   tests/fuzz/run.sh -r                 only replay the committed corpora (no fuzzing)
#   tests/fuzz/run.sh -b                 only build
#
# Environment: FUZZ_SECONDS (per target), FUZZ_BUILD (default build/fuzz),
# FUZZ_CC (default clang, else clang-14), FUZZ_JOBS (parallel compiles, default nproc),
# FUZZ_SEED (libFuzzer -seed, default random).
#
# Layout: tests/fuzz/fuzz_<name>.c drivers; tests/fuzz/corpus/<name>/ committed seeds
# (small, read-only to the fuzzer); tests/fuzz/dict/<name>.dict dictionaries.  Inputs the
# fuzzer finds go to $FUZZ_BUILD/corpus/<name>/ (kept between runs, never committed), crashes
# to $FUZZ_BUILD/artifacts/<name>/.  Prints per target: inputs run, seconds, coverage,
# corpus size, findings; then the totals.  Exit status: 0 no finding, 1 a finding (crash,
# leak, timeout, out of memory, or a violated property), 2 build or usage error.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
cd "$REPO" || exit 2

SECONDS_EACH=${FUZZ_SECONDS:-5}
BUILD=${FUZZ_BUILD:-build/fuzz}
JOBS=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
MODE=fuzz
ALL_TARGETS="webhook config form request woo keycrm http dialect"

while getopts "t:rbh" opt; do
	case $opt in
	t) SECONDS_EACH=$OPTARG ;;
	r) MODE=replay ;;
	b) MODE=build ;;
	*) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
TARGETS=${*:-$ALL_TARGETS}
case $SECONDS_EACH in ''|*[!0-9]*) echo "run.sh: -t needs whole seconds" >&2; exit 2 ;; esac

CC=${FUZZ_CC:-}
if [ -z "$CC" ]; then
	for c in clang clang-14; do
		command -v "$c" >/dev/null 2>&1 && { CC=$c; break; }
	done
fi
[ -n "$CC" ] || { echo "run.sh: clang not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }

PKGS="libcurl jansson sqlite3 libcrypto libmariadb"
PKG_CFLAGS=$(pkg-config --cflags $PKGS 2>/dev/null)
PKG_LIBS="$(pkg-config --libs $PKGS 2>/dev/null) -lfcgi -lunistring -lm -pthread"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CFLAGS="-std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Wno-bitwise-instead-of-logical -Ilib $PKG_CFLAGS"

mkdir -p "$BUILD/lib" || exit 2

# --- build: lib/*.c -> $BUILD/lib/*.o (instrumented for coverage), then one binary per target
newest_header=$(ls -t lib/*.h | head -1)
stale=""
for src in lib/*.c; do
	obj="$BUILD/lib/$(basename "${src%.c}").o"
	if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ "$newest_header" -nt "$obj" ]; then
		stale="$stale $src"
	fi
done
if [ -n "$stale" ]; then
	echo "fuzz: compiling$(echo $stale | wc -w | sed 's/^/ /') library sources with $CC (ASan+UBSan)"
	# shellcheck disable=SC2086
	printf '%s\n' $stale | xargs -P "$JOBS" -I{} sh -c \
	    "$CC $CFLAGS $SAN -fsanitize=fuzzer-no-link -c -o \"$BUILD/lib/\$(basename {} .c).o\" {}" \
	    || { echo "fuzz: library build failed" >&2; exit 2; }
	rm -f "$BUILD/libkc-fuzz.a"
fi
if [ ! -f "$BUILD/libkc-fuzz.a" ]; then
	ar rcs "$BUILD/libkc-fuzz.a" "$BUILD"/lib/*.o || exit 2
fi
for t in $TARGETS; do
	src="$HERE/fuzz_$t.c"
	bin="$BUILD/fuzz_$t"
	[ -f "$src" ] || { echo "fuzz: no target '$t' (have: $ALL_TARGETS)" >&2; exit 2; }
	if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ] || [ "$HERE/fuzz.h" -nt "$bin" ] ||
	    [ "$BUILD/libkc-fuzz.a" -nt "$bin" ]; then
		echo "fuzz: building fuzz_$t"
		# shellcheck disable=SC2086
		$CC $CFLAGS -Werror $SAN -fsanitize=fuzzer -o "$bin" "$src" \
		    "$BUILD/libkc-fuzz.a" $PKG_LIBS || { echo "fuzz: build of fuzz_$t failed" >&2; exit 2; }
	fi
done
[ "$MODE" = build ] && exit 0

# --- run
max_len() {
	case $1 in
	webhook|woo|keycrm) echo 16384 ;;
	request) echo 8192 ;;
	config) echo 8192 ;;
	*) echo 4096 ;;
	esac
}

export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
total_runs=0
total_findings=0
printf '%-8s %12s %6s %6s %7s %8s\n' target inputs secs cov corpus findings
for t in $TARGETS; do
	bin="$BUILD/fuzz_$t"
	seeds="$HERE/corpus/$t"
	work="$BUILD/corpus/$t"
	arts="$BUILD/artifacts/$t"
	log="$BUILD/fuzz_$t.log"
	mkdir -p "$work" "$arts" "$seeds"
	dict=""
	[ -f "$HERE/dict/$t.dict" ] && dict="-dict=$HERE/dict/$t.dict"
	before=$(ls "$arts" | wc -l)
	if [ "$MODE" = replay ]; then
		# Every committed seed once (libFuzzer reads files given one by one).
		# shellcheck disable=SC2046
		"$bin" -runs=1 -artifact_prefix="$arts/" $(ls -d "$seeds"/* 2>/dev/null) >"$log" 2>&1
		rc=$?
		runs=$(ls "$seeds" | wc -l)
		secs=0
	else
		# shellcheck disable=SC2086
		"$bin" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
		    -max_len="$(max_len "$t")" -print_final_stats=1 -artifact_prefix="$arts/" \
		    ${FUZZ_SEED:+-seed=$FUZZ_SEED} $dict "$work" "$seeds" >"$log" 2>&1
		rc=$?
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
		[ -n "$runs" ] || runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)
		secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
	fi
	cov=$(grep -ao 'cov: [0-9]*' "$log" | tail -1 | sed 's/cov: //')
	after=$(ls "$arts" | wc -l)
	findings=$((after - before))
	if [ "$rc" -ne 0 ] && [ "$findings" -eq 0 ]; then
		findings=1	# died without leaving an artifact (e.g. a sanitizer report at exit)
	fi
	printf '%-8s %12s %6s %6s %7s %8s\n' "$t" "${runs:-?}" "${secs:-?}" "${cov:-?}" \
	    "$(ls "$work" | wc -l)" "$findings"
	if [ "$findings" -ne 0 ]; then
		echo "---- fuzz_$t: finding (log: $log, inputs: $arts/) ----"
		grep -aE 'ERROR|SUMMARY|property violated|runtime error|^ +#[0-9]+ .* (/lib/|/tests/fuzz/)' \
		    "$log" | grep -v LLVMFuzzerTestOneInput | head -20
		ls -t "$arts" | head -5 | sed "s|^|    $arts/|"
	fi
	total_runs=$((total_runs + ${runs:-0}))
	total_findings=$((total_findings + findings))
done
if [ "$MODE" = replay ]; then
	how="committed seeds replayed"
else
	how="${SECONDS_EACH}s each"
fi
echo "fuzz: $total_runs inputs run, $total_findings findings (targets: $(echo $TARGETS | wc -w), $how, $CC)"
[ "$total_findings" -eq 0 ]

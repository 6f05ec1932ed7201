#!/usr/bin/env bash
# Builds the libFuzzer harnesses in Fuzz/ and runs each for a bounded time.
#
#   Scripts/fuzz.sh [--build-only] [harness ...]     harnesses: TypeDecoder ChunkDecoder RequestSequence (default: all)
#
# Environment:
#   FUZZ_SECONDS   seconds per harness (default 60)
#   FUZZ_PACKAGE   the package whose OPCUA target is fuzzed (default: this repository)
#   FUZZ_BUILD     scratch path for the instrumented build (default: $FUZZ_PACKAGE/.build-fuzz)
#   FUZZ_JOBS      build jobs (default 2)
#   FUZZ_MERGE=1   afterwards, merge inputs that add coverage into Fuzz/Corpus/<harness>/
#   FUZZ_ARGS      extra libFuzzer flags (e.g. "-max_len=8192" or "-only_ascii=1")
#
# How it builds: `swift build --target OPCUA -Xswiftc -sanitize=fuzzer,address` in a dedicated
# scratch path compiles the OPCUA module and its dependencies with coverage instrumentation and
# AddressSanitizer (SwiftPM's own `--sanitize fuzzer --sanitize address` keeps only the last one).
# Each harness is then one `swiftc -sanitize=fuzzer,address -parse-as-library` invocation that
# links those objects; libFuzzer supplies `main`. The harness gets the package's
# `-package-name`, so it can call `package` entry points such as TransportFuzzing.
#
# Corpora: Fuzz/Corpus/<harness>/ is the committed seed corpus (read, never written by a run);
# new inputs go to $FUZZ_BUILD/corpus/<harness>/. Crashing inputs go to Fuzz/Crashes/<harness>/.
# Reproduce one with: $FUZZ_BUILD/fuzzers/<harness> Fuzz/Crashes/<harness>/crash-…
# Exits non-zero if a harness crashed, did not build, or found nothing to run.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
seconds=${FUZZ_SECONDS:-60}
package=$(cd "${FUZZ_PACKAGE:-$repo}" && pwd)
build=${FUZZ_BUILD:-$package/.build-fuzz}
jobs=${FUZZ_JOBS:-2}
build_only=0
harnesses=()
for argument in "$@"; do
    case "$argument" in
        --build-only) build_only=1 ;;
        -h|--help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        TypeDecoder|ChunkDecoder|RequestSequence) harnesses+=("$argument") ;;
        *) echo "fuzz.sh: unknown harness or option '$argument' (try --help)" >&2; exit 2 ;;
    esac
done
[ ${#harnesses[@]} -eq 0 ] && harnesses=(TypeDecoder ChunkDecoder RequestSequence)

# The package entry point each harness calls (none: public API only).
entry_point() {
    case "$1" in
        ChunkDecoder) echo TransportFuzzing ;;
        RequestSequence) echo ServerFuzzing ;;
        *) echo "" ;;
    esac
}

echo "== building OPCUA with -sanitize=fuzzer,address in $build"
swift build -c release --package-path "$package" --scratch-path "$build" --target OPCUA -j "$jobs" \
    -Xswiftc -sanitize=fuzzer,address 2>&1 | grep -E "error|warning: |Compiling OPCUA|Build of target" || true
bin=$(swift build -c release --package-path "$package" --scratch-path "$build" --show-bin-path)
[ -f "$bin/Modules/OPCUA.swiftmodule" ] || { echo "fuzz.sh: the OPCUA build failed (no $bin/Modules/OPCUA.swiftmodule)" >&2; exit 1; }

# The package name SwiftPM passes as -package-name: the package identity (directory name) as a C99 identifier.
package_name=$(basename "$package" | tr '[:upper:]' '[:lower:]' | sed 's/[^a-z0-9_]/_/g; s/^\([0-9]\)/_\1/')
module_maps=()
for map in "$bin"/*.build/module.modulemap "$build"/checkouts/*/Sources/*/include/module.modulemap; do
    [ -f "$map" ] && module_maps+=(-Xcc "-fmodule-map-file=$map")
done
# The built objects: for a Swift target the ones its output-file-map.json names (a deleted source
# leaves a stale .o behind), for a C target every .o.
objects=()
for target in "$bin"/*.build; do
    if [ -f "$target/output-file-map.json" ]; then
        while IFS= read -r object; do
            [ -f "$object" ] && objects+=("$object")
        done < <(grep -o '"object": *"[^"]*"' "$target/output-file-map.json" | sed 's/^"object": *"//; s/"$//')
    else
        while IFS= read -r -d '' object; do objects+=("$object"); done < <(find "$target" -name "*.o" -print0)
    fi
done
mkdir -p "$build/fuzzers"

status=0
summary=()
for harness in "${harnesses[@]}"; do
    source="$repo/Fuzz/$harness/main.swift"
    entry=$(entry_point "$harness")
    if [ -n "$entry" ] && ! grep -rqE "enum $entry\b" "$package/Sources/OPCUA"; then
        summary+=("$harness: skipped, Sources/OPCUA has no $entry yet")
        continue
    fi
    echo "== compiling $harness"
    if ! swiftc -O -sanitize=fuzzer,address -parse-as-library -swift-version 6 -use-ld=lld \
        -module-name "Fuzz$harness" -package-name "$package_name" -I "$bin/Modules" "${module_maps[@]}" \
        "$source" "${objects[@]}" -o "$build/fuzzers/$harness"; then
        summary+=("$harness: DID NOT BUILD")
        status=1
        continue
    fi
    [ "$build_only" = 1 ] && { summary+=("$harness: built $build/fuzzers/$harness"); continue; }

    seeds="$repo/Fuzz/Corpus/$harness"
    work="$build/corpus/$harness"
    crashes="$repo/Fuzz/Crashes/$harness"
    mkdir -p "$seeds" "$work" "$crashes"
    before=$(find "$crashes" -type f | wc -l)
    log="$build/fuzz-$harness.log"
    echo "== running $harness for $seconds s (log $log)"
    set +e
    # shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
    # RequestSequence runs async server code per input: the Swift concurrency runtime keeps a few
    # small task allocations alive across inputs, which LeakSanitizer reports as leaks; a real
    # unbounded leak still shows up as RSS growth against -rss_limit_mb.
    extra=""
    asan="${ASAN_OPTIONS:-}"
    if [ "$harness" = RequestSequence ]; then extra="-detect_leaks=0"; asan="detect_leaks=0${asan:+:$asan}"; fi
    ASAN_OPTIONS="$asan" SWIFT_BACKTRACE=enable=no "$build/fuzzers/$harness" "$work" "$seeds" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
        -rss_limit_mb=2048 -artifact_prefix="$crashes/" $extra ${FUZZ_ARGS:-} > "$log" 2>&1
    code=$?
    set -e
    after=$(find "$crashes" -type f | wc -l)
    inputs=$(grep -E '^stat::number_of_executed_units' "$log" | tail -1 | awk '{print $2}')
    [ -z "$inputs" ] && inputs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
    inputs=${inputs:-0}
    found=$((after - before))
    summary+=("$harness: $inputs inputs run in $seconds s, $found crashes, corpus $(find "$work" -type f | wc -l) + $(find "$seeds" -type f | wc -l) seeds")
    if [ "$code" -ne 0 ] || [ "$found" -gt 0 ]; then
        echo "-- $harness failed (libFuzzer exit $code); the end of its log:" >&2
        grep -vE '^#[0-9]+' "$log" | tail -40 >&2
        status=1
    elif [ "$inputs" -eq 0 ]; then
        summary[-1]+=" (ran nothing?)"
        status=1
    fi
    if [ "${FUZZ_MERGE:-0}" = 1 ]; then
        "$build/fuzzers/$harness" -merge=1 "$seeds" "$work" > "$build/merge-$harness.log" 2>&1 \
            && summary[-1]+="; merged into Fuzz/Corpus/$harness ($(find "$seeds" -type f | wc -l) files)"
    fi
done

echo "== summary"
printf '%s\n' "${summary[@]}"
exit "$status"

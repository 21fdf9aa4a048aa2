#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 30 s each) from the seed
# corpus of golden mails and PIDF samples. Fails if any target finds a crash.
#   fuzz/run.sh [SECONDS_PER_TARGET]   build, then run (as many at once as there are cores)
#   fuzz/run.sh --build                only build (scripts/test.sh does it while tests run)
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-30}"
targets=(mail_parse pidf_decode sip_message auth_results)
export RUSTC_BOOTSTRAP=1   # cargo fuzz needs -Z flags; stable allows them this way

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked --quiet
fi

# The sanitizer build of the whole stack is slow and the same for every clone:
# keep it in one place on the machine.
target_dir="${FUZZ_TARGET_DIR:-/var/cache/mailpresence/fuzz-target}"
mkdir -p "$target_dir"

# Seed corpora (mails, PIDF, SIP, Authentication-Results as OpenDKIM, Gmail
# and Microsoft 365 write them): real-shaped inputs make the fuzzer reach deep paths quickly.
mkdir -p corpus/mail_parse corpus/pidf_decode corpus/sip_message corpus/auth_results
cp ../protocol/tests/golden/*.eml corpus/mail_parse/
cp ../protocol/tests/pidf/*.xml corpus/pidf_decode/
cp ../server/tests/sip-messages/*.sip corpus/sip_message/
cp ../protocol/tests/auth_results/*.txt corpus/auth_results/

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
if ! cargo fuzz build --target-dir "$target_dir" >"$logs/build" 2>&1; then
  tail -n 60 "$logs/build"
  echo "fuzz: the fuzz targets did not build" >&2
  exit 1
fi
[ "$seconds" = --build ] && exit 0

# Each target runs on one core for its whole time; on two cores, two at once.
fuzz_one() {
  cargo fuzz run --target-dir "$target_dir" "$1" "corpus/$1" -- \
    -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 >"$logs/$1" 2>&1
}
at_once=$(nproc)
failed=()
for ((i = 0; i < ${#targets[@]}; i += at_once)); do
  batch=("${targets[@]:i:at_once}")
  declare -A pid=()
  for target in "${batch[@]}"; do
    echo "fuzz: $target for ${seconds}s"
    fuzz_one "$target" &
    pid[$target]=$!
  done
  for target in "${batch[@]}"; do
    if wait "${pid[$target]}"; then
      echo "fuzz: $target $(grep -E "^stat::number_of_executed_units" "$logs/$target" || true)"
    else
      tail -n 40 "$logs/$target"
      echo "fuzz: $target FAILED; the input is in fuzz/artifacts/$target"
      failed+=("$target")
    fi
  done
  unset pid
done
[ ${#failed[@]} -eq 0 ] || exit 1
echo "fuzz: no crash in ${seconds}s per target"

#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 30 s each) from the seed
# corpus of golden mails and PIDF samples. Fails if any target finds a crash.
#   fuzz/run.sh [SECONDS_PER_TARGET]
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-30}"
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

log=$(mktemp)
trap 'rm -f "$log"' EXIT
for target in mail_parse pidf_decode sip_message auth_results; do
  echo "fuzz: $target for ${seconds}s"
  if cargo fuzz run --target-dir "$target_dir" "$target" "corpus/$target" -- \
      -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    grep -E "^stat::number_of_executed_units" "$log" || true
  else
    tail -n 40 "$log"
    echo "fuzz: $target FAILED; the input is in fuzz/artifacts/$target"
    exit 1
  fi
done
echo "fuzz: no crash in ${seconds}s per target"

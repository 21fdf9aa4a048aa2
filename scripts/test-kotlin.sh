#!/usr/bin/env bash
# The Android app's plain-Kotlin layer (android/presence-ui) compiled with
# kotlinc 2.4 and run on the JVM against the real core library through the
# generated bindings and JNA. The tests are JUnit 4 classes (Debian's junit4
# jar here; `gradle :presence-ui:test` runs the same files on a workstation).
# Prints "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${MAILPRESENCE_CACHE:-/var/cache/mailpresence}"
kotlin="$cache/kotlin-compiler"
if [ ! -x "$kotlin/bin/kotlinc-jvm" ]; then
  echo "test-kotlin: fetching kotlinc 2.4.20 (npm kotlin-compiler)" >&2
  mkdir -p "$cache"
  (cd "$cache" && npm pack --silent kotlin-compiler@2.4.20 >/dev/null && tar xzf kotlin-compiler-2.4.20.tgz && rm -rf kotlin-compiler && mv package kotlin-compiler && rm kotlin-compiler-2.4.20.tgz)
fi
[ -f /usr/share/java/jna.jar ] || { echo "test-kotlin: installing libjna-java" >&2; DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends libjna-java >/dev/null; }
[ -f /usr/share/java/junit4.jar ] || { echo "test-kotlin: installing junit4" >&2; DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends junit4 >/dev/null; }
command -v java >/dev/null || { echo "test-kotlin: installing a JDK" >&2; DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends default-jdk-headless >/dev/null; }
# `--prepare`: only the compiler and jars above (scripts/test.sh fetches them while it builds).
[ "${1:-}" = --prepare ] && exit 0

scripts/bindings.sh target/bindings
lib="$kotlin/lib"
cp="/usr/share/java/jna.jar:$lib/kotlinx-coroutines-core-jvm.jar:/usr/share/java/junit4.jar:/usr/share/java/hamcrest-core.jar"
out=target/kotlin
mkdir -p "$out"
# kotlinc takes a minute: the jar is made again only when a source (or the
# compiler) changed since it was made.
sources=$(find target/bindings/kotlin android/presence-ui/src/main/kotlin android/presence-ui/src/test/kotlin -name '*.kt' | sort)
sum=$( (echo "$kotlin" "$cp"; cat $sources) | sha256sum | cut -d' ' -f1)
if [ -f "$out/presence-ui-tests.jar" ] && [ "$(cat "$out/presence-ui-tests.sha256" 2>/dev/null)" = "$sum" ]; then
  echo "test-kotlin: sources unchanged since the last compile" >&2
else
  echo "test-kotlin: compiling" >&2
  rm -f "$out/presence-ui-tests.sha256"
  "$kotlin/bin/kotlinc-jvm" -nowarn -cp "$cp" -d "$out/presence-ui-tests.jar" $sources
  echo "$sum" >"$out/presence-ui-tests.sha256"
fi
# The tests' temporary folders (stores, CA files) go here and with the run.
scratch=$(mktemp -d /tmp/mailpresence-kotlin-tests.XXXXXX)
# The sign-in tests' provider: the tests' OAuth endpoint on a free port, stopped on exit.
endpoint_log=$(mktemp)
python3 scripts/oauth-endpoint.py --port 0 --dir "${MAILPRESENCE_MAIL_DIR:-/nonexistent}" >"$endpoint_log" 2>&1 &
endpoint_pid=$!
trap 'kill $endpoint_pid 2>/dev/null || true; rm -rf "$endpoint_log" "$scratch"' EXIT
for _ in $(seq 100); do grep -q '^listening on' "$endpoint_log" && break; sleep 0.1; done
oauth_port=$(sed -n 's/^listening on //p' "$endpoint_log")
[ -n "$oauth_port" ] || { echo "test-kotlin: the OAuth endpoint did not start:" >&2; cat "$endpoint_log" >&2; exit 1; }
# The enrolment tests' code, made by the real server binary.
enrol_code=$(scripts/enrolment-code.sh)
# The field day's world: the mail servers scripts/test.sh started (or our
# own, which scripts/presence-server.sh starts when run alone) and a real
# presence server on them, stopped on exit.
presence_dir=$(mktemp -d /tmp/mailpresence-kotlin-presence.XXXXXX)
trap 'kill $endpoint_pid 2>/dev/null || true; rm -rf "$endpoint_log" "$scratch"; scripts/presence-server.sh stop "$presence_dir"; rm -rf "$presence_dir"' EXIT
presence_env=$(scripts/presence-server.sh start "$presence_dir") || { echo "test-kotlin: the presence server did not start" >&2; exit 1; }
eval "$presence_env"
# Every *Test.kt file holds one test class of the same name.
classes=$(find android/presence-ui/src/test/kotlin -name '*Test.kt' -printf 'org.mailpresence.ui.%f\n' | sed 's/\.kt$//' | sort)
java -Djava.io.tmpdir="$scratch" -Djna.library.path="${CARGO_TARGET_DIR:-$PWD/target}/debug" -Drepo.root="$PWD" -Doauth.url="http://127.0.0.1:$oauth_port" -Denrol.code="$enrol_code" \
  -Dmail.imap.port="$MAILPRESENCE_IMAP_PORT" -Dmail.submission.port="$MAILPRESENCE_SUBMISSION_PORT" -Dmail.ca="$MAILPRESENCE_MAIL_CA" \
  -Dmail.authserv="$MAILPRESENCE_AUTHSERV_ID" -Dmail.domain="$MAILPRESENCE_MAIL_DOMAIN" -Dpresence.address="$MAILPRESENCE_PRESENCE_ADDRESS" \
  -cp "$cp:$lib/kotlin-stdlib.jar:$out/presence-ui-tests.jar" org.mailpresence.ui.JvmRunnerKt $classes

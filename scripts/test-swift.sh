#!/usr/bin/env bash
# The iOS app's plain-Swift layer (ios/MailPresenceKit) built and tested with
# `swift test` on Linux, in a Debian trixie chroot with swiftlang 6, against
# the real core library built on this machine, in the Swift 6 language mode
# (Package.swift is tools-version 6.0). The chroot is kept in a cache folder
# outside the clone and reused. Then checks what it can of the app's shell
# (scripts/ios-app-check.py): its module name, one definition of the core's C
# module, Swift 6 mode, background modes, the permission texts in each
# language, and the app's Foundation-only sources type-checked against the
# generated bindings with -swift-version 6. The background-refresh test reads
# the real Dovecot of scripts/mail-servers.sh (MAILPRESENCE_IMAP_PORT).
# Prints "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
cache="${MAILPRESENCE_CACHE:-/var/cache/mailpresence}"
root="$cache/swift-trixie"
# (/usr/bin/swift is a link into the chroot, absolute, so it is looked at as a link.)
if ! [ -L "$root/usr/bin/swift" ] && ! [ -x "$root/usr/bin/swift" ]; then
  echo "test-swift: preparing the trixie chroot with swiftlang in $root (a few minutes, once)" >&2
  command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends debootstrap >/dev/null
  [ -f "$root/etc/debian_version" ] || debootstrap --variant=minbase trixie "$root" http://deb.debian.org/debian >/dev/null
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
  chroot "$root" apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends swiftlang libc6-dev >/dev/null
fi
# `--prepare`: only the chroot above (scripts/test.sh makes it while it builds).
[ "${1:-}" = --prepare ] && exit 0
mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
# One mount point and build folder per checkout, so two checkouts can run
# this side by side in the one chroot (as the mail servers run side by side).
slot=$(printf %s "$repo" | cksum | cut -d' ' -f1)
inner=/work/repo-$slot
scratch=/tmp/mailpresence-swift-build-$slot
mkdir -p "$root$inner"
mountpoint -q "$root$inner" || mount --bind "$repo" "$root$inner"
cleanup() {
  umount "$root$inner" 2>/dev/null || true
  rmdir "$root$inner" 2>/dev/null || true
  # /proc stays while another checkout's run still has its folder mounted.
  for other in "$root"/work/*; do mountpoint -q "$other" && return 0; done
  umount "$root/proc" 2>/dev/null || true
}
trap cleanup EXIT

# The app's shell first: cheap, and a wrong module name hides the bindings.
app_sources=$(scripts/ios-app-check.py)
[ -n "$app_sources" ] || { echo "test-swift: no app source to type-check" >&2; exit 1; }

scripts/bindings.sh target/bindings
kit=ios/MailPresenceKit
rm -rf "$kit/Sources/MailPresence" "$kit/Sources/MailPresenceFFI"
mkdir -p "$kit/Sources/MailPresence" "$kit/Sources/MailPresenceFFI"
# Both crates' Swift files build one module, MailPresence; both headers one C module.
cp target/bindings/swift/*.swift "$kit/Sources/MailPresence/"
cp target/bindings/swift/*.h "$kit/Sources/MailPresenceFFI/"
sed 's/^    export \*$/    link "mailpresence_core"\n    export */' target/bindings/swift/module.modulemap \
  > "$kit/Sources/MailPresenceFFI/module.modulemap"
# The library where the chroot sees it (CARGO_TARGET_DIR may lie outside the clone).
mkdir -p target/swift-lib
cp "${CARGO_TARGET_DIR:-$repo/target}/debug/libmailpresence_core.so" target/swift-lib/
lib=$inner/target/swift-lib
# The sign-in tests' provider: the tests' OAuth endpoint on a free port (the
# chroot shares this machine's loopback), stopped on exit.
endpoint_log=$(mktemp)
python3 scripts/oauth-endpoint.py --port 0 --dir "${MAILPRESENCE_MAIL_DIR:-/nonexistent}" >"$endpoint_log" 2>&1 &
endpoint_pid=$!
trap 'cleanup; kill $endpoint_pid 2>/dev/null || true; rm -f "$endpoint_log"' EXIT
for _ in $(seq 100); do grep -q '^listening on' "$endpoint_log" && break; sleep 0.1; done
oauth_port=$(sed -n 's/^listening on //p' "$endpoint_log")
[ -n "$oauth_port" ] || { echo "test-swift: the OAuth endpoint did not start:" >&2; cat "$endpoint_log" >&2; exit 1; }
# The enrolment tests' code, made by the real server binary.
enrol_code=$(scripts/enrolment-code.sh)
# The field day's world: the mail servers scripts/test.sh started (or our
# own, which scripts/presence-server.sh starts when run alone) and a real
# presence server on them, stopped on exit;
# the company CA where the chroot sees it.
presence_dir=$(mktemp -d /tmp/mailpresence-swift-presence.XXXXXX)
trap 'cleanup; kill $endpoint_pid 2>/dev/null || true; rm -f "$endpoint_log"; scripts/presence-server.sh stop "$presence_dir"' EXIT
presence_env=$(scripts/presence-server.sh start "$presence_dir") || { echo "test-swift: the presence server did not start" >&2; exit 1; }
eval "$presence_env"
cp "$MAILPRESENCE_MAIL_CA" target/swift-lib/mail-ca.pem
office="MAILPRESENCE_IMAP_PORT=$MAILPRESENCE_IMAP_PORT MAILPRESENCE_IMAPS_PORT=$MAILPRESENCE_IMAPS_PORT MAILPRESENCE_SUBMISSION_PORT=$MAILPRESENCE_SUBMISSION_PORT MAILPRESENCE_SMTPS_PORT=$MAILPRESENCE_SMTPS_PORT MAILPRESENCE_MAIL_CA=$lib/mail-ca.pem MAILPRESENCE_AUTHSERV_ID=$MAILPRESENCE_AUTHSERV_ID MAILPRESENCE_MAIL_DOMAIN=$MAILPRESENCE_MAIL_DOMAIN MAILPRESENCE_PRESENCE_ADDRESS=$MAILPRESENCE_PRESENCE_ADDRESS"
log=$(mktemp)
set +e
chroot "$root" /bin/bash -c "cd $inner/$kit && MAILPRESENCE_REPO=$inner MAILPRESENCE_OAUTH_URL=http://127.0.0.1:$oauth_port MAILPRESENCE_ENROL_CODE=$enrol_code $office LD_LIBRARY_PATH=$lib swift test --scratch-path $scratch -Xlinker -L$lib -Xlinker -rpath -Xlinker $lib" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# The app's Foundation-only sources against the modules swift test just built.
if [ "$status" -eq 0 ]; then
  app_module=$(sed -n 's/^ *PRODUCT_MODULE_NAME: *//p' ios/MailPresenceApp/project.yml | head -1)
  echo "test-swift: type-checking the app's $(echo $app_sources | wc -w) Foundation-only source(s) as module $app_module" >&2
  chroot "$root" /bin/bash -c "cd $inner && modules=\$(dirname \$(find $scratch -path '*debug/Modules/MailPresenceUI.swiftmodule' | head -1)) && swiftc -typecheck -swift-version 6 -module-name $app_module -I \$modules -I $kit/Sources/MailPresenceFFI $(echo $app_sources)" 2>&1 | tee -a "$log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "test-swift: the app's sources do not type-check against the bindings" >&2; status=1; }
fi
passed=$(grep -cE "^Test Case .* passed" "$log" || true)
failed=$(grep -cE "^Test Case .* failed" "$log" || true)
rm -f "$log"
echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]

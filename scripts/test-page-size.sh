#!/usr/bin/env bash
# Tests scripts/check-page-size.sh, the 16 KB page check scripts/build-android.sh
# runs on every native library it packs, with real shared objects: gcc links
# one for 4 KB pages and one for 16 KB, and the check must refuse the first
# and accept the second, alone and packed in an .aar as Gradle gets JNA; a
# library whose read-only-after-relocation part ends inside a 16 KB page of
# writable data (how JNA 5.13-5.16 crashed on arm64) must be refused too.
# Prints "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
check=$PWD/scripts/check-page-size.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

cat >lib.c <<'EOF'
int counter = 1;
const char *names[] = {"tanaka", "suzuki"};
int bump(void) { return ++counter; }
EOF
gcc -shared -fPIC -o libfour.so lib.c -Wl,-z,max-page-size=4096
gcc -shared -fPIC -o libsixteen.so lib.c -Wl,-z,max-page-size=16384

# The 16 KB library with its GNU_RELRO shortened by 0x100 bytes: it now ends
# mid-page, in the page of the writable data after it (a 64-bit ELF's program
# headers: p_type at 0, p_filesz at 32, p_memsz at 40).
python3 - libsixteen.so librelro.so <<'EOF'
import struct, sys
elf = bytearray(open(sys.argv[1], "rb").read())
phoff, = struct.unpack_from("<Q", elf, 0x20)
phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
for i in range(phnum):
    at = phoff + i * phentsize
    if struct.unpack_from("<I", elf, at)[0] == 0x6474E552:  # PT_GNU_RELRO
        filesz, memsz = struct.unpack_from("<QQ", elf, at + 32)
        struct.pack_into("<QQ", elf, at + 32, filesz - 0x100, memsz - 0x100)
        break
else:
    sys.exit("no GNU_RELRO segment")
open(sys.argv[2], "wb").write(elf)
EOF

# An .aar as Maven serves JNA's: the libraries under jni/<ABI>/.
pack() {
  local aar=$1; shift
  python3 - "$aar" "$@" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.writestr("classes.jar", b"")
    for pair in sys.argv[2:]:
        src, name = pair.split("=")
        z.write(src, name)
EOF
}
pack four.aar libfour.so=jni/arm64-v8a/libjnidispatch.so libsixteen.so=jni/x86_64/libjnidispatch.so
pack sixteen.aar libsixteen.so=jni/arm64-v8a/libjnidispatch.so libsixteen.so=jni/x86_64/libjnidispatch.so
pack x86only.aar libsixteen.so=jni/arm64-v8a/libjnidispatch.so libfour.so=jni/x86/libjnidispatch.so

passed=0
failed=0
# expect NAME STATUS PATTERN -- ARGS: the check exits with STATUS and its
# output matches PATTERN (empty: says nothing).
expect() {
  local name=$1 status=$2 pattern=$3 out rc
  shift 4
  set +e
  out=$("$check" "$@" 2>&1)
  rc=$?
  set -e
  if [ "$rc" -eq "$status" ] && { [ -z "$pattern" ] && [ -z "$out" ] || [ -n "$pattern" ] && grep -qE "$pattern" <<<"$out"; }; then
    echo "ok   $name"
    passed=$((passed + 1))
  else
    echo "FAIL $name: exit $rc (wanted $status), said: ${out:-nothing}"
    failed=$((failed + 1))
  fi
}

expect "a library linked for 4 KB pages is refused, by name" 1 '^check-page-size: libfour\.so: LOAD segments aligned to 0x1000 \(4 KB\)' -- libfour.so
expect "a library linked for 16 KB pages passes" 0 '' -- libsixteen.so
expect "every file is checked, the bad one named" 1 'libfour\.so' -- libsixteen.so libfour.so
expect "GNU_RELRO ending inside a page of writable data is refused" 1 '^check-page-size: librelro\.so: GNU_RELRO ends at 0x[0-9a-f]+, inside a 16 KB page' -- librelro.so
expect "inside an .aar, the 4 KB library is refused with its path" 1 '^check-page-size: four\.aar!jni/arm64-v8a/libjnidispatch\.so: LOAD' -- four.aar
# The same run must not name the 16 KB library beside it.
named=$("$check" four.aar 2>&1 || true)
if grep -q 'x86_64' <<<"$named"; then
  echo "FAIL inside an .aar, the 16 KB library is not named"; failed=$((failed + 1))
else
  echo "ok   inside an .aar, the 16 KB library is not named"; passed=$((passed + 1))
fi
expect "an .aar of 16 KB libraries passes" 0 '' -- sixteen.aar
expect "an ABI the app does not pack is not checked" 0 '' -- --abis arm64-v8a,armeabi-v7a,x86_64 x86only.aar
expect "without --abis every ABI in the archive is checked" 1 'x86only\.aar!jni/x86/libjnidispatch\.so' -- x86only.aar
expect "a file that is not a library is refused" 1 'lib\.c: not a shared object' -- lib.c
expect "a missing file stops the check" 2 'cannot be read' -- missing.so

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

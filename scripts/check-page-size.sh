#!/usr/bin/env bash
# Checks that native libraries load on Android devices with 16 KB memory pages
# (Android 15+; Google Play refuses apps targeting Android 15+ without it).
#   scripts/check-page-size.sh [--abis arm64-v8a,x86_64] FILE...
# (scripts/build-android.sh runs it on what it packs; scripts/test-page-size.sh
# tests it.)
# A FILE is a shared object (.so) or an archive that packs them (.aar, .apk,
# .aab, .jar, .zip: its .so files are unpacked to a temporary folder, and with
# --abis only those under a folder of one of these ABIs are checked).
# A library passes when
# - every LOAD segment is aligned to at least 16 KB (readelf -l, Align >= 0x4000),
#   else the loader refuses it ("program alignment (4096) cannot be smaller
#   than system page size (16384)");
# - its read-only-after-relocation part (GNU_RELRO) does not end inside a 16 KB
#   page that also holds writable data: the loader write-protects whole pages,
#   and the first write to that data crashes (SIGSEGV). JNA 5.13-5.16's arm64
#   libjnidispatch.so had 64 KB alignment and still crashed this way.
# Prints one line per library that fails, naming it (ARCHIVE!path for one
# inside an archive), and exits 1 if any failed; 2 when a FILE cannot be read.
set -euo pipefail

page=$((0x4000))
abis=""
if [ "${1:-}" = "--abis" ]; then
  abis=",${2:?--abis needs a comma-separated list},"
  shift 2
fi
[ $# -gt 0 ] || { echo "usage: $0 [--abis LIST] FILE..." >&2; exit 2; }
# GNU readelf, or llvm-readelf (the NDK has one; READELF names either).
readelf=${READELF:-$(command -v readelf || command -v llvm-readelf || true)}
[ -n "$readelf" ] || { echo "check-page-size: readelf is needed (binutils, or READELF=the NDK's llvm-readelf)" >&2; exit 2; }
command -v unzip >/dev/null || { echo "check-page-size: unzip is needed" >&2; exit 2; }

failed=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One shared object: prints what is wrong with it (nothing when it passes).
problems() {
  local so=$1 header type vaddr memsz align relro_end
  if ! header=$("$readelf" -lW "$so" 2>/dev/null) || ! grep -q '^ *LOAD ' <<<"$header"; then
    echo "not a shared object readelf can read"
    return
  fi
  local loads=() smallest=""
  # Columns: Type Offset VirtAddr PhysAddr FileSiz MemSiz Flg Align; the
  # flags may hold a space ("R E"), so Align is read from the end.
  while read -r type _ vaddr _ _ memsz rest; do
    align=${rest##* }
    case "$type" in
      LOAD)
        if [ -z "$smallest" ] || (( align < smallest )); then smallest=$((align)); fi
        loads+=("$((vaddr)) $((vaddr + memsz))")
        ;;
      GNU_RELRO) relro_end=$((vaddr + memsz)) ;;
    esac
  done < <(awk '$1 == "LOAD" || $1 == "GNU_RELRO"' <<<"$header")
  if (( smallest < page )); then
    printf 'LOAD segments aligned to 0x%x (%d KB), need at least 0x4000 (16 KB)\n' "$smallest" $((smallest / 1024))
  fi
  if [ -n "${relro_end:-}" ] && (( relro_end % page != 0 )); then
    local page_end=$(( (relro_end / page + 1) * page )) start end
    for range in "${loads[@]}"; do
      read -r start end <<<"$range"
      # Memory of a segment between the RELRO end and the end of its page.
      if (( end > relro_end && start < page_end )); then
        printf 'GNU_RELRO ends at 0x%x, inside a 16 KB page that holds writable data (crashes on write)\n' "$relro_end"
        break
      fi
    done
  fi
}

check() {
  local so=$1 name=$2 out
  out=$(problems "$so")
  if [ -n "$out" ]; then
    while IFS= read -r line; do echo "check-page-size: $name: $line"; done <<<"$out"
    failed=1
  fi
}

for file in "$@"; do
  [ -r "$file" ] || { echo "check-page-size: $file: cannot be read" >&2; exit 2; }
  case "$file" in
    *.aar|*.apk|*.aab|*.jar|*.zip)
      dir="$work/$(basename "$file").$RANDOM"
      mkdir -p "$dir"
      # No .so inside is not an error (unzip exits 11): nothing to check.
      unzip -qq -o "$file" '*.so' -d "$dir" 2>/dev/null || [ $? -eq 11 ] || { echo "check-page-size: $file: not a zip archive" >&2; exit 2; }
      found=0
      while IFS= read -r -d '' so; do
        inner=${so#"$dir"/}
        if [ -n "$abis" ]; then
          abi=$(basename "$(dirname "$inner")")
          [[ "$abis" == *",$abi,"* ]] || continue
        fi
        found=1
        check "$so" "$file!$inner"
      done < <(find "$dir" -name '*.so' -type f -print0 | sort -z)
      [ "$found" -eq 1 ] || echo "check-page-size: $file: no native library${abis:+ for ${abis//,/ }} inside" >&2
      ;;
    *) check "$file" "$file" ;;
  esac
done
exit "$failed"

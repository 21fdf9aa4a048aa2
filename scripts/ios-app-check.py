#!/usr/bin/env python3
"""What can be checked of the iOS app's shell without a Mac.

- The app's module name differs from every module the bindings and the
  package define (an app module named MailPresence hides the bindings: "file
  is part of module 'MailPresence'; ignoring import").
- The core's C module is defined once: the app links the core only through
  the package (its binary target), never the XCFramework directly.
- The app is compiled in the Swift 6 language mode (SWIFT_VERSION 6).
- Background modes App Review asks about: `location` only when the app uses
  continuous updates (startUpdatingLocation), and always when a source sets
  allowsBackgroundLocationUpdates (which raises an exception without it).
- Every permission text (NS...UsageDescription) is translated in the
  InfoPlist.strings of every language the app declares (CFBundleLocalizations).
- Prints the app's source files that need only Foundation and the package's
  modules, one per line, for scripts/test-swift.sh to type-check against the
  generated bindings; names the others (UIKit, SwiftUI, ...) on stderr.

    scripts/ios-app-check.py            exit 1 on a failed check
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "ios/MailPresenceApp"
KIT = ROOT / "ios/MailPresenceKit"


def app_targets(spec: str):
    """(target name, module name) of each application target in project.yml."""
    out = []
    body = spec.split("\ntargets:\n", 1)[1] if "\ntargets:\n" in spec else ""
    # Two-space keys under `targets:` are the targets; their blocks follow.
    for m in re.finditer(r"^  (\w[\w-]*):\n((?:^(?:    .*|\s*)\n)*)", body, re.M):
        name, block = m.group(1), m.group(2)
        if not re.search(r"^\s+type:\s*application\s*$", block, re.M):
            continue
        module = re.search(r"^\s+PRODUCT_MODULE_NAME:\s*(\S+)", block, re.M)
        # Xcode derives the module from the product name, else the target name.
        product = re.search(r"^\s+PRODUCT_NAME:\s*(\S+)", block, re.M)
        fallback = product.group(1) if product and not module else name
        out.append((name, module.group(1) if module else re.sub(r"\W", "_", fallback), block))
    return out


def package_modules():
    names = set(re.findall(r'module_name\s*=\s*"(\w+)"', (ROOT / "uniffi.toml").read_text()))
    names |= set(re.findall(r'ffi_module_name\s*=\s*"(\w+)"', (ROOT / "uniffi.toml").read_text()))
    names |= set(re.findall(r'name:\s*"(\w+)"', (KIT / "Package.swift").read_text()))
    return names


def yaml_list(spec: str, key: str):
    """The items of a one-line YAML list `key: [a, b]`, or None when absent."""
    m = re.search(rf"^\s+{key}:\s*\[([^\]]*)\]", spec, re.M)
    return None if m is None else [i.strip().strip("\"'") for i in m.group(1).split(",") if i.strip()]


def strings_keys(path: Path):
    """The keys an .strings file defines with a non-empty value."""
    return set(re.findall(r'^\s*"(\w+)"\s*=\s*"[^"]+"\s*;', path.read_text(encoding="utf-8"), re.M))


def store_checks(spec: str):
    """What crashes at launch or stops an App Store review, readable without a Mac."""
    failures = []
    versions = re.findall(r"^\s+SWIFT_VERSION:\s*\"?([\d.]+)", spec, re.M)
    if not versions or any(not v.startswith("6") for v in versions):
        failures.append(f"project.yml: SWIFT_VERSION is {versions or 'not set'}; the app is built in the Swift 6 language mode (6.0)")
    sources = "\n".join(p.read_text() for p in sorted((APP / "Sources").glob("*.swift")))
    modes = yaml_list(spec, "UIBackgroundModes") or []
    continuous = re.search(r"\.startUpdatingLocation\(", sources)
    background_updates = re.search(r"allowsBackgroundLocationUpdates\s*=\s*true", sources)
    if "location" in modes and not continuous:
        failures.append("project.yml: UIBackgroundModes has `location`, but the app uses only significant changes and visits, "
                        "which need no background mode (App Review asks why it is there)")
    if background_updates and "location" not in modes:
        failures.append("Sources: allowsBackgroundLocationUpdates = true without the `location` background mode raises at launch")
    languages = yaml_list(spec, "CFBundleLocalizations") or []
    if "ja" not in languages:
        failures.append(f"project.yml: CFBundleLocalizations is {languages}; Japanese (ja) is the normal case")
    texts = set(re.findall(r"^\s+(NS\w+UsageDescription):", spec, re.M))
    for lang in languages:
        strings = APP / "Resources" / f"{lang}.lproj" / "InfoPlist.strings"
        if not strings.exists():
            failures.append(f"{strings.relative_to(ROOT)} is missing: the permission texts in {lang}")
            continue
        missing = texts - strings_keys(strings)
        if missing:
            failures.append(f"{strings.relative_to(ROOT)}: no text for {', '.join(sorted(missing))}")
    return failures


def main() -> int:
    spec = (APP / "project.yml").read_text()
    taken = package_modules()
    failures = []
    targets = app_targets(spec)
    if not targets:
        failures.append("project.yml: no application target found")
    for name, module, block in targets:
        if module in taken:
            failures.append(f"project.yml: app target {name} has module name {module}, "
                            f"which the bindings or the package already use ({', '.join(sorted(taken))})")
        if re.search(r"^\s+-\s*framework:.*xcframework", block, re.M):
            failures.append(f"project.yml: app target {name} links an XCFramework of the core directly; "
                            "it comes through MailPresenceKit, and both would define MailPresenceFFI")
    failures += store_checks(spec)
    allowed = {"Foundation"} | taken
    for source in sorted((APP / "Sources").glob("*.swift")):
        imports = set(re.findall(r"^\s*(?:@\w+\s+)*import\s+(\w+)", source.read_text(), re.M))
        extra = imports - allowed
        if extra:
            print(f"ios-app-check: {source.name} needs {', '.join(sorted(extra))}: not checked here", file=sys.stderr)
        else:
            print(source.relative_to(ROOT))
    for f in failures:
        print(f"ios-app-check: {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

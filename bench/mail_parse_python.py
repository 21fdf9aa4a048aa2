#!/usr/bin/env python3
"""Reference for `cargo bench --bench mail`: Python's standard `email` package
doing the same work on the same golden mails — MIME and charset decoding
(policy.default), the first text part (or HTML), and splitting `Tag: value`
lines. Prints min/median/max microseconds per mail over several runs.

    python3 bench/mail_parse_python.py [RUNS]
"""
import email
import email.policy
import glob
import os
import re
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TAG = re.compile(r"^\s*([^:：]+?)\s*[:：]\s*(.*?)\s*$")


def parse(raw):
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    subject = str(msg.get("subject", "")).strip().lower()
    if subject not in ("publish", "subscribe", "notify"):
        return None
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return None
    text = part.get_content()
    tags = {}
    for line in text.splitlines():
        if line.rstrip("\r\n") in ("-- ", "--") or line.lstrip().startswith(">"):
            break
        m = TAG.match(line)
        if m:
            tags.setdefault(m.group(1).lower().replace(" ", "").replace("-", ""), []).append(m.group(2))
    return tags


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    mails = [open(f, "rb").read() for f in sorted(glob.glob(os.path.join(ROOT, "protocol/tests/golden/*.eml")))]
    per_mail = []
    for _ in range(runs):
        rounds = 50
        t0 = time.perf_counter()
        for _ in range(rounds):
            for m in mails:
                parse(m)
        per_mail.append((time.perf_counter() - t0) / (rounds * len(mails)) * 1e6)
    print("python email: %d mails, %d runs: per mail min %.1f µs, median %.1f µs, max %.1f µs"
          % (len(mails), runs, min(per_mail), statistics.median(per_mail), max(per_mail)))


if __name__ == "__main__":
    main()

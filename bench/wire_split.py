#!/usr/bin/env python3
"""Where a fan-out's time goes, read off the wire: from a packet capture of
the loopback (tcpdump -i lo -w FILE, during bench/sip.sh or bench/board.py),
for each change that fanned out, the time from the request that made it
(a SIP PUBLISH, or the board's POST /api/me) to the server's last message out
(the last NOTIFY, or the last stream chunk), and for SIP to the last answer
back from the watchers (their 200 OKs to the NOTIFYs). What
lies between the two is the watchers' side: the benchmark's own Python
clients reading 1,000 sockets, not the server.

    bench/wire_split.py sip FILE PORT      (PORT: the server's SIP port)
    bench/wire_split.py board FILE PORT    (PORT: the board's web port, or
                                           auto: the port of the first POST /api/me)

Needs tshark (Debian's package) to read the capture.
"""
import statistics, subprocess, sys

# A fan-out is a change followed by at least this many messages out.
MIN_FAN_OUT = 500
# A change's messages are those until the next change, or this many seconds.
WINDOW = 5.0


def fields(capture, display_filter, names):
    out = subprocess.run(
        ["tshark", "-r", capture, "-Y", display_filter, "-T", "fields", "-E", "separator=\t"]
        + sum((["-e", n] for n in names), []),
        check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split("\t")
        yield parts + [""] * (len(names) - len(parts))


def sip_events(capture, port):
    """(time, kind) with kind 'change', 'out' (a NOTIFY from the server) or
    'back' (a 200 OK to a NOTIFY, to the server)."""
    for t, src, dst, method, cseq in fields(capture, "sip", ["frame.time_epoch", "udp.srcport", "udp.dstport", "sip.Method", "sip.CSeq.method"]):
        t = float(t)
        if dst == str(port) and method == "PUBLISH":
            yield t, "change"
        elif src == str(port) and method == "NOTIFY":
            yield t, "out"
        elif dst == str(port) and not method and cseq == "NOTIFY":
            yield t, "back"


def board_events(capture, port):
    """(time, kind): 'change' is the POST that changes a state, 'out' a
    segment with data from the server. Nothing comes back on a stream (the
    kernel's ACKs say nothing of the reader), so the benchmark's own figure
    is the watchers' side."""
    names = ["frame.time_epoch", "tcp.srcport", "tcp.dstport", "tcp.len", "http.request.method", "http.request.uri"]
    for t, src, dst, length, method, uri in fields(capture, "tcp", names):
        t = float(t)
        if dst == str(port) and method == "POST" and uri.startswith("/api/me"):
            yield t, "change"
        elif src == str(port) and length not in ("", "0"):
            yield t, "out"


def fan_outs(events):
    """Per change: (ms to the last message out, ms to the last answer back,
    messages out)."""
    events = sorted(events)
    changes = [t for t, kind in events if kind == "change"]
    for i, start in enumerate(changes):
        end = changes[i + 1] if i + 1 < len(changes) else start + WINDOW
        end = min(end, start + WINDOW)
        outs = [t for t, kind in events if kind == "out" and start <= t < end]
        backs = [t for t, kind in events if kind == "back" and start <= t < end]
        if len(outs) < MIN_FAN_OUT:
            continue
        yield (max(outs) - start) * 1000, (max(backs) - start) * 1000 if backs else float("nan"), len(outs)


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("sip", "board"):
        sys.exit(__doc__)
    what, capture, port = sys.argv[1], sys.argv[2], sys.argv[3]
    if port == "auto":
        found = list(fields(capture, 'http.request.uri == "/api/me"', ["tcp.dstport"]))
        if not found:
            sys.exit("wire_split.py: no POST /api/me in %s" % capture)
        port = found[0][0]
    port = int(port)
    events = list((sip_events if what == "sip" else board_events)(capture, port))
    rows = list(fan_outs(events))
    if not rows:
        sys.exit("wire_split.py: no fan-out of %d or more messages in %s" % (MIN_FAN_OUT, capture))
    print("| fan-out | messages out | ms to the server's last message out | ms to the watchers' last answer |")
    print("|---|---|---|---|")
    for n, (out, back, count) in enumerate(rows, 1):
        print("| %d | %d | %.1f | %.1f |" % (n, count, out, back))
    print("| median | | %.1f | %.1f |" % (statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)))


if __name__ == "__main__":
    main()

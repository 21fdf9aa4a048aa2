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
    """(time, kind, dialog's Call-ID) with kind 'change' (a PUBLISH), 'end'
    (a SUBSCRIBE: a watcher of the next run, whose first NOTIFY is not the
    fan-out's), 'out' (a NOTIFY from the server) or 'back' (a 200 OK to a
    NOTIFY, to the server)."""
    names = ["frame.time_epoch", "udp.srcport", "udp.dstport", "sip.Method", "sip.CSeq.method", "sip.Call-ID"]
    for t, src, dst, method, cseq, call_id in fields(capture, "sip", names):
        t = float(t)
        if dst == str(port) and method == "PUBLISH":
            yield t, "change", call_id
        elif dst == str(port) and method == "SUBSCRIBE":
            yield t, "end", call_id
        elif src == str(port) and method == "NOTIFY":
            yield t, "out", call_id
        elif dst == str(port) and not method and cseq == "NOTIFY":
            yield t, "back", call_id


def board_events(capture, port):
    """(time, kind): 'change' is the POST that changes a state, 'out' a
    segment with data from the server. Nothing comes back on a stream (the
    kernel's ACKs say nothing of the reader), so the benchmark's own figure
    is the watchers' side."""
    names = ["frame.time_epoch", "tcp.srcport", "tcp.dstport", "tcp.len", "http.request.method", "http.request.uri"]
    for t, src, dst, length, method, uri in fields(capture, "tcp", names):
        t = float(t)
        if dst == str(port) and method == "POST" and uri.startswith("/api/me"):
            yield t, "change", src
        elif src == str(port) and length not in ("", "0"):
            yield t, "out", dst


def fan_outs(events):
    """Per change: (ms to the last message out to this run's watchers, ms to
    their last answer back, messages out to them). With SIP, this run's
    watchers' dialogs are those subscribed since the change before: the
    NOTIFYs resent in earlier runs' dead dialogs are not this fan-out's."""
    events = sorted(events)
    bounds = [t for t, kind, _ in events if kind in ("change", "end")]
    previous = 0.0
    for start, kind, _ in events:
        if kind != "change":
            continue
        later = [t for t in bounds if t > start]
        end = min(later[0] if later else start + WINDOW, start + WINDOW)
        watchers = {p for t, k, p in events if k == "end" and previous <= t < start}
        previous = start
        window = [(t, k, p) for t, k, p in events if start <= t < end]
        mine = lambda p: not watchers or p in watchers
        outs = [t for t, k, p in window if k == "out" and mine(p)]
        backs = [t for t, k, p in window if k == "back" and mine(p)]
        if len(outs) < MIN_FAN_OUT:
            continue
        last_back = (max(backs) - start) * 1000 if backs else float("nan")
        yield (max(outs) - start) * 1000, last_back, len(outs)


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

#!/usr/bin/env python3
"""NOTIFY fan-out: WATCHERS real UDP watchers subscribe to one presentity
(u0), then one PUBLISH changes it; prints the milliseconds from the PUBLISH to
the last watcher's NOTIFY. Every NOTIFY is answered 200.
    sip_fanout.py HOST:PORT DOMAIN [WATCHERS]"""
import re, select, socket, sys, time

def main():
    host, port = sys.argv[1].rsplit(":", 1)
    server, domain = (host, int(port)), sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    socks = []
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
        socks.append(s)
    def answer(s, data):
        text = data.decode("utf-8", "replace")
        if not text.startswith("NOTIFY"):
            return False
        hs = {}
        for line in text.split("\r\n")[1:]:
            if ":" in line:
                k, v = line.split(":", 1); hs.setdefault(k.strip().lower(), v.strip())
        ok = "SIP/2.0 200 OK\r\n" + "".join("%s: %s\r\n" % (k, hs.get(k.lower(), "")) for k in ("Via", "From", "To", "Call-ID", "CSeq")) + "Content-Length: 0\r\n\r\n"
        s.sendto(ok.encode(), server)
        return True
    def drain(until, want=None):
        got = set()
        while time.time() < until and (want is None or len(got) < want):
            r, _, _ = select.select(socks, [], [], 0.05)
            for s in r:
                try:
                    data, _ = s.recvfrom(65535)
                except BlockingIOError:
                    continue
                if answer(s, data) and b"<note" in data and b"fanout" in data:
                    got.add(s.fileno())
        return got
    for i, s in enumerate(socks):
        p = s.getsockname()[1]
        s.sendto(("SUBSCRIBE sip:u0@%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKf%d;rport\r\nMax-Forwards: 70\r\nFrom: <sip:w%d@%s>;tag=f%d\r\nTo: <sip:u0@%s>\r\nCall-ID: fan%d-%d\r\nCSeq: 1 SUBSCRIBE\r\nContact: <sip:w%d@127.0.0.1:%d>\r\nEvent: presence\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n"
                  % (domain, p, i, i, domain, i, domain, i, p, i, p)).encode(), server)
        if i % 100 == 99:
            drain(time.time() + 0.05)
    drain(time.time() + 3)
    pub = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); pub.bind(("127.0.0.1", 0))
    body = ('<?xml version="1.0"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:u0@%s"><tuple id="a"><status><basic>open</basic></status><note>fanout</note></tuple></presence>' % domain).encode()
    msg = ("PUBLISH sip:u0@%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKfanpub;rport\r\nMax-Forwards: 70\r\nFrom: <sip:u0@%s>;tag=fp\r\nTo: <sip:u0@%s>\r\nCall-ID: fanpub\r\nCSeq: 1 PUBLISH\r\nEvent: presence\r\nExpires: 600\r\nContent-Type: application/pidf+xml\r\nContent-Length: %d\r\n\r\n"
           % (domain, pub.getsockname()[1], domain, domain, len(body))).encode() + body
    t0 = time.time()
    pub.sendto(msg, server)
    got = drain(t0 + 20, want=n)
    t1 = time.time()
    print("fanout watchers=%d notified=%d ms=%.1f" % (n, len(got), (t1 - t0) * 1000))

if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""NOTIFY fan-out: WATCHERS real watchers subscribe to one presentity (u0),
then one PUBLISH changes it; prints the milliseconds from the PUBLISH to the
last watcher's NOTIFY. Every NOTIFY is answered 200.
    sip_fanout.py HOST:PORT DOMAIN [WATCHERS] [--tls] [--password-prefix P]
Each watcher has its own UDP socket, or with --tls its own TLS connection (as
desk phones each hold one). With --password-prefix every request answers the
server's 401 with the digest of password P<user> (e.g. pw-w17); the time then
runs from the answered PUBLISH, the one that changes the state.
Over UDP a SUBSCRIBE left unanswered is sent again, as a phone's transaction
does (RFC 3261 Timer E: after 0.5 s, doubling to 4 s, for up to 32 s): a busy
server's socket may drop some of the burst of 1,000. The PUBLISH goes out
when every watcher was answered (or the 32 s are over: the line printed says
how many were)."""
import selectors, socket, ssl, sys, time

import sipbench


class Phone:
    def __init__(self, server, transport, ctx, sel):
        self.server, self.transport = server, transport
        if transport == "udp":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind(("127.0.0.1", 0))
            self.sock.setblocking(False)
        else:
            self.sock = sipbench.connect(server, transport, ctx)
            self.framer = sipbench.Framer()
        self.port = self.sock.getsockname()[1]
        self.requests = {}  # Call-ID → (method, uri, user, message maker)
        self.ok = False
        self.last = b""  # the request a retransmission sends again
        sel.register(self.sock, selectors.EVENT_READ, self)

    def send(self, data):
        if self.transport == "udp":
            self.sock.sendto(data, self.server)
        else:
            sipbench.send_all(self.sock, data)

    def messages(self):
        if self.transport == "udp":
            out = []
            while True:
                try:
                    data, _ = self.sock.recvfrom(65535)
                except BlockingIOError:
                    return out
                out.append(data)
        data = sipbench.recv_all(self.sock)
        return self.framer.feed(data) if data else []

    def via(self, branch):
        if self.transport == "udp":
            return "SIP/2.0/UDP 127.0.0.1:%d;branch=%s;rport" % (self.port, branch)
        # alias (RFC 5923): reach this phone back over this connection.
        return "SIP/2.0/%s 127.0.0.1:%d;branch=%s;rport;alias" % (self.transport.upper(), self.port, branch)

    def contact(self, user):
        suffix = "" if self.transport == "udp" else ";transport=%s" % self.transport
        return "<sip:%s@127.0.0.1:%d%s>" % (user, self.port, suffix)


# Call-IDs, branches and the tuple id carry the run's token: a server measured
# again within its transaction lifetime must not take this run's requests for
# the last's, and a server that composes a person's live publications (an
# earlier run's is still live) must not merge this tuple away as the same.
def subscribe(p, i, domain, token, cseq=1, auth=""):
    return ("SUBSCRIBE sip:u0@%s SIP/2.0\r\nVia: %s\r\nMax-Forwards: 70\r\nFrom: <sip:w%d@%s>;tag=f%d\r\n"
            "To: <sip:u0@%s>\r\nCall-ID: %s-%d\r\nCSeq: %d SUBSCRIBE\r\n%sContact: %s\r\nEvent: presence\r\n"
            "Expires: 600\r\nContent-Length: 0\r\n\r\n"
            % (domain, p.via("z9hG4bK%s-%d-%d" % (token, i, cseq)), i, domain, i, domain, token, i, cseq, auth,
               p.contact("w%d" % i))).encode()


def publish(p, domain, token, cseq=1, auth=""):
    body = ('<?xml version="1.0"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:u0@%s"><tuple id="%s">'
            '<status><basic>open</basic></status><note>%s</note></tuple></presence>' % (domain, token, token)).encode()
    return ("PUBLISH sip:u0@%s SIP/2.0\r\nVia: %s\r\nMax-Forwards: 70\r\nFrom: <sip:u0@%s>;tag=fp\r\n"
            "To: <sip:u0@%s>\r\nCall-ID: %s-pub\r\nCSeq: %d PUBLISH\r\n%sEvent: presence\r\nExpires: 600\r\n"
            "Content-Type: application/pidf+xml\r\nContent-Length: %d\r\n\r\n"
            % (domain, p.via("z9hG4bK%s-pub-%d" % (token, cseq)), domain, domain, token, cseq, auth,
               len(body))).encode() + body


def answer_notify(p, text):
    hs = sipbench.headers(text)
    p.send(("SIP/2.0 200 OK\r\n" + "".join("%s: %s\r\n" % (k, hs.get(k.lower(), ""))
                                          for k in ("Via", "From", "To", "Call-ID", "CSeq"))
            + "Content-Length: 0\r\n\r\n").encode())


def main():
    args = [a for a in sys.argv[1:]]
    transport = "tls" if "--tls" in args else "udp"
    prefix = None
    if "--password-prefix" in args:
        k = args.index("--password-prefix")
        prefix = args[k + 1]
        del args[k:k + 2]
    args = [a for a in args if a != "--tls"]
    if len(args) < 2:
        sys.exit(__doc__)
    host, port = args[0].rsplit(":", 1)
    server, domain = (host, int(port)), args[1]
    n = int(args[2]) if len(args) > 2 else 1000
    ctx = sipbench.tls_context() if transport == "tls" else None
    sel = selectors.DefaultSelector()
    phones, refused = [], 0
    for _ in range(n):
        try:
            phones.append(Phone(server, transport, ctx, sel))
        except (OSError, ssl.SSLError):
            # A server that refuses connections is measured with the watchers
            # it took, and says how many it refused.
            refused += 1
    watchers = set(phones)
    got = set()
    # This run's note: a NOTIFY of an earlier run's state (the same server
    # is measured several times) is not this PUBLISH's.
    token = "fanout-%x" % time.time_ns()
    # What a 401 is answered with: call-id → (user, uri, method, maker(cseq, auth)).
    pending = {}

    def drain(until, want=None):
        while time.time() < until and (want is None or len(got) < want):
            for key, _ in sel.select(0.05):
                p = key.data
                for data in p.messages():
                    text = data.decode("utf-8", "replace")
                    if text.startswith("NOTIFY"):
                        answer_notify(p, text)
                        body = data.partition(b"\r\n\r\n")[2]
                        # The publisher may have the port of an earlier
                        # run's watcher, and be sent its NOTIFY.
                        if b"<note" in body and token.encode() in body and p in watchers:
                            got.add(p)
                        continue
                    code = sipbench.status(text)
                    call = sipbench.headers(text).get("call-id")
                    if code == 401 and prefix is not None and call in pending:
                        user, uri, method, make = pending.pop(call)
                        auth = sipbench.authorization(sipbench.md5_challenge(text), method, uri, user, prefix + user)
                        p.last = make(2, "Authorization: %s\r\n" % auth)
                        p.send(p.last)
                    elif code is not None and 200 <= code < 300:
                        p.ok = True

    for i, p in enumerate(list(phones)):
        pending["%s-%d" % (token, i)] = ("w%d" % i, "sip:u0@%s" % domain, "SUBSCRIBE",
                                         lambda cseq, auth, p=p, i=i: subscribe(p, i, domain, token, cseq, auth))
        try:
            p.last = subscribe(p, i, domain, token)
            p.send(p.last)
        except (OSError, ssl.SSLError):
            # The server closed the connection it had accepted: refused too.
            watchers.discard(p)
            phones.remove(p)
            refused += 1
        if i % 100 == 99:
            drain(time.time() + 0.05)
    drain(time.time() + 3)
    if transport == "udp":
        interval, give_up = 0.5, time.time() + 32
        while time.time() < give_up:
            late = [p for p in phones if not p.ok]
            if not late:
                break
            for p in late:
                p.send(p.last)
            drain(time.time() + interval)
            interval = min(interval * 2, 4)
    subscribed = sum(1 for p in phones if p.ok)
    try:
        pub = Phone(server, transport, ctx, sel)
    except (OSError, ssl.SSLError) as e:
        # Nothing to time: said so in the figure's place.
        print("sip_fanout: the publisher could not connect: %s" % e, file=sys.stderr)
        print("fanout watchers=%d subscribed=%d refused=%d notified=0 ms=none" % (n, subscribed, refused))
        return
    if prefix is not None:
        # The 401 round trip first: the time below is the fan-out's.
        pub.send(publish(pub, domain, token))
        challenge, until = None, time.time() + 5
        while challenge is None and time.time() < until:
            for key, _ in sel.select(0.05):
                for data in key.data.messages():
                    text = data.decode("utf-8", "replace")
                    if key.data is pub and sipbench.status(text) == 401:
                        challenge = sipbench.md5_challenge(text)
                    elif text.startswith("NOTIFY"):
                        answer_notify(key.data, text)
        if challenge is None:
            sys.exit("sip_fanout: the PUBLISH was not challenged")
        auth = "Authorization: %s\r\n" % sipbench.authorization(challenge, "PUBLISH", "sip:u0@%s" % domain,
                                                                 "u0", prefix + "u0")
        msg = publish(pub, domain, token, 2, auth)
    else:
        msg = publish(pub, domain, token)
    t0 = time.time()
    pub.send(msg)
    drain(t0 + 20, want=len(phones))
    t1 = time.time()
    print("fanout watchers=%d subscribed=%d refused=%d notified=%d ms=%.1f"
          % (n, subscribed, refused, len(got), (t1 - t0) * 1000))


if __name__ == "__main__":
    main()

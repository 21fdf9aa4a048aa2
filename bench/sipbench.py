#!/usr/bin/env python3
"""What the SIP benchmarks' Python phones share: digest answers (MD5,
qop=auth, as Debian's SIPp gives them), SIP over TCP or TLS framed by
Content-Length, and a readiness probe that fails when a server does not
answer, so that a benchmark never measures a server that is not there.
    sipbench.py ping HOST:PORT [udp|tcp|tls] [SECONDS]
exits 0 once an OPTIONS is answered 200 (tried until SECONDS, default 20)."""
import hashlib, os, re, socket, ssl, sys, time


def headers(text):
    """The first value of each header, by lower-case name."""
    hs = {}
    for line in text.split("\r\n")[1:]:
        if not line:
            break
        k, sep, v = line.partition(":")
        if sep:
            hs.setdefault(k.strip().lower(), v.strip())
    return hs


def status(text):
    """The status code of a response, None for a request."""
    m = re.match(r"SIP/2\.0 (\d{3}) ", text)
    return int(m.group(1)) if m else None


def md5_challenge(text):
    """The MD5 digest challenge of a 401 (a server may offer others first)."""
    offers = [line.partition(":")[2].strip() for line in text.split("\r\n")
              if line.lower().startswith("www-authenticate:")]
    md5 = [c for c in offers if not re.search(r"(?i)algorithm=\"?(?!md5\b)", c)]
    return (md5 or offers or [""])[0]


def authorization(challenge, method, uri, user, password):
    """The Authorization value answering a WWW-Authenticate `challenge`
    (MD5; qop=auth when offered) for a request to `uri`."""
    params = {k.lower(): a or b for k, a, b in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]*))', challenge)}
    realm, nonce = params.get("realm", ""), params.get("nonce", "")
    md5 = lambda s: hashlib.md5(s.encode()).hexdigest()
    ha1 = md5("%s:%s:%s" % (user, realm, password))
    ha2 = md5("%s:%s" % (method, uri))
    out = 'Digest username="%s", realm="%s", nonce="%s", uri="%s", algorithm=MD5' % (user, realm, nonce, uri)
    if "auth" in params.get("qop", "").split(","):
        cnonce, nc = os.urandom(8).hex(), "00000001"
        out += ', qop=auth, nc=%s, cnonce="%s", response="%s"' % (
            nc, cnonce, md5("%s:%s:%s:%s:auth:%s" % (ha1, nonce, nc, cnonce, ha2)))
    else:
        out += ', response="%s"' % md5("%s:%s:%s" % (ha1, nonce, ha2))
    if "opaque" in params:
        out += ', opaque="%s"' % params["opaque"]
    return out


def tls_context():
    """A client context that takes the benchmark's self-signed certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def connect(server, transport, ctx=None, timeout=10):
    """A connected TCP or TLS socket (handshake done), left non-blocking."""
    s = socket.create_connection(server, timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if transport == "tls":
        s = (ctx or tls_context()).wrap_socket(s)
    s.setblocking(False)
    return s


class Framer:
    """Splits a byte stream into SIP messages by Content-Length."""

    def __init__(self):
        self.buf = b""

    def feed(self, data):
        self.buf += data
        out = []
        while True:
            self.buf = self.buf.lstrip(b"\r\n")  # keep-alives
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return out
            head = self.buf[:end].decode("utf-8", "replace")
            m = re.search(r"(?im)^(?:content-length|l)\s*:\s*(\d+)", head)
            total = end + 4 + (int(m.group(1)) if m else 0)
            if len(self.buf) < total:
                return out
            out.append(self.buf[:total])
            self.buf = self.buf[total:]


def recv_all(sock):
    """Everything readable now from a non-blocking stream socket ("" at EOF)."""
    chunks = []
    while True:
        try:
            data = sock.recv(65536)
        except (BlockingIOError, ssl.SSLWantReadError):
            break
        if not data:
            if not chunks:
                return None
            break
        chunks.append(data)
    return b"".join(chunks)


def send_all(sock, data, seconds=10):
    """Sends all of `data` on a non-blocking stream socket."""
    until = time.time() + seconds
    view = memoryview(data)
    while view:
        try:
            n = sock.send(view)
            view = view[n:]
        except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
            if time.time() > until:
                raise TimeoutError("peer does not read")
            time.sleep(0.001)


def ping(server, transport, seconds):
    """True once an OPTIONS over `transport` is answered 200 within `seconds`."""
    until = time.time() + seconds
    while time.time() < until:
        try:
            if transport == "udp":
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind(("127.0.0.1", 0))
            else:
                s = connect(server, transport, timeout=2)
            port = s.getsockname()[1]
            msg = ("OPTIONS sip:%s:%d SIP/2.0\r\nVia: SIP/2.0/%s 127.0.0.1:%d;branch=z9hG4bKping%d;rport\r\n"
                   "Max-Forwards: 70\r\nFrom: <sip:ping@127.0.0.1>;tag=p\r\nTo: <sip:%s:%d>\r\n"
                   "Call-ID: ping%d@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
                   % (server[0], server[1], transport.upper(), port, port, server[0], server[1], port)).encode()
            if transport == "udp":
                s.sendto(msg, server)
                s.settimeout(1)
                data, _ = s.recvfrom(65535)
            else:
                send_all(s, msg)
                framer, got, deadline = Framer(), [], time.time() + 2
                while not got and time.time() < deadline:
                    data = recv_all(s)
                    if data is None:
                        break
                    got = framer.feed(data)
                    time.sleep(0.01)
                data = got[0] if got else b""
            s.close()
            if status(data.decode("utf-8", "replace")) == 200:
                return True
        except (OSError, ssl.SSLError, TimeoutError):
            pass
        time.sleep(0.2)
    return False


def main():
    if len(sys.argv) < 3 or sys.argv[1] != "ping":
        sys.exit(__doc__)
    host, port = sys.argv[2].rsplit(":", 1)
    transport = sys.argv[3] if len(sys.argv) > 3 else "udp"
    seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 20
    if not ping((host, int(port)), transport, seconds):
        sys.exit("no answer to OPTIONS over %s at %s:%s within %g s" % (transport, host, port, seconds))


if __name__ == "__main__":
    main()

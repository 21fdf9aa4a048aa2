#!/usr/bin/env python3
"""A small OAuth 2.0 provider for the tests: issues the HS256 JWT access
tokens the test Dovecot accepts (scripts/oauth-token.py's minting, with the
key in DIR/dovecot/oauth2/secret), on loopback only, in memory.

    scripts/oauth-endpoint.py [--port N] [--dir DIR] [--lifetime SECONDS]
                              [--interval SECONDS] [--client ID:SECRET:MAILBOX]...
                              [--service-account EMAIL:PUBLIC_KEY_PEM]...

Prints "listening on PORT" once it serves. Endpoints (form-encoded POSTs,
JSON answers as RFC 6749 §5 says):

  POST /device      RFC 8628 device authorization (client_id, scope)
  POST /verify      what the person does in the browser: user_code, user
                    (the mail address signing in), and deny=1 to refuse
  GET  /authorize   authorization code + PKCE (S256 only); the test names
                    the person with user=ADDRESS (as if signed in) and gets
                    a 302 to redirect_uri?code=..&state=.. (deny=1: the
                    person declined, redirect_uri?error=access_denied)
  POST /token       grant_type device_code, refresh_token (rotated: a used
                    refresh token is refused, and its whole family with it),
                    client_credentials (HTTP Basic or form secret, for the
                    clients given with --client; the token is MAILBOX's),
                    authorization_code (the PKCE verifier checked),
                    JWT bearer (RFC 7523, a Google service account's RS256
                    assertion checked with openssl against its public key,
                    its aud this endpoint; the token is the sub's)
  POST /revoke      RFC 7009: forgets a refresh token (and its family)
  POST /lifetime    seconds=N: access tokens issued from now on live N s

Access tokens live --lifetime seconds (default 3600). A device code is polled
at --interval (default 5); polling faster is answered slow_down.
"""

import argparse
import base64
import hashlib
import importlib.util
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("oauth_token", os.path.join(HERE, "oauth-token.py"))
oauth_token = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(oauth_token)

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEVICE_CODE_LIFE = 600


class Provider:
    """Everything the endpoint remembers, behind one lock."""

    def __init__(self, secret, lifetime, interval, clients, service_accounts):
        self.secret = secret
        self.service_accounts = service_accounts  # email -> public key PEM path
        self.lifetime = lifetime
        self.interval = interval
        self.clients = clients  # id -> (secret, mailbox)
        self.lock = threading.Lock()
        self.devices = {}  # device_code -> dict
        self.codes = {}  # authorization code -> dict
        self.refresh = {}  # refresh token -> (user, family, client_id)
        self.revoked_families = set()

    def access_token(self, user):
        domain = user.rsplit("@", 1)[-1]
        return oauth_token.mint(user, self.secret, f"https://login.{domain}", self.lifetime)

    def tokens(self, user, client_id, family=None, with_refresh=True):
        answer = {
            "access_token": self.access_token(user),
            "token_type": "bearer",
            "expires_in": self.lifetime,
        }
        if with_refresh:
            family = family or secrets.token_hex(8)
            token = "rt-" + secrets.token_urlsafe(24)
            self.refresh[token] = (user, family, client_id)
            answer["refresh_token"] = token
        return answer


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def rs256_valid(public_key_pem, signed, signature):
    """Whether `signature` is an RS256 signature of `signed` (openssl)."""
    with tempfile.NamedTemporaryFile() as sig:
        sig.write(signature)
        sig.flush()
        done = subprocess.run(
            ["openssl", "dgst", "-sha256", "-verify", public_key_pem, "-signature", sig.name],
            input=signed,
            capture_output=True,
        )
    return done.returncode == 0


def b64url_sha256(text):
    digest = hashlib.sha256(text.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class Handler(BaseHTTPRequestHandler):
    provider = None  # set in main

    def log_message(self, fmt, *args):
        sys.stderr.write("oauth-endpoint: " + (fmt % args) + "\n")

    def answer(self, status, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def error(self, code, description="", status=400):
        self.answer(status, {"error": code, "error_description": description})

    def form(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        return {k: v[0] for k, v in urllib.parse.parse_qs(body).items()}

    def basic_client(self):
        """(client_id, secret) from an HTTP Basic header, if any."""
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Basic "):
            return None, None
        try:
            pair = base64.b64decode(auth[6:]).decode()
        except ValueError:
            return None, None
        client_id, _, secret = pair.partition(":")
        return urllib.parse.unquote_plus(client_id), urllib.parse.unquote_plus(secret)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/authorize":
            return self.error("not_found", url.path, 404)
        q = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        if q.get("response_type") != "code" or q.get("code_challenge_method") != "S256":
            return self.error("invalid_request", "response_type=code with S256 PKCE only")
        if not q.get("user") or not q.get("redirect_uri") or not q.get("code_challenge"):
            return self.error("invalid_request", "user, redirect_uri and code_challenge")
        if q.get("deny") == "1":
            # The person said no on the consent page (RFC 6749 §4.1.2.1).
            params = {"error": "access_denied", "error_description": "the user declined"}
            if "state" in q:
                params["state"] = q["state"]
            return self.redirect(q["redirect_uri"] + "?" + urllib.parse.urlencode(params))
        code = secrets.token_urlsafe(16)
        p = self.provider
        with p.lock:
            p.codes[code] = {
                "user": q["user"],
                "client_id": q.get("client_id"),
                "redirect_uri": q["redirect_uri"],
                "challenge": q["code_challenge"],
            }
        params = {"code": code}
        if "state" in q:
            params["state"] = q["state"]
        self.redirect(q["redirect_uri"] + "?" + urllib.parse.urlencode(params))

    def redirect(self, target):
        self.send_response(302)
        self.send_header("Location", target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        form = self.form()
        routes = {
            "/device": self.device,
            "/verify": self.verify,
            "/token": self.token,
            "/revoke": self.revoke,
            "/lifetime": self.set_lifetime,
        }
        route = routes.get(path)
        if route is None:
            return self.error("not_found", path, 404)
        route(form)

    def device(self, form):
        p = self.provider
        device_code = secrets.token_urlsafe(24)
        user_code = "-".join(secrets.token_hex(2).upper() for _ in range(2))
        host = self.headers.get("Host", "127.0.0.1")
        with p.lock:
            p.devices[device_code] = {
                "user_code": user_code,
                "client_id": form.get("client_id"),
                "expires": time.time() + DEVICE_CODE_LIFE,
                "user": None,
                "denied": False,
                "last_poll": 0.0,
                "interval": p.interval,
            }
        verify = f"http://{host}/verify"
        self.answer(200, {
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": verify,
            "verification_uri_complete": f"{verify}?user_code={user_code}",
            "expires_in": DEVICE_CODE_LIFE,
            "interval": p.interval,
        })

    def verify(self, form):
        p = self.provider
        with p.lock:
            for device in p.devices.values():
                if device["user_code"] == form.get("user_code"):
                    if form.get("deny"):
                        device["denied"] = True
                    else:
                        device["user"] = form.get("user")
                    return self.answer(200, {"approved": not form.get("deny")})
        self.error("invalid_request", "no such user_code", 404)

    def token(self, form):
        grant = form.get("grant_type")
        handlers = {
            DEVICE_GRANT: self.device_grant,
            "refresh_token": self.refresh_grant,
            "client_credentials": self.client_grant,
            "authorization_code": self.code_grant,
            JWT_BEARER: self.jwt_grant,
        }
        handler = handlers.get(grant)
        if handler is None:
            return self.error("unsupported_grant_type", str(grant))
        with self.provider.lock:
            handler(form)

    def device_grant(self, form):
        p = self.provider
        device = p.devices.get(form.get("device_code"))
        if device is None:
            return self.error("invalid_grant", "unknown device_code")
        now = time.time()
        if now > device["expires"]:
            return self.error("expired_token")
        if device["denied"]:
            del p.devices[form["device_code"]]
            return self.error("access_denied")
        if device["user"] is None:
            # RFC 8628 §3.5: polling faster than the interval slows the client down.
            too_fast = now - device["last_poll"] < device["interval"] - 0.2
            device["last_poll"] = now
            if too_fast:
                device["interval"] += 5
                return self.error("slow_down")
            return self.error("authorization_pending")
        del p.devices[form["device_code"]]
        self.answer(200, p.tokens(device["user"], device["client_id"]))

    def refresh_grant(self, form):
        p = self.provider
        known = p.refresh.pop(form.get("refresh_token"), None)
        if known is None:
            return self.error("invalid_grant", "the refresh token is not valid (used, revoked or unknown)")
        user, family, client_id = known
        if family in p.revoked_families:
            return self.error("invalid_grant", "the sign-in was revoked")
        self.answer(200, p.tokens(user, client_id, family))

    def client_grant(self, form):
        p = self.provider
        client_id, secret = self.basic_client()
        client_id = client_id or form.get("client_id")
        secret = secret or form.get("client_secret")
        known = p.clients.get(client_id)
        if known is None or known[0] != secret:
            return self.error("invalid_client", "unknown client or wrong secret", 401)
        self.answer(200, p.tokens(known[1], client_id, with_refresh=False))

    def code_grant(self, form):
        p = self.provider
        grant = p.codes.pop(form.get("code"), None)
        if grant is None:
            return self.error("invalid_grant", "unknown or used code")
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return self.error("invalid_grant", "redirect_uri differs")
        verifier = form.get("code_verifier") or ""
        if b64url_sha256(verifier) != grant["challenge"]:
            return self.error("invalid_grant", "PKCE verifier does not match")
        self.answer(200, p.tokens(grant["user"], grant["client_id"]))

    def jwt_grant(self, form):
        p = self.provider
        try:
            header_b64, claims_b64, signature_b64 = form.get("assertion", "").split(".")
            claims = json.loads(unb64url(claims_b64))
            header = json.loads(unb64url(header_b64))
        except ValueError:
            return self.error("invalid_grant", "not a JWT")
        public_key = p.service_accounts.get(claims.get("iss"))
        if public_key is None or header.get("alg") != "RS256":
            return self.error("invalid_client", "unknown service account")
        signed = f"{header_b64}.{claims_b64}".encode()
        if not rs256_valid(public_key, signed, unb64url(signature_b64)):
            return self.error("invalid_grant", "invalid JWT signature")
        host = self.headers.get("Host", "127.0.0.1")
        if claims.get("aud") != f"http://{host}/token":
            return self.error("invalid_grant", "aud is not this token endpoint")
        if not claims.get("exp", 0) > time.time() or not claims.get("sub"):
            return self.error("invalid_grant", "expired, or no sub")
        self.answer(200, p.tokens(claims["sub"], claims["iss"], with_refresh=False))

    def revoke(self, form):
        p = self.provider
        with p.lock:
            known = p.refresh.pop(form.get("token"), None)
            if known is not None:
                p.revoked_families.add(known[1])
        # RFC 7009 §2.2: 200 whether or not the token was known.
        self.answer(200, {})

    def set_lifetime(self, form):
        with self.provider.lock:
            self.provider.lifetime = int(form.get("seconds", "3600"))
        self.answer(200, {"lifetime": self.provider.lifetime})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--dir", default=os.environ.get("MAILPRESENCE_MAIL_DIR", "/tmp/mailpresence-mail")
    )
    parser.add_argument("--lifetime", type=int, default=3600)
    parser.add_argument("--interval", type=int, default=5)
    parser.add_argument("--client", action="append", default=[], metavar="ID:SECRET:MAILBOX")
    parser.add_argument(
        "--service-account", action="append", default=[], metavar="EMAIL:PUBLIC_KEY_PEM"
    )
    args = parser.parse_args()
    key_file = os.path.join(args.dir, "dovecot", "oauth2", "secret")
    if os.path.exists(key_file):
        with open(key_file, "rb") as f:
            secret = base64.b64decode(f.read().strip())
    else:
        # No test Dovecot to share a key with (the apps' sign-in tests need
        # only the token endpoint): its access tokens open no mailbox.
        print(f"oauth-endpoint: no {key_file}; tokens signed with a key of its own", file=sys.stderr)
        secret = secrets.token_bytes(32)
    clients = {}
    for spec in args.client:
        client_id, client_secret, mailbox = spec.split(":", 2)
        clients[client_id] = (client_secret, mailbox)
    service_accounts = dict(spec.split(":", 1) for spec in args.service_account)
    Handler.provider = Provider(secret, args.lifetime, args.interval, clients, service_accounts)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())

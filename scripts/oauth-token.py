#!/usr/bin/env python3
"""Mints an OAuth 2.0 access token (a JWT, HS256) that the test mail servers'
Dovecot accepts for XOAUTH2 and OAUTHBEARER: signed with the key that
scripts/mail-servers.sh made in DIR/dovecot/oauth2/secret. Prints the token.

    scripts/oauth-token.py ADDRESS [--dir DIR] [--expires-in SECONDS]

DIR defaults to $MAILPRESENCE_MAIL_DIR, else /tmp/mailpresence-mail. A
negative --expires-in gives a token that expired that long ago.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import time


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(address: str, secret: bytes, issuer: str, expires_in: int) -> str:
    now = int(time.time())
    header = {"alg": "HS256", "typ": "JWT"}
    claims = {
        "iss": issuer,
        "sub": address,
        "email": address,
        "iat": now - 120,
        "nbf": now - 120,
        "exp": now + expires_in,
    }
    signing_input = ".".join(
        b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("address")
    parser.add_argument(
        "--dir", default=os.environ.get("MAILPRESENCE_MAIL_DIR", "/tmp/mailpresence-mail")
    )
    parser.add_argument("--expires-in", type=int, default=3600)
    args = parser.parse_args()
    with open(os.path.join(args.dir, "dovecot", "oauth2", "secret"), "rb") as f:
        secret = base64.b64decode(f.read().strip())
    domain = args.address.rsplit("@", 1)[-1]
    print(mint(args.address, secret, f"https://login.{domain}", args.expires_in))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Customer.io's webhook signature, for checks that must time their own requests (the binary's
`cio-relay send` signs everything else)."""
import hashlib
import hmac
import time


def customerio_headers(secret, body, timestamp=None):
    """The X-CIO-Timestamp and X-CIO-Signature headers of `body` (bytes) under `secret` (text):
    HMAC-SHA256 of `v0:<timestamp>:<body>`, in hex."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"X-CIO-Timestamp": stamp, "X-CIO-Signature": signature}

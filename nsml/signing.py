"""NCP API Gateway signature v2 (see ../shared/nsml-api.md). Pure: imports nothing from Django."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time


def timestamp_ms(now: float | None = None) -> str:
    """Milliseconds since the Unix epoch, as the gateway expects it in `x-ncp-apigw-timestamp`."""
    return str(int((time.time() if now is None else now) * 1000))


def sign_request(method: str, target: str, timestamp: str, access_key: str, secret_key: str) -> str:
    """Signature over `METHOD TARGET\\nTIMESTAMP\\nACCESS_KEY`; `target` includes `/nsml/v1` and any query."""
    message = f"{method.upper()} {target}\n{timestamp}\n{access_key}"
    digest = hmac.new(secret_key.encode(), message.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_matches(expected: str, given: str) -> bool:
    """Constant-time comparison, so a verifier leaks nothing through timing."""
    return hmac.compare_digest(expected.encode(), given.encode())

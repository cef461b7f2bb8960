"""Check a `--address HOST:PORT` before handing it to `ray.init`.

`ray.init` retries an address that does not answer for minutes (measured here: over 5 minutes
for `127.0.0.1:1`, 80 s for a port held by a plain HTTP server) before it gives up. A Ray head's
GCS is a gRPC (HTTP/2) server, so one TCP connection tells the three cases apart in seconds:
nothing listens (refused / unreachable), something that is not Ray holds the port (no HTTP/2
SETTINGS frame comes back), or a GCS answers.
"""

from __future__ import annotations

import os
import socket

from raytrain.errors import RaytrainError

#: The HTTP/2 client preface and an empty SETTINGS frame; a gRPC server answers with its own
#: SETTINGS frame (9-byte header, frame type 0x04 at byte 3) before any request.
_H2_HELLO = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
_SETTINGS = 0x04
TIMEOUT_S = 5.0


def check_address(address: str | None, timeout: float = TIMEOUT_S) -> None:
    """Raise RaytrainError unless a Ray GCS answers at `address` (HOST:PORT).

    'auto', 'local', None and `ray://` client addresses are left to Ray; so are clusters with
    TLS (`RAY_USE_TLS`), where a plaintext hello is not answered.
    """
    if not address or address in ("auto", "local") or "://" in address:
        return
    if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):
        return
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise RaytrainError(
            f"--address {address}: expected HOST:PORT (the head's GCS port, 6379 by default), "
            f"'auto' or ray://HOST:PORT"
        )
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(_H2_HELLO)
            head = s.recv(9)
    except OSError as e:
        why = e.strerror or type(e).__name__
        raise RaytrainError(
            f"--address {address}: no Ray cluster answers there ({why}); start one with "
            f"`ray start --head` or check the host and port"
        ) from None
    if len(head) < 4 or head[3] != _SETTINGS:
        raise RaytrainError(
            f"--address {address}: the port is in use by something that is not a Ray "
            f"cluster's GCS; give the head's GCS port (`ray start --head --port`, 6379 by default)"
        )

"""Loopback ports for the processes tests, the demo and the benchmarks start.

Why not ``bind(("127.0.0.1", 0))``: the kernel hands that out of its ephemeral
range (``net.ipv4.ip_local_port_range``, 32768-60999 by default), the same range
it draws the local port of every *outgoing* connection from.  Between our
picking a port and the child process binding it, any client on the machine (the
API server calling a webhook, a kubernetes client, a peer's informer) can take
it, and the child exits with "Address already in use".  CI saw exactly that.

So ports come from below the ephemeral range, where no outgoing connection lands,
each checked bindable and never handed out twice by this process.  Only a
listener from another program that happens to choose the same port could still
collide, which is what the bind check catches as far as it can.
"""

from __future__ import annotations

import random
import socket
import threading
from pathlib import Path

# The floor keeps clear of well-known service ports.
_FLOOR = 10_000
_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_ATTEMPTS = 200

_lock = threading.Lock()
_handed_out: set[int] = set()


def free_port() -> int:
    """A port on 127.0.0.1 that is free now and outside the kernel's ephemeral range."""
    low, high = _quiet_range()
    with _lock:
        if high - low >= 100:
            for _ in range(_ATTEMPTS):
                port = random.randint(low, high)
                if port not in _handed_out and _bindable(port):
                    _handed_out.add(port)
                    return port
        # No quiet range on this machine (or it is full): take the kernel's pick.
        port = _kernel_pick()
        _handed_out.add(port)
        return port


def _quiet_range() -> tuple[int, int]:
    """The ports below the ephemeral range, or an empty range when it cannot be read."""
    try:
        ephemeral_low = int(_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return (0, -1)
    return (_FLOOR, ephemeral_low - 1)


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # The same option the servers set, so a port left in TIME_WAIT counts as free.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _kernel_pick() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

"""The test run is offline, and proves it: the network guard fires, in this process and in a kernel.

``conftest.py`` installs ``tools/offline/netguard.py`` here and puts its
folder on ``PYTHONPATH`` so that every notebook kernel installs it too. These
tests show that it blocks what it must (a remote address, a remote name, a
UDP datagram) and lets through what the book needs (loopback, Unix sockets).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading

import pytest

import nbtools
import netguard

REMOTE = ("192.0.2.1", 80)   # TEST-NET-1: documentation-only, never routed


def test_guard_is_installed_in_the_test_process():
    assert netguard.installed()
    assert str(nbtools.OFFLINE_DIR) in os.environ["PYTHONPATH"].split(os.pathsep)


@pytest.mark.parametrize("connect", [
    lambda: socket.create_connection(REMOTE, timeout=1),
    lambda: socket.socket().connect_ex(REMOTE),
    lambda: socket.socket(socket.AF_INET6).connect(("2001:db8::1", 443)),
    lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("192.0.2.1", 53)),
    lambda: socket.getaddrinfo("pypi.org", 443),
    lambda: socket.create_connection(("huggingface.co", 443), timeout=1),
], ids=["create_connection", "connect_ex", "ipv6", "udp-sendto", "getaddrinfo", "by-name"])
def test_guard_blocks_every_way_off_the_machine(connect):
    with pytest.raises(netguard.NetworkAccessError, match="network access blocked"):
        connect()


def test_guard_lets_loopback_and_unix_sockets_through(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    threading.Thread(target=lambda: server.accept()[0].sendall(b"ok"), daemon=True).start()
    with socket.create_connection(server.getsockname(), timeout=5) as c:
        assert c.recv(2) == b"ok"
    assert socket.getaddrinfo("localhost", 80)
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(str(tmp_path / "s"))
    unix.close()
    server.close()


def test_guard_is_active_in_a_fresh_python_process():
    """Subprocesses (a torchrun worker, a notebook kernel) inherit it through PYTHONPATH."""
    code = ("import socket\n"
            "try:\n"
            f"    socket.create_connection({REMOTE!r}, timeout=1)\n"
            "except Exception as e:\n"
            "    print(type(e).__name__)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "NetworkAccessError", out.stderr


def test_guard_fires_inside_a_notebook_kernel(tmp_path):
    """A kernel started as nbval starts one (conftest.py) refuses a remote connection."""
    km, kc = nbtools.start_kernel("python3", cwd=str(tmp_path))
    try:
        reply = kc.execute_interactive(f"import socket; socket.create_connection({REMOTE!r}, timeout=1)",
                                       timeout=60, output_hook=lambda msg: None)
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "NetworkAccessError", reply["content"]
        assert km.transport == "ipc"   # and the kernel itself listens on no TCP port
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)

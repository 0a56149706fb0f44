"""A guard that makes any connection off this machine fail loudly.

The book promises to run offline: data is generated or shipped by an installed
package, models are trained in the notebooks. The test run proves it rather
than assuming it: ``conftest.py`` calls :func:`install` in the pytest process
and puts this folder on ``PYTHONPATH``, so that ``sitecustomize.py`` installs
the guard in every notebook kernel and every process a notebook starts
(``torchrun`` workers included).

The guard wraps :class:`socket.socket`'s ``connect``, ``connect_ex``,
``sendto`` and ``sendmsg``. Loopback addresses (127.0.0.0/8, ``::1``,
``localhost``) and non-IP families (Unix sockets) pass; anything else raises
:class:`NetworkAccessError`, naming the address and the call. It also wraps
:func:`socket.getaddrinfo`: a host *name* other than ``localhost`` or this
machine's own name is refused before it is resolved, so no DNS query leaves
the machine through Python either.
"""

from __future__ import annotations

import ipaddress
import socket

_ORIGINALS: dict[str, object] = {}


class NetworkAccessError(RuntimeError):
    """Raised on a connection attempt to an address that is not loopback.

    A ``RuntimeError`` rather than an ``OSError``, so that code which quietly
    falls back on a failed download cannot swallow it.
    """


def is_loopback(host: object) -> bool:
    """True for loopback IP literals and ``localhost``; False for every other host."""
    if not isinstance(host, str):
        return False
    name = host.strip("[]").split("%", 1)[0].lower()
    if name in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _check(sock: socket.socket, address: object, call: str) -> None:
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return  # Unix sockets, netlink and friends never leave the machine
    host = address[0] if isinstance(address, tuple) and address else address
    if not is_loopback(host):
        raise NetworkAccessError(
            f"network access blocked: socket.{call}({address!r}) would leave this machine; "
            "the book runs offline (only loopback connections are allowed in the test run)")


def _wrap(name: str, address_index: int):
    original = getattr(socket.socket, name)
    _ORIGINALS[name] = original

    def guarded(self, *args, **kwargs):
        if len(args) > address_index:
            _check(self, args[address_index], name)
        return original(self, *args, **kwargs)

    guarded.__name__ = name
    guarded.__doc__ = original.__doc__
    return guarded


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
        return True
    except ValueError:
        return False


def install() -> None:
    """Install the guard in this process (idempotent)."""
    if _ORIGINALS:
        return
    original_getaddrinfo = socket.getaddrinfo
    _ORIGINALS["getaddrinfo"] = original_getaddrinfo
    own_names = {socket.gethostname().lower()}

    def getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        # Resolving an IP literal, loopback or this machine's own name sends no query
        # off the machine; the connect guard then judges the address itself.
        if name and not (is_loopback(name) or _is_literal(name) or name.lower() in own_names):
            raise NetworkAccessError(
                f"network access blocked: socket.getaddrinfo({name!r}) would look up a remote host; "
                "the book runs offline (only loopback connections are allowed in the test run)")
        return original_getaddrinfo(host, *args, **kwargs)

    getaddrinfo.__doc__ = original_getaddrinfo.__doc__
    socket.getaddrinfo = getaddrinfo
    socket.socket.connect = _wrap("connect", 0)
    socket.socket.connect_ex = _wrap("connect_ex", 0)
    # sendto(data, address) and sendto(data, flags, address): the address is last.
    original_sendto = socket.socket.sendto
    _ORIGINALS["sendto"] = original_sendto

    def sendto(self, data, *rest):
        if rest:
            _check(self, rest[-1], "sendto")
        return original_sendto(self, data, *rest)

    socket.socket.sendto = sendto
    socket.socket.sendmsg = _wrap("sendmsg", 3)


def uninstall() -> None:
    """Restore the original socket methods."""
    for name, original in _ORIGINALS.items():
        setattr(socket if name == "getaddrinfo" else socket.socket, name, original)
    _ORIGINALS.clear()


def installed() -> bool:
    return bool(_ORIGINALS)

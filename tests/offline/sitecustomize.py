"""Socket guard for the offline test: every Python process of the run (Snakemake and each
`python -m pipeline` step) imports this through PYTHONPATH. Any connection to a non-loopback
address is refused and written to $NETWORK_GUARD_LOG, so the test sees every attempt."""
import ipaddress
import os
import socket

_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex
_getaddrinfo = socket.getaddrinfo


def _note(what):
    path = os.environ.get("NETWORK_GUARD_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()} {what}\n")


def _local(address):
    if isinstance(address, (str, bytes)):  # AF_UNIX
        return True
    host = address[0]
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in ("localhost",)


def _guarded_connect(self, address):
    if not _local(address):
        _note(f"connect {address!r}")
        raise OSError(101, "network blocked by the offline test")
    return _connect(self, address)


def _guarded_connect_ex(self, address):
    if not _local(address):
        _note(f"connect_ex {address!r}")
        return 101
    return _connect_ex(self, address)


def _guarded_getaddrinfo(host, *args, **kwargs):
    if host not in (None, "localhost", "127.0.0.1", "::1") and not str(host).startswith("127."):
        _note(f"getaddrinfo {host!r}")
        raise socket.gaierror(socket.EAI_NONAME, "name resolution blocked by the offline test")
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect = _guarded_connect
socket.socket.connect_ex = _guarded_connect_ex
socket.getaddrinfo = _guarded_getaddrinfo

"""Loaded by every Python process the test suite starts (the notebook kernels too) when
XAITUTOR_BLOCK_NETWORK=1: any socket connection to an address outside the loopback
range fails loudly, so a download slipped in by a dependency cannot pass unnoticed."""
import os

import socket

if os.environ.get("XAITUTOR_BLOCK_NETWORK") == "1" and not hasattr(socket.socket.connect, "offline"):
    import ipaddress

    _connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex

    def _allowed(sock, address) -> bool:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return True                                   # Unix sockets: local by nature
        host = address[0]
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return host == "localhost"

    def _refuse(address):
        raise ConnectionRefusedError(
            f"xaitutor tests run offline: a connection to {address!r} was blocked. Course code "
            "must not download anything at run time (ship the data in the package instead).")

    def connect(self, address):
        if not _allowed(self, address):
            _refuse(address)
        return _connect(self, address)

    def connect_ex(self, address):
        if not _allowed(self, address):
            _refuse(address)
        return _connect_ex(self, address)

    connect.offline = connect_ex.offline = True
    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex

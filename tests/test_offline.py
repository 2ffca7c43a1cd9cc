"""The suite runs offline: connections leave only through loopback."""
import os
import socket
import subprocess
import sys

import pytest


def test_a_connection_to_the_internet_is_refused_with_a_clear_message():
    with pytest.raises(ConnectionRefusedError, match="tests run offline"):
        socket.create_connection(("192.0.2.1", 80), timeout=1)     # TEST-NET-1, never routed


def test_loopback_still_works():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname(), timeout=1)
    client.close()
    server.close()


def test_child_processes_and_so_notebook_kernels_are_offline_too():
    code = ("import socket\n"
            "try:\n"
            "    socket.create_connection(('192.0.2.1', 80), timeout=1)\n"
            "except ConnectionRefusedError as e:\n"
            "    print('blocked' if 'offline' in str(e) else 'other')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ), timeout=60)
    assert out.stdout.strip() == "blocked", out.stderr


def test_a_notebook_kernel_is_offline():
    from jupyter_client.manager import start_new_kernel
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        code = ("import socket\n"
                "try:\n"
                "    socket.create_connection(('192.0.2.1', 80), timeout=1); print('connected')\n"
                "except ConnectionRefusedError as e:\n"
                "    print('blocked' if 'offline' in str(e) else 'other')\n")
        seen = []
        kc.execute_interactive(code, timeout=60, output_hook=lambda msg: seen.append(
            msg["content"].get("text", "")) if msg["msg_type"] == "stream" else None)
        assert "".join(seen).strip() == "blocked"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)

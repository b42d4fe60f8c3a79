"""The one probe of the Hugging Face Hub before a loader runs (no minutes of retries without a network)."""

from __future__ import annotations


def test_hub_probe_on_a_loopback_server() -> None:
    """Any HTTP answer means reachable; a closed port gives the reason."""
    import http.server
    import socket
    import threading

    from agriseg.models.hub import hub_unreachable

    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)  # answers 501
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert hub_unreachable(f"http://127.0.0.1:{server.server_address[1]}") is None
    finally:
        server.shutdown()
        server.server_close()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the socket is
    reason = hub_unreachable(f"http://127.0.0.1:{port}", timeout=2)
    assert reason is not None and "refused" in reason.lower()

"""The web demo of the bundled ShapesNet, served on a free port for this package's tests."""

from __future__ import annotations

import threading

import pytest

from keras_caffe.apps.server import DemoApp, make_app, make_server


def start(app: DemoApp):
    """Serve ``app`` from a thread; returns (base URL, stop)."""
    server = make_server(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop():
        server.shutdown()
        server.server_close()
        thread.join(10)

    return f"http://127.0.0.1:{server.server_address[1]}", stop


@pytest.fixture(scope="session")
def demo_app() -> DemoApp:
    return make_app()


@pytest.fixture(scope="session")
def demo_url(demo_app):
    url, stop = start(demo_app)
    yield url
    stop()

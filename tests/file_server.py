"""A loopback HTTP file server for the download tests: ranges, validators and dropped connections on demand.

``server.files`` maps a path to bytes, or to ``(bytes, etag, last_modified)``.
Knobs: ``ranges`` (answer Range requests with 206), ``honour_if_range``
(send the whole file when If-Range names another version, RFC 9110 13.1.5),
``drop_once`` (the first full GET of any file dies halfway), ``drop`` (the
same for one path only) and ``on_drop`` (called right after a drop, e.g. to
publish a new version).  ``server.requests`` records ``{path, range, if_range}``.
"""

from __future__ import annotations

import contextlib
import http.server
import threading
from typing import Iterator


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        srv = self.server
        path = self.path.lstrip("/")
        rng, if_range = self.headers.get("Range"), self.headers.get("If-Range")
        srv.requests.append({"path": path, "range": rng, "if_range": if_range})
        entry = srv.files.get(path)
        if entry is None:
            self.send_error(404)
            return
        data, etag, modified = entry if isinstance(entry, tuple) else (entry, None, None)
        use_range = bool(rng) and srv.ranges
        if use_range and if_range is not None and srv.honour_if_range:
            use_range = if_range in (etag, modified)
        start = int(rng.split("=")[1].split("-")[0]) if use_range else 0
        self.send_response(206 if use_range else 200)
        if use_range:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        if etag:
            self.send_header("ETag", etag)
        if modified:
            self.send_header("Last-Modified", modified)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if start == 0 and (srv.drop_once or srv.drop == path):
            srv.drop_once, srv.drop = False, None
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True   # fewer bytes than Content-Length: the client sees a dropped link
            if srv.on_drop:
                srv.on_drop()
            return
        self.wfile.write(body)


@contextlib.contextmanager
def file_server(prefix: str = "") -> Iterator[http.server.ThreadingHTTPServer]:
    """A running server on 127.0.0.1; ``server.url`` is its base URL (with ``prefix``), stopped on exit."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.files, srv.requests = {}, []
    srv.ranges, srv.honour_if_range, srv.drop_once, srv.drop, srv.on_drop = True, True, False, None, None
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}" + (f"/{prefix}" if prefix else "")
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()

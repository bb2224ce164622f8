"""OHIF's built ``dist/`` served on loopback, with Orthanc's DICOMweb root behind the same origin.

Run inside the test's network namespace (Orthanc listens only there)::

    python -m tests.viewer.site --dist DIST --port 8080 --orthanc 8042

One origin for the viewer and DICOMweb spares OHIF cross-origin requests (Orthanc sends no CORS
headers); the cross-origin isolation headers let OHIF use SharedArrayBuffer as in production.
"""

from __future__ import annotations

import argparse
import http.client
import mimetypes
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

OHIF_VERSION = "3.13.2"  # also in scripts/install_viewer.sh
REPOSITORY = Path(__file__).resolve().parents[2]
OHIF_DIST = REPOSITORY / ".cache" / f"ohif-{OHIF_VERSION}" / "dist"
VIEWER_JS = Path(__file__).resolve().parent / "js"
DICOMWEB = "/dicom-web"
# What OHIF needs to find Orthanc: the DICOMweb data source of its own default config, pointed
# at this origin, and nothing fetched from outside (no study list hints, no CDN).
APP_CONFIG = """window.config = {
  routerBasename: null,
  extensions: [],
  modes: [],
  showStudyList: true,
  maxNumberOfWebWorkers: 2,
  showWarningMessageForCrossOrigin: false,
  showCPUFallbackMessage: false,
  showLoadingIndicator: true,
  strictZSpacingForVolumeViewport: true,
  defaultDataSourceName: 'orthanc',
  investigationalUseDialog: { option: 'never' },
  dataSources: [{
    namespace: '@ohif/extension-default.dataSourcesModule.dicomweb',
    sourceName: 'orthanc',
    configuration: {
      friendlyName: 'Orthanc (test PACS)',
      name: 'orthanc',
      wadoUriRoot: '%(root)s',
      qidoRoot: '%(root)s',
      wadoRoot: '%(root)s',
      qidoSupportsIncludeField: false,
      imageRendering: 'wadors',
      thumbnailRendering: 'wadors',
      enableStudyLazyLoad: true,
      supportsFuzzyMatching: false,
      supportsWildcard: true,
      staticWado: false,
      singlepart: 'bulkdata,video',
      bulkDataURI: { enabled: true, relativeResolution: 'studies' },
      omitQuotationForMultipartRequest: true,
    },
  }],
};
"""


class SiteHandler(BaseHTTPRequestHandler):
    """Static files with the single-page fallback, and DICOMweb forwarded to Orthanc."""

    def __init__(self, *args: object, dist: Path, orthanc_port: int, **kwargs: object) -> None:
        self.dist = dist
        self.orthanc_port = orthanc_port
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path.startswith(DICOMWEB + "/"):
            self._forward()
        elif path == "/app-config.js":
            root = f"http://{self.headers.get('Host', '127.0.0.1')}{DICOMWEB}"
            self._reply(200, (APP_CONFIG % {"root": root}).encode(), "application/javascript")
        else:
            self._static(path)

    def _static(self, path: str) -> None:
        target = (self.dist / path.lstrip("/")).resolve()
        if not target.is_relative_to(self.dist) or not target.is_file():
            target = self.dist / "index.html"  # client-side routes (/viewer?...) are the app's
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if target.suffix == ".wasm":
            kind = "application/wasm"
        self._reply(200, target.read_bytes(), kind)

    def _forward(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.orthanc_port, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() in ("accept", "range")}
        connection.request("GET", self.path, headers=headers)
        response = connection.getresponse()
        body = response.read()
        self._reply(response.status, body, response.getheader("Content-Type", ""))
        connection.close()

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # the browser's own log says what it fetched


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dist", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--orthanc", type=int, required=True, help="Orthanc's HTTP port")
    args = parser.parse_args()
    handler = partial(SiteHandler, dist=args.dist.resolve(), orthanc_port=args.orthanc)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    print(f"OHIF site on 127.0.0.1:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

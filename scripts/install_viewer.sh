#!/usr/bin/env bash
# The viewer side of the tests: OHIF's built viewer from the npm package @ohif/app (pinned
# version and checksum; only its dist/ is used, unpacked into .cache/) and dcmjs for the Node
# check (tests/viewer/js, from its lock file). Needs node and npm; idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

OHIF_VERSION=3.13.2  # also in tests/viewer/site.py
OHIF_INTEGRITY="sha512-WZdxmpmG7rqFgW9ZJLcbgr3XCtLi1KDNPoMaeY5PPe6j4G4fjEjjkycZM6C6Zk2F87BKxFfpq+jd5xXZB9E8EA=="
target=".cache/ohif-${OHIF_VERSION}"

if [ ! -f "${target}/dist/index.html" ]; then
    work="$(mktemp -d)"
    trap 'rm -rf "${work}"' EXIT
    (cd "${work}" && npm pack --silent --json "@ohif/app@${OHIF_VERSION}" > pack.json)
    if ! grep -q "\"${OHIF_INTEGRITY}\"" "${work}/pack.json"; then
        echo "@ohif/app@${OHIF_VERSION}: checksum differs from the pinned one" >&2
        exit 1
    fi
    tar -xzf "${work}/ohif-app-${OHIF_VERSION}.tgz" -C "${work}"
    mkdir -p "${target}"
    rm -rf "${target}/dist"
    mv "${work}/package/dist" "${target}/dist"
fi

(cd tests/viewer/js && npm ci --silent --no-audit --no-fund)

#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian/Ubuntu machine, then run the whole suite:
# system peers (dcmtk, dicom3tools, Orthanc with DICOMweb, PostgreSQL, headless Chromium), a
# virtualenv with the package and its test tools, the OHIF viewer and dcmjs (npm), then ruff,
# mypy and pytest. Run from anywhere; it works in the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -q
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    dcmtk dicom3tools orthanc orthanc-dicomweb postgresql iproute2 \
    chromium chromium-driver fonts-liberation >/dev/null
if ! command -v npm >/dev/null; then
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        nodejs npm >/dev/null
fi
bash scripts/install_viewer.sh

python3 -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install -q --upgrade pip
# Pinned: the CPU build of torch; an unpinned torch pulls gigabytes of CUDA wheels. A machine
# with a local wheel folder holds it as 2.13.0+cpu (no network to PyTorch's index needed).
python -m pip install -q "torch==2.13.0+cpu" 2>/dev/null \
    || python -m pip install -q "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu
python -m pip install -q -e ".[test]"

ruff check .
mypy
python -m pytest "$@"

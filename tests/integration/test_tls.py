"""DICOM TLS: certificates made by the test; TLS peers accepted, plain TCP refused."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import NODE_AE, dcmtk_env, echoscu, find_dcmtk

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("dcmtk")]


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def issue(cwd: Path, name: str, extension: str) -> None:
    """Key and certificate ``name`` signed by the test CA."""
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
            f"{name}.csr", "-subj", f"/CN={name}", cwd=cwd)
    (cwd / f"{name}.ext").write_text(extension)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{name}.crt", "-days", "1", "-extfile", f"{name}.ext",
            cwd=cwd)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    folder = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.crt", "-subj", "/CN=seganypet-test-ca", "-days", "1", cwd=folder)
    issue(folder, "node", "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    issue(folder, "client", "extendedKeyUsage=clientAuth\n")
    return folder


def tls_echo(port: int, pki: Path, *tls: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [find_dcmtk("echoscu"), *tls, "-aec", NODE_AE, "127.0.0.1", str(port)],
        capture_output=True, text=True, env=dcmtk_env(), timeout=60, check=False)


def test_tls_required(start_node, pki: Path, phantom_study) -> None:
    node = start_node(tls={"enabled": True, "cert_file": str(pki / "node.crt"),
                           "key_file": str(pki / "node.key"), "ca_file": str(pki / "ca.crt")})
    assert "(TLS)" in node.log()
    client = ("+tls", str(pki / "client.key"), str(pki / "client.crt"), "+cf", str(pki / "ca.crt"))
    assert tls_echo(node.port, pki, *client).returncode == 0
    assert echoscu(node.port) != 0  # plain TCP refused
    anonymous = tls_echo(node.port, pki, "+tla", "+cf", str(pki / "ca.crt"))
    assert anonymous.returncode != 0  # a client certificate from our CA is required
    sent = subprocess.run(
        [find_dcmtk("storescu"), *client, "-aec", NODE_AE, "127.0.0.1", str(node.port),
         str(phantom_study.files[0])],
        capture_output=True, text=True, env=dcmtk_env(), timeout=60, check=False)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert node.counts()["instances"] == 1
    assert node.alive()

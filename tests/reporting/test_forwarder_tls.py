"""TLS between a center and the central (issue 12): a throwaway CA (trustme); the forwarder verifies
the central's certificate — a certificate of a CA it does not trust is refused, nothing is sent,
and the error shows in the reporting status; plain http:// is accepted only for loopback."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import requests
import trustme

from tests.conftest import ROOT

from .conftest import center_config, start_center
from .test_central_e2e import FAKE_NOW, login, status, work


def _ca_files(tmp_path: Path, name: str) -> tuple[trustme.CA, Path]:
    ca = trustme.CA(organization_name=f"Throwaway CA {name}")
    path = tmp_path / f"{name}-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return ca, path


def test_forwarder_sends_over_verified_tls_and_refuses_a_wrong_certificate(central_factory, tmp_path: Path) -> None:
    ca, ca_file = _ca_files(tmp_path, "province")
    _other, other_ca_file = _ca_files(tmp_path, "stranger")
    cert = ca.issue_cert("127.0.0.1", "localhost")
    certfile, keyfile = tmp_path / "central.pem", tmp_path / "central.key"
    for blob in cert.cert_chain_pems:
        blob.write_to_path(str(certfile), append=True)
    cert.private_key_pem.write_to_path(str(keyfile))
    central = central_factory("--certfile", str(certfile), "--keyfile", str(keyfile),
                              verify=str(ca_file))
    assert central.url.startswith("https://")

    trusting = start_center(tmp_path, "xa-1", central.url, extra=f'ca_file = "{ca_file}"', env=FAKE_NOW)
    stranger = start_center(tmp_path, "xa-2", central.url, extra=f'ca_file = "{other_ca_file}"', env=FAKE_NOW)
    try:
        manager = login(trusting.url, "manager")
        work(trusting, manager, 4)
        reader_get = lambda: requests.get(  # noqa: E731
            f"{central.url}/api/v1/province/summary", params={"from": "2026-11-30", "to": "2026-11-30"},
            headers={"Authorization": "Bearer reader-token-of-the-province-office"}, verify=str(ca_file),
            timeout=10).json()
        deadline = time.monotonic() + 60
        while reader_get()["centers"]["xa-1"]["issued"] != 4 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert reader_get()["centers"]["xa-1"]["issued"] == 4

        other = login(stranger.url, "manager")
        work(stranger, other, 3)
        deadline = time.monotonic() + 30
        while not (state := status(stranger, other))["last_error"] and time.monotonic() < deadline:
            time.sleep(0.3)
        assert "CERTIFICATE_VERIFY_FAILED" in state["last_error"]["message"], state
        assert state["last_ack"] is None and state["backlog"]["batches"] == 1
        data = reader_get()["centers"]["xa-2"]
        assert data["issued"] == 0 and data["last_batch_at"] is None
    finally:
        trusting.stop()
        stranger.stop()


def test_plain_http_only_to_loopback(tmp_path: Path) -> None:
    def check(url: str, extra: str = "") -> subprocess.CompletedProcess[str]:
        config = center_config(tmp_path, "xa-1", url, extra)
        return subprocess.run([sys.executable, "-m", "queue_server", "--config", str(config), "--check"],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)

    refused = check("http://10.0.0.5:8090")
    assert refused.returncode == 2 and "reporting.url" in refused.stderr and "loopback" in refused.stderr
    for url in ("http://127.0.0.1:8090", "http://[::1]:8090", "http://localhost:8090",
                "https://baocao.example.gov.vn"):
        assert check(url).returncode == 0, url
    bad = check("ftp://127.0.0.1/")
    assert bad.returncode == 2 and "reporting.url" in bad.stderr
    short = center_config(tmp_path, "xa-1", "https://x.example", token="short")
    r = subprocess.run([sys.executable, "-m", "queue_server", "--config", str(short), "--check"],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "reporting.token" in r.stderr

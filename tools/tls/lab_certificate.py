"""Write a lab's TLS Secret: a self-signed certificate and its key for one host, as a starter manifest.

The Gateway lab's HTTPS listener terminates TLS with this Secret, and its check compares the certificate the
Gateway presents with the one in the Secret. The key guards nothing: it exists for a made-up host (shop.example)
on a lab cluster, which is why it may sit in the repository. Run again to renew it (10 years):

    python3 tools/tls/lab_certificate.py shop.example shop-tls labs/gateway/starter/shop-tls.yaml
"""

from __future__ import annotations

import base64
import subprocess
import sys
import tempfile
from pathlib import Path

DAYS = 3650


def make_pair(host: str, folder: Path) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) from openssl: an EC P-256 key, the host as subject and only SAN."""
    key, cert = folder / "tls.key", folder / "tls.crt"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-days", str(DAYS),
            "-subj", f"/CN={host}", "-addext", f"subjectAltName=DNS:{host}",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert.read_bytes(), key.read_bytes()


def secret_manifest(name: str, host: str, cert: bytes, key: bytes) -> str:
    encoded = {k: base64.b64encode(v).decode() for k, v in (("tls.crt", cert), ("tls.key", key))}
    return (
        f"# The lab's certificate for {host} (self-signed, made by tools/tls/lab_certificate.py; the key guards\n"
        "# nothing: a made-up host on a lab cluster). The Gateway's HTTPS listener names this Secret.\n"
        "apiVersion: v1\nkind: Secret\n"
        f"metadata:\n  name: {name}\ntype: kubernetes.io/tls\n"
        f"data:\n  tls.crt: {encoded['tls.crt']}\n  tls.key: {encoded['tls.key']}\n"
    )


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    host, name, out = argv
    with tempfile.TemporaryDirectory() as folder:
        cert, key = make_pair(host, Path(folder))
    Path(out).write_text(secret_manifest(name, host, cert, key), encoding="utf-8")
    print(f"wrote {out}: Secret {name} for {host}, valid {DAYS} days")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

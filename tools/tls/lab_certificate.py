"""Write a lab's TLS Secret: a self-signed certificate and its key for its hosts, as a starter manifest.

The Gateway lab's HTTPS listener terminates TLS with this Secret, and its check compares the certificate the
Gateway presents with the one in the Secret. The key guards nothing: it exists for made-up hosts (shop.example, and
*.shop.example for a classroom's per-student hosts such as ada.shop.example) on a lab cluster, which is why it may
sit in the repository. The hosts are comma-separated, the first is the subject; all are subject alternative names.
Run again to renew it (10 years):

    python3 tools/tls/lab_certificate.py 'shop.example,*.shop.example' shop-tls labs/gateway/starter/shop-tls.yaml
"""

from __future__ import annotations

import base64
import subprocess
import sys
import tempfile
from pathlib import Path

DAYS = 3650


def make_pair(hosts: list[str], folder: Path) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) from openssl: an EC P-256 key, the first host as subject, every host a SAN."""
    key, cert = folder / "tls.key", folder / "tls.crt"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-days", str(DAYS),
            "-subj", f"/CN={hosts[0]}", "-addext", "subjectAltName=" + ",".join(f"DNS:{h}" for h in hosts),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert.read_bytes(), key.read_bytes()


def secret_manifest(name: str, hosts: list[str], cert: bytes, key: bytes) -> str:
    encoded = {k: base64.b64encode(v).decode() for k, v in (("tls.crt", cert), ("tls.key", key))}
    return (
        f"# The lab's certificate for {' and '.join(hosts)} (self-signed, made by tools/tls/lab_certificate.py; the\n"
        "# key guards nothing: made-up hosts on a lab cluster). The Gateway's HTTPS listener names this Secret.\n"
        "apiVersion: v1\nkind: Secret\n"
        f"metadata:\n  name: {name}\ntype: kubernetes.io/tls\n"
        f"data:\n  tls.crt: {encoded['tls.crt']}\n  tls.key: {encoded['tls.key']}\n"
    )


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    hosts, name, out = [h.strip() for h in argv[0].split(",") if h.strip()], argv[1], argv[2]
    with tempfile.TemporaryDirectory() as folder:
        cert, key = make_pair(hosts, Path(folder))
    Path(out).write_text(secret_manifest(name, hosts, cert, key), encoding="utf-8")
    print(f"wrote {out}: Secret {name} for {', '.join(hosts)}, valid {DAYS} days")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The CA, the hub's and the clients' certificates of one test, made with openssl."""

from __future__ import annotations

import subprocess
from pathlib import Path


def make_certificates(directory: Path) -> dict[str, Path]:
    """A CA, the hub's certificate for 127.0.0.1, a client certificate the CA signed (CN = the user) and
    one from another CA; client certificates as koji wants them: certificate and key in one PEM file."""
    directory.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    def ca(name: str) -> None:
        openssl(
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={name}",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.crt",
        )

    def signed(name: str, cn: str, by: str, ext: str = "") -> Path:
        openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            f"/CN={cn}",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
        )
        extra = []
        if ext:
            (directory / f"{name}.ext").write_text(ext)
            extra = ["-extfile", f"{name}.ext"]
        openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            f"{by}.crt",
            "-CAkey",
            f"{by}.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            f"{name}.crt",
            *extra,
        )
        pem = directory / f"{name}.pem"
        pem.write_text((directory / f"{name}.crt").read_text() + (directory / f"{name}.key").read_text())
        return pem

    ca("koji-ca")
    ca("other-ca")
    signed("hub", "127.0.0.1", "koji-ca", "subjectAltName=IP:127.0.0.1\n")
    return {
        "ca": directory / "koji-ca.crt",
        "hub_cert": directory / "hub.crt",
        "hub_key": directory / "hub.key",
        "client": signed("client", "altai-release", "koji-ca"),
        "stranger": signed("stranger", "altai-release", "other-ca"),
    }

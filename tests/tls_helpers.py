"""Test certificates for the TLS listener of the local cluster, made with the `openssl` CLI
(the `cryptography` package is not a dependency): a throwaway CA, a broker certificate for
127.0.0.1/localhost and a client certificate whose private key is encrypted with a password.

Kafka reads PEM key stores directly (`ssl.keystore.type=PEM`): the broker's "keystore" is one
file holding its unencrypted PKCS#8 key and its certificate, the "truststore" the CA's PEM.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

DAYS = "2"  # the certificates live as long as one test run needs


@dataclass(frozen=True)
class Pki:
    ca_cert: Path  # the CA certificate (PEM): truststore of the broker and of clients
    broker_keystore: Path  # broker key (PKCS#8, unencrypted) + broker certificate, PEM
    client_cert: Path  # client certificate (PEM)
    client_key: Path  # client key (PKCS#8, encrypted with `client_key_password`), PEM
    client_key_password: str


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {proc.stderr.strip()}")


def make_pki(directory: Path, client_key_password: str) -> Pki:
    """Generate the CA, broker and client certificates into `directory`."""
    if shutil.which("openssl") is None:
        raise RuntimeError("the openssl CLI is needed to make test certificates")
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    # the CA: a self-signed certificate that may sign others
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
             "-out", "ca.pem", "-days", DAYS, "-subj", "/CN=nexus-tui test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    # the broker: a server certificate valid for the addresses the listener advertises
    (d / "broker.ext").write_text(
        "basicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth,clientAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "broker.key", "-out",
             "broker.csr", "-subj", "/CN=localhost", cwd=d)
    _openssl("x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "broker.pem", "-days", DAYS, "-extfile", "broker.ext",
             cwd=d)
    _openssl("pkcs8", "-topk8", "-nocrypt", "-in", "broker.key", "-out", "broker.p8", cwd=d)
    keystore = d / "broker-keystore.pem"
    keystore.write_text((d / "broker.p8").read_text() + (d / "broker.pem").read_text())
    # the client: a certificate for mutual TLS, its key encrypted with a password
    (d / "client.ext").write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=clientAuth\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.plain.key", "-out",
             "client.csr", "-subj", "/CN=nexus-tui test client", cwd=d)
    _openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "client.pem", "-days", DAYS, "-extfile", "client.ext",
             cwd=d)
    _openssl("pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", "client.plain.key", "-out",
             "client.key", "-passout", f"pass:{client_key_password}", cwd=d)
    for secret in ("ca.key", "broker.key", "broker.p8", "client.plain.key"):
        (d / secret).unlink()  # only the stores the test uses stay on disk
    return Pki(d / "ca.pem", keystore, d / "client.pem", d / "client.key",
                   client_key_password)

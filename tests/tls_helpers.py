"""Test certificates for the TLS listener of the local cluster, made in Python with the
`cryptography` package (a `test` extra: no `openssl` CLI needed): a throwaway CA, a broker
certificate for 127.0.0.1/localhost and a client certificate whose private key is encrypted
with a password.

Kafka reads PEM key stores directly (`ssl.keystore.type=PEM`): the broker's "keystore" is one
file holding its unencrypted PKCS#8 key and its certificate, the "truststore" the CA's PEM.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = dt.timedelta(days=2)  # the certificates live as long as one test run needs


@dataclass(frozen=True)
class Pki:
    ca_cert: Path  # the CA certificate (PEM): truststore of the broker and of clients
    broker_keystore: Path  # broker key (PKCS#8, unencrypted) + broker certificate, PEM
    client_cert: Path  # client certificate (PEM)
    client_key: Path  # client key (PKCS#8, encrypted with `client_key_password`), PEM
    client_key_password: str


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _usage(*, cert_sign: bool = False, encipher: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign, content_commitment=False, key_encipherment=encipher,
        data_encipherment=False, key_agreement=False, key_cert_sign=cert_sign,
        crl_sign=cert_sign, encipher_only=False, decipher_only=False)


def _certificate(
    subject: str, key: rsa.RSAPrivateKey, issuer: x509.Name, signer: rsa.RSAPrivateKey,
    extensions: list[tuple[x509.ExtensionType, bool]],
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder()
               .subject_name(_name(subject)).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + VALIDITY))
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(signer, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _pkcs8(key: rsa.RSAPrivateKey, password: str | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode()) if password
        else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             encryption)


def make_pki(directory: Path, client_key_password: str) -> Pki:
    """Generate the CA, broker and client certificates into `directory` (only the stores the
    tests use are written: no unencrypted client or CA key reaches the disk)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    # the CA: a self-signed certificate that may sign others
    ca_key = _key()
    ca = _certificate("nexus-tui test CA", ca_key, _name("nexus-tui test CA"), ca_key, [
        (x509.BasicConstraints(ca=True, path_length=None), True),
        (_usage(cert_sign=True), True),
        (x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False),
    ])
    ca_id = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    # the broker: a server certificate valid for the addresses the listener advertises
    broker_key = _key()
    broker = _certificate("localhost", broker_key, ca.subject, ca_key, [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (_usage(encipher=True), True),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                ExtendedKeyUsageOID.CLIENT_AUTH]), False),
        (x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                      x509.DNSName("localhost")]), False),
        (ca_id, False),
    ])
    # the client: a certificate for mutual TLS, its key encrypted with a password
    client_key = _key()
    client = _certificate("nexus-tui test client", client_key, ca.subject, ca_key, [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (_usage(), True),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False),
        (ca_id, False),
    ])
    (d / "ca.pem").write_bytes(_pem(ca))
    keystore = d / "broker-keystore.pem"
    keystore.write_bytes(_pkcs8(broker_key) + _pem(broker))
    (d / "client.pem").write_bytes(_pem(client))
    (d / "client.key").write_bytes(_pkcs8(client_key, client_key_password))
    return Pki(d / "ca.pem", keystore, d / "client.pem", d / "client.key",
               client_key_password)

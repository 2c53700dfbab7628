"""Keys made at test time: with ssh-keygen when it is installed, otherwise with cryptography.

Also key-shaped text no tool would make (sk- keys, mislabelled, padded or damaged blobs), built with
the SSH wire encoding, for tests/test_sshkeys.py.
"""

from __future__ import annotations

import base64
import functools
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_ssh_private_key,
)

SSH_KEYGEN = shutil.which("ssh-keygen")
NO_SSH_KEYGEN = "ssh-keygen is not installed, so there is nothing to compare with"

# name: (ssh-keygen -t, -b, key type in the .pub line)
KINDS = {
    "rsa1024": ("rsa", 1024, "ssh-rsa"),
    "rsa2048": ("rsa", 2048, "ssh-rsa"),
    "rsa3072": ("rsa", 3072, "ssh-rsa"),
    "rsa4096": ("rsa", 4096, "ssh-rsa"),
    "ed25519": ("ed25519", 256, "ssh-ed25519"),
    "ecdsa256": ("ecdsa", 256, "ecdsa-sha2-nistp256"),
    "ecdsa384": ("ecdsa", 384, "ecdsa-sha2-nistp384"),
    "ecdsa521": ("ecdsa", 521, "ecdsa-sha2-nistp521"),
}
_CURVES = {256: ec.SECP256R1(), 384: ec.SECP384R1(), 521: ec.SECP521R1()}


@dataclass(frozen=True)
class KeyPair:
    name: str
    key_type: str
    bits: int
    private_key: PrivateKeyTypes
    private_path: Path  # OpenSSH format, no passphrase
    public_path: Path

    @property
    def public_line(self) -> str:
        return self.public_path.read_text(encoding="utf-8").strip()

    @property
    def blob(self) -> bytes:
        return base64.b64decode(self.public_line.split()[1])


def make_key_pair(directory: Path, name: str, comment: str) -> KeyPair:
    tool_type, bits, key_type = KINDS[name]
    private_path = directory / name
    public_path = private_path.with_suffix(".pub")
    if SSH_KEYGEN:
        run_ssh_keygen("-q", "-t", tool_type, "-b", str(bits), "-N", "", "-C", comment, "-f", str(private_path))
        private_key = load_ssh_private_key(private_path.read_bytes(), password=None)
    else:
        private_key = generate(name)
        private_path.write_bytes(private_key.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()))
        public = private_key.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()
        public_path.write_text(f"{public} {comment}\n", encoding="utf-8")
    return KeyPair(name, key_type, bits, private_key, private_path, public_path)


def generate(name: str) -> PrivateKeyTypes:
    """A new private key of one of KINDS, made with cryptography (fast, in memory)."""
    tool_type, bits, _ = KINDS[name]
    if tool_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if tool_type == "ecdsa":
        return ec.generate_private_key(_CURVES[bits])
    return ed25519.Ed25519PrivateKey.generate()


def run_ssh_keygen(*args: str) -> str:
    return subprocess.run([SSH_KEYGEN, *args], check=True, capture_output=True, text=True).stdout


def ssh_keygen_fingerprint(public_path: Path, hash_name: str) -> tuple[int, str]:
    """Bits and fingerprint as `ssh-keygen -l -E <hash_name>` prints them, e.g. (256, "SHA256:...")."""
    bits, fingerprint, *_ = run_ssh_keygen("-l", "-E", hash_name, "-f", str(public_path)).split()
    return int(bits), fingerprint


# ---------------------------------------------------------------------------------------------- other formats


def pem_public(private_key: PrivateKeyTypes) -> str:
    """The SubjectPublicKeyInfo PEM block of a private key's public half."""
    return private_key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def private_pem(pair: KeyPair, private_format: PrivateFormat, password: bytes | None = None) -> str:
    encryption = BestAvailableEncryption(password) if password else NoEncryption()
    return pair.private_key.private_bytes(Encoding.PEM, private_format, encryption).decode()


def encrypted_openssh(pair: KeyPair) -> str:
    """The OpenSSH private key with a passphrase; ssh-keygen does it (cryptography would need bcrypt)."""
    if not SSH_KEYGEN:
        pytest.skip("ssh-keygen is not installed, and cryptography needs bcrypt to encrypt an OpenSSH key")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "id"
        path.write_bytes(pair.private_path.read_bytes())
        path.chmod(0o600)
        run_ssh_keygen("-q", "-p", "-P", "", "-N", "passphrase", "-f", str(path))
        return path.read_text()


@functools.cache
def dsa_public_line() -> str:
    """A DSA key from ssh-keygen while it still makes them (OpenSSH 9.8 removed DSA), else a crafted blob."""
    if SSH_KEYGEN:
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "id_dsa"
            made = subprocess.run([SSH_KEYGEN, "-q", "-t", "dsa", "-N", "", "-C", "old@host", "-f", path])
            if made.returncode == 0:
                return path.with_suffix(".pub").read_text().strip()
    return line("ssh-dss", crafted_dsa_blob(), "old@host")


@functools.cache
def certificate_line(public_line: str) -> str:
    """`public_line` signed by a throwaway CA with ssh-keygen, or a crafted certificate line without it."""
    if not SSH_KEYGEN:
        blob = ssh_string("ssh-ed25519-cert-v01@openssh.com") + ssh_string(b"\0" * 32)
        return line("ssh-ed25519-cert-v01@openssh.com", blob)
    with tempfile.TemporaryDirectory() as directory:
        ca, key = Path(directory) / "ca", Path(directory) / "member"
        key.with_suffix(".pub").write_text(public_line + "\n")
        run_ssh_keygen("-q", "-t", "ed25519", "-N", "", "-f", str(ca))
        run_ssh_keygen("-q", "-s", str(ca), "-I", "member", "-n", "alice", str(key.with_suffix(".pub")))
        return (Path(directory) / "member-cert.pub").read_text().strip()


def rfc4716_block(blob: bytes, headers: list[str], width: int = 70) -> str:
    body = base64.b64encode(blob).decode()
    wrapped = [body[i : i + width] for i in range(0, len(body), width)]
    return "\n".join(["---- BEGIN SSH2 PUBLIC KEY ----", *headers, *wrapped, "---- END SSH2 PUBLIC KEY ----"])


# ---------------------------------------------------------------------------------------------- crafted blobs


def ssh_string(data: bytes | str) -> bytes:
    data = data.encode() if isinstance(data, str) else data
    return len(data).to_bytes(4, "big") + data


def ssh_mpint(value: int) -> bytes:
    return ssh_string(value.to_bytes((value.bit_length() + 8) // 8, "big"))


def line(key_type: str, blob: bytes, comment: str = "") -> str:
    return f"{key_type} {base64.b64encode(blob).decode()} {comment}".rstrip()


def crafted_dsa_blob() -> bytes:
    """An ssh-dss blob; its numbers need not form a key, since the type alone is refused."""
    return ssh_string("ssh-dss") + b"".join(ssh_mpint(n) for n in (2**1023 + 1, 2**159 + 7, 2, 2**1000 + 3))


def sk_ed25519_blob() -> bytes:
    return ssh_string("sk-ssh-ed25519@openssh.com") + ssh_string(bytes(range(32))) + ssh_string("ssh:")


def sk_ecdsa_blob(public_key: ec.EllipticCurvePublicKey) -> bytes:
    point = public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return ssh_string("sk-ecdsa-sha2-nistp256@openssh.com") + ssh_string("nistp256") + ssh_string(point)


def ecdsa_blob(type_name: str, curve_name: str, public_key: ec.EllipticCurvePublicKey) -> bytes:
    """An ECDSA blob whose type string and curve field are chosen freely, to mislabel one of them."""
    point = public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return ssh_string(type_name) + ssh_string(curve_name) + ssh_string(point)


def ecdsa_line_with_point(pair: KeyPair, *, compressed: bool = False, off_curve: bool = False) -> str:
    """The pair's ECDSA key with its point compressed, or moved off the curve by one bit."""
    form = PublicFormat.CompressedPoint if compressed else PublicFormat.UncompressedPoint
    point = pair.private_key.public_key().public_bytes(Encoding.X962, form)
    if off_curve:
        point = point[:-1] + bytes([point[-1] ^ 1])
    curve_name = pair.key_type.removeprefix("ecdsa-sha2-")
    return line(pair.key_type, ssh_string(pair.key_type) + ssh_string(curve_name) + ssh_string(point))


def rsa_blob(public_key: rsa.RSAPublicKey, *, padded_modulus: bool = False, exponent: int | None = None) -> bytes:
    numbers = public_key.public_numbers()
    modulus = ssh_mpint(numbers.n)
    if padded_modulus:  # one more leading zero than the minimal mpint: same number, different bytes
        modulus = ssh_string(b"\0" + modulus[4:])
    return ssh_string("ssh-rsa") + ssh_mpint(exponent or numbers.e) + modulus


def non_canonical_padding(text: str) -> str:
    """Sets the unused low bits of the character before '=', which a lenient decoder ignores."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    data = text.rstrip("=")
    return data[:-1] + alphabet[alphabet.index(data[-1]) | 1] + text[len(data) :]

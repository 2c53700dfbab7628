"""keys.sshkeys: what the key parser accepts, what it refuses and why, checked against ssh-keygen.

No database: these run with or without the Django plugin (`-p no:django`).
"""

from __future__ import annotations

import base64
import dataclasses
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, x25519
from cryptography.hazmat.primitives.serialization import PrivateFormat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keys.sshkeys import ACCEPTED_TYPES, MAX_INPUT_BYTES, InvalidKey, PublicKey, parse_public_key
from tests import keygen
from tests.keygen import KeyPair

needs_ssh_keygen = pytest.mark.skipif(keygen.SSH_KEYGEN is None, reason=keygen.NO_SSH_KEYGEN)

ACCEPTED = ["rsa2048", "rsa3072", "rsa4096", "ed25519", "ecdsa256", "ecdsa384", "ecdsa521"]
CODES = set(
    "too_long private_key malformed multiple_keys options_prefix unsupported_type type_mismatch too_weak".split()
)
Keys = dict[str, KeyPair]


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    """One key of every kind per session (RSA 4096 is slow to make), commented "<name>@test"."""
    directory = tmp_path_factory.mktemp("keys")
    return {name: keygen.make_key_pair(directory, name, f"{name}@test") for name in keygen.KINDS}


def refusal(text: str, **kwargs: int) -> InvalidKey:
    with pytest.raises(InvalidKey) as caught:
        parse_public_key(text, **kwargs)
    return caught.value


def b64(pair: KeyPair) -> str:
    return pair.public_line.split()[1]


def relabel(pair: KeyPair, key_type: str) -> str:
    return f"{key_type} {b64(pair)} {pair.name}@test"


def without_last_line(text: str) -> str:
    return "\n".join(text.strip().splitlines()[:-1])


# ---------------------------------------------------------------------------------------------- accepted keys


@pytest.mark.parametrize("name", ACCEPTED)
def test_it_accepts_every_type_and_size(keys: Keys, name: str) -> None:
    pair = keys[name]
    key = parse_public_key(pair.public_line)

    assert isinstance(key, PublicKey)
    assert (key.key_type, key.bits, key.comment) == (pair.key_type, pair.bits, f"{name}@test")
    assert key.normalized == f"{pair.key_type} {b64(pair)}"
    assert key.md5_name == key.fingerprint_md5.replace(":", "") and len(key.md5_name) == 32
    with pytest.raises(dataclasses.FrozenInstanceError):
        key.comment = "changed"  # type: ignore[misc]


@needs_ssh_keygen
@pytest.mark.parametrize("name", [*ACCEPTED, "rsa1024"])
def test_fingerprints_and_bits_match_ssh_keygen(keys: Keys, name: str) -> None:
    pair = keys[name]
    key = parse_public_key(pair.public_line, min_rsa_bits=1024)

    assert (key.bits, key.fingerprint_sha256) == keygen.ssh_keygen_fingerprint(pair.public_path, "sha256")
    assert (key.bits, f"MD5:{key.fingerprint_md5}") == keygen.ssh_keygen_fingerprint(pair.public_path, "md5")


@pytest.mark.parametrize("name", ACCEPTED)
def test_fingerprints_match_cryptography(keys: Keys, name: str) -> None:
    public_key = keys[name].private_key.public_key()
    key = parse_public_key(keys[name].public_line)

    sha256 = serialization.ssh_key_fingerprint(public_key, hashes.SHA256())
    assert key.fingerprint_sha256 == "SHA256:" + base64.b64encode(sha256).decode().rstrip("=")
    assert key.fingerprint_md5 == serialization.ssh_key_fingerprint(public_key, hashes.MD5()).hex(":")


@pytest.mark.parametrize(
    "dress",
    [
        pytest.param(lambda line: line + "\r\n", id="crlf"),
        pytest.param(lambda line: "\r\n\r\n" + line + "\r\n\r\n", id="crlf-blank-lines-around"),
        pytest.param(lambda line: line.replace(" ", "\t"), id="tabs-between-fields"),
        pytest.param(lambda line: line.replace(" ", " \t  "), id="runs-of-spaces-and-tabs"),
        pytest.param(lambda line: "  \n\t " + line + " \t\n\n", id="surrounding-whitespace"),
        pytest.param(lambda line: "\ufeff" + line, id="byte-order-mark"),
    ],
)
def test_it_normalizes_whitespace(keys: Keys, dress: Callable[[str], str]) -> None:
    key = parse_public_key(dress(keys["ed25519"].public_line))

    assert key.normalized == f"ssh-ed25519 {b64(keys['ed25519'])}"
    assert key.comment == "ed25519@test"


@pytest.mark.parametrize(
    "comment",
    ["", "alice@laptop", "홍길동의 노트북 (회사)", "work laptop  two spaces", "tab\tinside", "émilie's clé ✓"],
)
def test_it_keeps_the_comment_apart(keys: Keys, comment: str) -> None:
    key = parse_public_key(f"ssh-ed25519 {b64(keys['ed25519'])} {comment}")

    assert key.comment == comment
    assert key.normalized == f"ssh-ed25519 {b64(keys['ed25519'])}"


@needs_ssh_keygen
@pytest.mark.parametrize("name", ["ed25519", "rsa4096", "ecdsa521"])
def test_it_reads_rfc4716_from_ssh_keygen(keys: Keys, name: str) -> None:
    pair = keys[name]
    block = keygen.run_ssh_keygen("-e", "-f", str(pair.public_path))
    header = next(line for line in block.splitlines() if line.startswith("Comment:"))

    key = parse_public_key(block)
    assert key.normalized == parse_public_key(pair.public_line).normalized
    # ssh-keygen -e writes its own comment ("256-bit ED25519, converted by ..."), quoted.
    assert key.comment == header.removeprefix("Comment:").strip().strip('"')

    with_original_comment = block.replace(header, f'Comment: "{pair.name}@test"')
    assert parse_public_key(with_original_comment) == parse_public_key(pair.public_line)


def test_it_reads_a_wrapped_rfc4716_block_with_a_continued_header(keys: Keys) -> None:
    headers = [
        "Subject: alice",
        'Comment: "홍길동 work laptop, a comment long enough \\',
        'to be continued on the next line"',
        "x-command: anything: even colons",
    ]
    block = keygen.rfc4716_block(keys["rsa3072"].blob, headers, width=64)

    key = parse_public_key(block.replace("\n", "\r\n") + "\r\n")

    assert key.comment == "홍길동 work laptop, a comment long enough to be continued on the next line"
    assert key.normalized == f"ssh-rsa {b64(keys['rsa3072'])}"


def test_it_reads_an_rfc4716_block_with_an_unquoted_comment_and_no_comment(keys: Keys) -> None:
    blob = keys["ecdsa384"].blob

    assert parse_public_key(keygen.rfc4716_block(blob, ["Comment: rsa-key-20240101"])).comment == "rsa-key-20240101"
    assert parse_public_key(keygen.rfc4716_block(blob, [])).comment == ""


@needs_ssh_keygen
@pytest.mark.parametrize("conversion", ["PKCS8", "PEM"], ids=["subject-public-key-info", "pkcs1-rsa-public-key"])
def test_it_reads_pem_rsa_from_ssh_keygen(keys: Keys, conversion: str) -> None:
    pair = keys["rsa2048"]
    block = keygen.run_ssh_keygen("-e", "-m", conversion, "-f", str(pair.public_path))

    key = parse_public_key(block)

    assert (key.key_type, key.normalized, key.comment) == ("ssh-rsa", f"ssh-rsa {b64(pair)}", "")


@pytest.mark.parametrize("name", ["ed25519", "ecdsa256", "ecdsa384", "ecdsa521", "rsa4096"])
def test_it_reads_pem_subject_public_key_info(keys: Keys, name: str) -> None:
    pair = keys[name]

    key = parse_public_key(keygen.pem_public(pair.private_key))

    assert (key.key_type, key.bits, key.comment) == (pair.key_type, pair.bits, "")
    assert key.fingerprint_sha256 == parse_public_key(pair.public_line).fingerprint_sha256


def test_the_module_imports_nothing_from_django() -> None:
    code = "import sys, keys.sshkeys; print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))"
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)

    assert result.stdout.strip() == "[]"


# ---------------------------------------------------------------------------------------------- refusals


def test_invalid_key_carries_code_template_params_and_message(keys: Keys) -> None:
    exc = refusal(keys["rsa1024"].public_line)

    assert exc.code == "too_weak"
    assert exc.params == {"bits": 1024, "min_bits": 2048}
    assert exc.message == exc.template % exc.params == str(exc)
    assert "%(bits)d" in exc.template and "1024" in exc.message and "2048" in exc.message


UNSUPPORTED = [
    pytest.param(lambda k: keygen.dsa_public_line(), id="dsa"),
    pytest.param(lambda k: keygen.line("ssh-dss", keygen.crafted_dsa_blob()), id="dsa-crafted-blob"),
    pytest.param(lambda k: keygen.line("sk-ssh-ed25519@openssh.com", keygen.sk_ed25519_blob()), id="sk-ed25519"),
    pytest.param(
        lambda k: keygen.line(
            "sk-ecdsa-sha2-nistp256@openssh.com", keygen.sk_ecdsa_blob(k["ecdsa256"].private_key.public_key())
        ),
        id="sk-ecdsa",
    ),
    pytest.param(lambda k: keygen.certificate_line(k["ed25519"].public_line), id="certificate"),
    pytest.param(lambda k: relabel(k["rsa2048"], "ssh-rsa-cert-v01@openssh.com"), id="certificate-type-word"),
    pytest.param(lambda k: relabel(k["ecdsa256"], "ecdsa-sha-nistp256"), id="nsml-typo-ecdsa-sha-nistp256"),
    pytest.param(lambda k: relabel(k["ed25519"], "SSH-ED25519"), id="type-in-capitals"),
    pytest.param(lambda k: relabel(k["ed25519"], "ed25519"), id="type-without-ssh-prefix"),
    pytest.param(lambda k: "hello, here is my key", id="random-words"),
    pytest.param(lambda k: "hunter2", id="one-word"),
    pytest.param(lambda k: b64(k["ed25519"]), id="base64-without-type"),
    pytest.param(lambda k: keygen.rfc4716_block(keygen.crafted_dsa_blob(), []), id="rfc4716-dsa"),
    pytest.param(lambda k: keygen.rfc4716_block(keygen.sk_ed25519_blob(), []), id="rfc4716-sk-ed25519"),
    pytest.param(lambda k: keygen.pem_public(ed448.Ed448PrivateKey.generate()), id="pem-ed448"),
    pytest.param(lambda k: keygen.pem_public(x25519.X25519PrivateKey.generate()), id="pem-x25519"),
    pytest.param(lambda k: keygen.pem_public(ec.generate_private_key(ec.SECP256K1())), id="pem-secp256k1"),
    pytest.param(lambda k: keygen.pem_public(dsa.generate_private_key(1024)), id="pem-dsa"),
    pytest.param(lambda k: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", id="pem-certificate"),
]


@pytest.mark.parametrize("make_text", UNSUPPORTED)
def test_it_refuses_unsupported_types(keys: Keys, make_text: Callable[[Keys], str]) -> None:
    exc = refusal(make_text(keys))

    assert exc.code == "unsupported_type"
    assert all(key_type in exc.message for key_type in ACCEPTED_TYPES)


def test_an_unsupported_type_message_names_a_known_type_but_never_echoes_other_text() -> None:
    assert "ssh-dss" in refusal(keygen.dsa_public_line()).message
    assert "certificate" in refusal("ssh-ed25519-cert-v01@openssh.com AAAA").message
    assert "hunter2" not in refusal("hunter2 AAAAC3NzaC1lZDI1NTE5").message


TYPE_MISMATCH = [
    pytest.param(lambda k: relabel(k["ed25519"], "ssh-rsa"), id="ed25519-blob-labelled-ssh-rsa"),
    pytest.param(lambda k: relabel(k["rsa2048"], "ssh-ed25519"), id="rsa-blob-labelled-ssh-ed25519"),
    pytest.param(lambda k: relabel(k["ecdsa384"], "ecdsa-sha2-nistp256"), id="nistp384-blob-labelled-nistp256"),
    pytest.param(lambda k: relabel(k["ecdsa256"], "ecdsa-sha2-nistp521"), id="nistp256-blob-labelled-nistp521"),
    pytest.param(
        lambda k: keygen.line(
            "ecdsa-sha2-nistp256",
            keygen.ecdsa_blob("ecdsa-sha2-nistp256", "nistp384", k["ecdsa384"].private_key.public_key()),
        ),
        id="nistp256-blob-with-nistp384-curve-field",
    ),
    pytest.param(
        lambda k: keygen.rfc4716_block(
            keygen.ecdsa_blob("ecdsa-sha2-nistp521", "nistp384", k["ecdsa384"].private_key.public_key()), []
        ),
        id="rfc4716-nistp521-blob-with-nistp384-curve-field",
    ),
    pytest.param(lambda k: keygen.line("ssh-ed25519", keygen.crafted_dsa_blob()), id="dsa-blob-labelled-ssh-ed25519"),
    pytest.param(lambda k: keygen.line("ssh-ed25519", keygen.sk_ed25519_blob()), id="sk-blob-labelled-ssh-ed25519"),
]


@pytest.mark.parametrize(
    "make_text",
    [
        pytest.param(lambda k: parse_public_key(k["ed25519"].public_line).fingerprint_sha256, id="sha256"),
        pytest.param(lambda k: "MD5:" + parse_public_key(k["ed25519"].public_line).fingerprint_md5, id="md5"),
        pytest.param(lambda k: parse_public_key(k["ed25519"].public_line).fingerprint_md5, id="md5-as-listed"),
        pytest.param(
            lambda k: f"256 {parse_public_key(k['ed25519'].public_line).fingerprint_sha256} me@host (ED25519)",
            id="ssh-keygen-l",
        ),
    ],
)
def test_a_fingerprint_is_named_as_one(keys: Keys, make_text: Callable[[Keys], str]) -> None:
    exc = refusal(make_text(keys))

    assert exc.code == "unsupported_type"
    assert "fingerprint" in exc.message and ".pub" in exc.message


@pytest.mark.parametrize("make_text", TYPE_MISMATCH)
def test_it_refuses_a_type_word_that_differs_from_the_blob(keys: Keys, make_text: Callable[[Keys], str]) -> None:
    assert refusal(make_text(keys)).code == "type_mismatch"


MALFORMED = [
    pytest.param(lambda k: "", id="empty"),
    pytest.param(lambda k: "  \r\n\t \n", id="whitespace-only"),
    pytest.param(lambda k: without_last_line(keygen.rfc4716_block(k["ed25519"].blob, [])), id="rfc4716-without-end"),
    pytest.param(lambda k: without_last_line(keygen.pem_public(k["ed25519"].private_key)), id="pem-without-end"),
    pytest.param(lambda k: keygen.rfc4716_block(k["ed25519"].blob, []) + "\nthanks!", id="text-after-a-block"),
    pytest.param(lambda k: "ssh-ed25519", id="type-without-blob"),
    pytest.param(lambda k: "ssh-rsa \t ", id="type-and-whitespace"),
    pytest.param(
        lambda k: relabel(k["rsa4096"], "ssh-rsa").replace("+", "-").replace("/", "_"), id="url-safe-alphabet"
    ),
    pytest.param(lambda k: relabel(k["ecdsa256"], "ecdsa-sha2-nistp256").replace("=", ""), id="missing-padding"),
    pytest.param(lambda k: f"ssh-ed25519 {b64(k['ed25519'])}=", id="extra-padding"),
    pytest.param(
        lambda k: f"ecdsa-sha2-nistp256 {keygen.non_canonical_padding(b64(k['ecdsa256']))}", id="non-canonical-bits"
    ),
    pytest.param(lambda k: f"ssh-ed25519 {b64(k['ed25519'])[:30]} {b64(k['ed25519'])[30:]}", id="space-in-base64"),
    pytest.param(lambda k: f"ssh-rsa {b64(k['rsa2048'])[:32]}\t{b64(k['rsa2048'])[32:]}", id="tab-in-base64"),
    pytest.param(lambda k: f"ssh-ed25519 {b64(k['ed25519'])[:20]}*{b64(k['ed25519'])[21:]}", id="not-base64"),
    pytest.param(lambda k: f"ssh-ed25519 {b64(k['ed25519'])[:20]}é{b64(k['ed25519'])[21:]}", id="non-ascii-base64"),
    pytest.param(lambda k: keygen.line("ssh-ed25519", k["ed25519"].blob[:-5]), id="truncated-ed25519"),
    pytest.param(lambda k: keygen.line("ssh-rsa", k["rsa2048"].blob[:-1]), id="truncated-rsa"),
    pytest.param(lambda k: keygen.line("ssh-ed25519", keygen.ssh_string("ssh-ed25519")), id="type-string-only"),
    pytest.param(lambda k: keygen.line("ssh-ed25519", b"\0\0"), id="blob-shorter-than-a-length"),
    pytest.param(lambda k: keygen.line("ssh-ed25519", k["ed25519"].blob + b"\0"), id="trailing-zero-byte"),
    pytest.param(lambda k: keygen.line("ecdsa-sha2-nistp384", k["ecdsa384"].blob + b"junk"), id="trailing-bytes"),
    pytest.param(
        lambda k: keygen.line("ssh-rsa", keygen.rsa_blob(k["rsa2048"].private_key.public_key(), padded_modulus=True)),
        id="rsa-modulus-padded-with-a-zero-byte",
    ),
    pytest.param(
        lambda k: keygen.line("ssh-rsa", keygen.rsa_blob(k["rsa2048"].private_key.public_key(), exponent=1)),
        id="rsa-exponent-one",
    ),
    pytest.param(
        lambda k: keygen.line("ssh-ed25519", keygen.ssh_string("ssh-ed25519") + keygen.ssh_string(b"\1" * 33)),
        id="ed25519-33-byte-point",
    ),
    pytest.param(lambda k: keygen.ecdsa_line_with_point(k["ecdsa256"], off_curve=True), id="ecdsa-point-off-the-curve"),
    pytest.param(lambda k: keygen.ecdsa_line_with_point(k["ecdsa384"], compressed=True), id="ecdsa-compressed-point"),
    pytest.param(
        lambda k: keygen.rfc4716_block(k["ed25519"].blob, []).replace("AAAA", "AA*A", 1), id="rfc4716-bad-base64"
    ),
    pytest.param(lambda k: keygen.rfc4716_block(b"", ["Comment: nothing"]), id="rfc4716-without-key-data"),
    pytest.param(lambda k: keygen.rfc4716_block(k["ed25519"].blob[:-3], []), id="rfc4716-truncated-blob"),
    pytest.param(lambda k: keygen.pem_public(k["ed25519"].private_key).replace("MC", "M*", 1), id="pem-damaged-body"),
    pytest.param(
        lambda k: keygen.pem_public(k["ed25519"].private_key).replace("END PUBLIC", "END RSA PUBLIC"),
        id="pem-end-label-differs",
    ),
]


@pytest.mark.parametrize("make_text", MALFORMED)
def test_it_refuses_malformed_input(keys: Keys, make_text: Callable[[Keys], str]) -> None:
    exc = refusal(make_text(keys))

    assert exc.code == "malformed"
    assert "AAAA" not in exc.message


@pytest.mark.parametrize(
    "character",
    [
        pytest.param("\x00", id="nul"),
        pytest.param("\x07", id="bell"),
        pytest.param("\x1b[31m", id="ansi-escape"),
        pytest.param("\x0b", id="vertical-tab"),
        pytest.param("\x0c", id="form-feed"),
        pytest.param("\x7f", id="del"),
        pytest.param("\x85", id="c1-next-line"),
        pytest.param("\x9b", id="c1-csi"),
        pytest.param("\u202e", id="bidi-right-to-left-override"),
        pytest.param("\u2066", id="bidi-left-to-right-isolate"),
        pytest.param("\u200f", id="bidi-right-to-left-mark"),
        pytest.param("\ud800", id="lone-surrogate"),
    ],
)
def test_it_refuses_control_characters(keys: Keys, character: str) -> None:
    line = keys["ed25519"].public_line

    assert refusal(f"{line} laptop{character}gpj.exe").code == "malformed"
    assert refusal(line.replace(" ", character, 1)).code == "malformed"
    block = keygen.rfc4716_block(keys["ed25519"].blob, [f'Comment: "laptop{character}"'])
    assert refusal(block).code == "malformed"


PRIVATE_KEYS = [
    pytest.param(lambda k: k["ed25519"].private_path.read_text(), id="openssh-ed25519"),
    pytest.param(lambda k: k["rsa2048"].private_path.read_text(), id="openssh-rsa"),
    pytest.param(lambda k: keygen.encrypted_openssh(k["ed25519"]), id="openssh-encrypted"),
    pytest.param(lambda k: keygen.private_pem(k["rsa2048"], PrivateFormat.TraditionalOpenSSL), id="pem-rsa"),
    pytest.param(
        lambda k: keygen.private_pem(k["rsa2048"], PrivateFormat.TraditionalOpenSSL, b"passphrase"),
        id="pem-rsa-encrypted",
    ),
    pytest.param(lambda k: keygen.private_pem(k["ecdsa256"], PrivateFormat.TraditionalOpenSSL), id="pem-ec"),
    pytest.param(lambda k: keygen.private_pem(k["ed25519"], PrivateFormat.PKCS8), id="pkcs8"),
    pytest.param(lambda k: keygen.private_pem(k["ecdsa384"], PrivateFormat.PKCS8, b"passphrase"), id="pkcs8-encrypted"),
    pytest.param(
        lambda k: "-----BEGIN DSA PRIVATE KEY-----\nMIIBuwIBAAKBgQDm\n-----END DSA PRIVATE KEY-----\n", id="pem-dsa"
    ),
    pytest.param(
        lambda k: (
            "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: eddsa-key-20240101\nPublic-Lines: 2\n"
            f"{b64(k['ed25519'])[:64]}\n{b64(k['ed25519'])[64:]}\nPrivate-Lines: 1\n"
            "AAAAIFl0b3VzaG91bGRub3RwYXN0ZXRoaXNoZXJlAAAA\nPrivate-MAC: 1b2e3f\n"
        ),
        id="putty-ppk",
    ),
    pytest.param(
        lambda k: (
            '---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----\nComment: "rsa-key"\nP2/56wAAA+YAAAA3\n'
            "---- END SSH2 ENCRYPTED PRIVATE KEY ----\n"
        ),
        id="ssh2-encrypted",
    ),
    pytest.param(lambda k: k["ed25519"].public_line + "\n" + k["ed25519"].private_path.read_text(), id="after-public"),
    pytest.param(lambda k: k["ed25519"].private_path.read_text() + k["ed25519"].public_line, id="before-public"),
    pytest.param(
        lambda k: "\n".join(k["ed25519"].private_path.read_text().splitlines()[1:-1]), id="openssh-body-no-armour"
    ),
    pytest.param(lambda k: k["rsa2048"].private_path.read_text().splitlines()[1], id="openssh-first-body-line"),
    pytest.param(lambda k: "-----END RSA PRIVATE KEY-----", id="pem-end-line-alone"),
    pytest.param(lambda k: k["ed25519"].private_path.read_text().lower(), id="lowercase-armour"),
]


@pytest.mark.parametrize("make_text", PRIVATE_KEYS)
def test_it_refuses_private_keys_without_quoting_them(keys: Keys, make_text: Callable[[Keys], str]) -> None:
    text = make_text(keys)

    exc = refusal(text)

    assert exc.code == "private_key"
    assert ".pub" in exc.message or "PuTTYgen" in exc.message
    for line in filter(None, (line.strip() for line in text.splitlines())):
        assert line not in exc.message
        assert all(line not in str(value) for value in exc.params.values())


@pytest.mark.parametrize("version", ["2", "3"])
def test_a_putty_key_file_is_refused_saying_where_puttygen_shows_the_public_key(keys: Keys, version: str) -> None:
    body = b64(keys["ed25519"])
    ppk = (
        f"PuTTY-User-Key-File-{version}: ssh-ed25519\r\nEncryption: none\r\nComment: eddsa-key-20240101\r\n"
        f"Public-Lines: 2\r\n{body[:64]}\r\n{body[64:]}\r\nPrivate-Lines: 1\r\n"
        "AAAAIFl0b3VzaG91bGRub3RwYXN0ZXRoaXNoZXJlAAAA\r\nPrivate-MAC: 1b2e3f\r\n"
    )

    exc = refusal(ppk)

    assert exc.code == "private_key"
    assert "PuTTYgen" in exc.message and "Public key for pasting into OpenSSH authorized_keys file" in exc.message
    assert "AAAAIFl0b3Vz" not in exc.message


MULTIPLE_KEYS = [
    pytest.param(lambda k: f"{k['ed25519'].public_line}\n{k['rsa2048'].public_line}", id="two-lines"),
    pytest.param(lambda k: f"{k['ed25519'].public_line}\r\n{k['ed25519'].public_line}\r\n", id="same-key-twice"),
    pytest.param(lambda k: f"{k['ed25519'].public_line} {k['ecdsa256'].public_line}", id="two-keys-on-one-line"),
    pytest.param(
        lambda k: f"{k['ed25519'].public_line}\n\n{k['rsa2048'].public_line}\n\n{k['ecdsa521'].public_line}",
        id="three-keys-and-blank-lines",
    ),
    pytest.param(
        lambda k: k["ed25519"].public_line + "\n" + keygen.rfc4716_block(k["rsa2048"].blob, []), id="line-and-block"
    ),
    pytest.param(
        lambda k: keygen.rfc4716_block(k["ed25519"].blob, []) + "\n" + keygen.rfc4716_block(k["rsa2048"].blob, []),
        id="two-rfc4716-blocks",
    ),
    pytest.param(
        lambda k: keygen.pem_public(k["ed25519"].private_key) + keygen.pem_public(k["ecdsa256"].private_key),
        id="two-pem-blocks",
    ),
    pytest.param(
        lambda k: (
            without_last_line(keygen.rfc4716_block(k["ed25519"].blob, []))
            + "\n"
            + keygen.rfc4716_block(k["rsa2048"].blob, [])
        ),
        id="unterminated-block-then-block",
    ),
    pytest.param(lambda k: f"ssh-ed25519\n{k['rsa2048'].public_line}", id="lone-type-word-then-key"),
]


@pytest.mark.parametrize("make_text", MULTIPLE_KEYS)
def test_it_refuses_several_keys(keys: Keys, make_text: Callable[[Keys], str]) -> None:
    assert refusal(make_text(keys)).code == "multiple_keys"


@pytest.mark.parametrize(
    ("make_text", "outcome"),
    [
        pytest.param(lambda k: k["ed25519"].public_line, "accepted", id="type-blob-comment-is-one"),
        pytest.param(lambda k: k["ed25519"].public_line + " AAAA-battery-laptop", "accepted", id="short-aaaa-comment"),
        pytest.param(lambda k: relabel(k["ed25519"], "ssh-ed25519") + " ssh-laptop", "accepted", id="type-in-comment"),
        pytest.param(lambda k: f"{k['ed25519'].public_line} {b64(k['rsa2048'])}", "multiple_keys", id="second-blob"),
        pytest.param(lambda k: "ssh-ed25519\n" + b64(k["ed25519"]), "accepted", id="type-then-blob-is-one-wrapped-key"),
        pytest.param(lambda k: "laptop\n" + k["ed25519"].public_line, "options_prefix", id="plain-words-are-no-key"),
        pytest.param(lambda k: "ssh-add -L\n" + k["ed25519"].public_line, "options_prefix", id="ssh-command-is-no-key"),
    ],
)
def test_it_counts_one_key_per_blob_like_word_or_lone_type_word(
    keys: Keys, make_text: Callable[[Keys], str], outcome: str
) -> None:
    try:
        parse_public_key(make_text(keys))
    except InvalidKey as exc:
        assert exc.code == outcome
    else:
        assert outcome == "accepted"


@pytest.mark.parametrize(
    "make_text",
    [
        pytest.param(lambda k: f'no-pty,command="x" {k["ed25519"].public_line}', id="no-pty-command"),
        pytest.param(lambda k: f'from="10.0.0.1" {k["rsa2048"].public_line}', id="from"),
        pytest.param(lambda k: f'command="echo hi there",no-pty {k["ed25519"].public_line}', id="quoted-spaces"),
        pytest.param(lambda k: f"restrict {k['ecdsa256'].public_line}", id="restrict"),
        pytest.param(lambda k: f'environment="PATH=/bin"\t{k["ecdsa384"].public_line}', id="environment-and-tab"),
        pytest.param(lambda k: f'from="x" {keygen.dsa_public_line()}', id="before-an-unsupported-type"),
    ],
)
def test_it_refuses_authorized_keys_options(keys: Keys, make_text: Callable[[Keys], str]) -> None:
    exc = refusal(make_text(keys))

    assert exc.code == "options_prefix"
    assert "command=" in exc.message


def fields(pair: KeyPair) -> str:
    """The type and blob, as a known_hosts line has them after its host field."""
    return " ".join(pair.public_line.split()[:2])


@pytest.mark.parametrize(
    "make_text",
    [
        pytest.param(lambda k: f"github.com,140.82.112.3 {fields(k['ed25519'])}", id="names-and-address"),
        pytest.param(lambda k: f"[git.example.com]:2222 {fields(k['ecdsa256'])}", id="host-and-port"),
        pytest.param(lambda k: f"gpu-node7 {fields(k['rsa2048'])}", id="short-name"),
        pytest.param(lambda k: f"10.0.0.*,!10.0.0.9 {fields(k['ed25519'])}", id="wildcards"),
        pytest.param(lambda k: f"fe80::1 {fields(k['ed25519'])}", id="ipv6"),
        pytest.param(
            lambda k: f"|1|F1E1KeoE/eEWhi10WpGv4OdiO6Y=|3988QV0VE8wmZL7suNrYQLITLCg= {fields(k['ed25519'])}",
            id="hashed",
        ),
        pytest.param(lambda k: f"@cert-authority *.example.com {fields(k['ed25519'])}", id="cert-authority"),
        pytest.param(lambda k: f"@revoked * {fields(k['ed25519'])}", id="revoked"),
    ],
)
def test_a_known_hosts_line_is_named_as_a_servers_key(keys: Keys, make_text: Callable[[Keys], str]) -> None:
    exc = refusal(make_text(keys))

    assert exc.code == "options_prefix"
    assert "known_hosts" in exc.message and "id_ed25519.pub" in exc.message
    assert "command=" not in exc.message


@pytest.mark.parametrize(
    "make_text",
    [
        pytest.param(lambda k: f"> {k['ed25519'].public_line}", id="mail-quote"),
        pytest.param(lambda k: f">> {k['ed25519'].public_line}", id="quoted-twice"),
        pytest.param(lambda k: f">{k['ed25519'].public_line}", id="no-space"),
        pytest.param(
            lambda k: "\n".join("> " + k["rsa4096"].public_line[i : i + 72] for i in range(0, 800, 72)),
            id="wrapped-and-quoted",
        ),
        pytest.param(lambda k: f"> {k['ed25519'].public_line}\n>", id="empty-quoted-line-after"),
    ],
)
def test_a_quoted_key_is_refused_naming_the_quote_mark(keys: Keys, make_text: Callable[[Keys], str]) -> None:
    exc = refusal(make_text(keys))

    assert exc.code == "options_prefix"
    assert "quote mark (>)" in exc.message
    assert "command=" not in exc.message


@pytest.mark.parametrize(
    "make_text",
    [
        pytest.param(lambda k: f"- {k['ed25519'].public_line}", id="bullet"),
        pytest.param(lambda k: f"* {k['ed25519'].public_line}", id="star-bullet"),
        pytest.param(lambda k: f"1. {k['ed25519'].public_line}", id="numbered"),
        pytest.param(lambda k: f"$ {k['ed25519'].public_line}", id="prompt"),
        pytest.param(lambda k: f"Key: {k['ed25519'].public_line}", id="label"),
        pytest.param(lambda k: f"me@laptop:~$ cat id_ed25519.pub {k['ed25519'].public_line}", id="prompt-and-command"),
    ],
)
def test_other_text_in_front_of_the_key_is_named_as_such(keys: Keys, make_text: Callable[[Keys], str]) -> None:
    exc = refusal(make_text(keys))

    assert exc.code == "options_prefix"
    assert "other text in front" in exc.message
    assert "command=" not in exc.message and "known_hosts" not in exc.message


@pytest.mark.parametrize(
    ("above", "name"),
    [
        pytest.param("$ cat ~/.ssh/id_ed25519.pub", "ed25519", id="prompt-and-command"),
        pytest.param("user@host:~$ cat id_rsa.pub", "rsa2048", id="bash-prompt"),
        pytest.param("PS C:\\Users\\me> type .ssh\\id_ed25519.pub", "ed25519", id="powershell"),
        pytest.param("C:\\Users\\me>type .ssh\\id_ed25519.pub", "ed25519", id="cmd"),
        pytest.param("ssh-keygen -y -f ~/.ssh/id_ed25519", "ed25519", id="ssh-keygen-without-prompt"),
        pytest.param("$ ssh-add -L", "ed25519", id="ssh-add"),
        pytest.param("Here is my key:", "ed25519", id="words"),
    ],
)
@pytest.mark.parametrize(
    "dress",
    [
        pytest.param(lambda above, key: f"{above}\n{key}", id="newline"),
        pytest.param(lambda above, key: f"{above}\r\n{key}\r\n", id="windows-line-endings"),
        pytest.param(lambda above, key: f"  {above}\n\n\t{key}\n", id="indented-and-blank-line"),
        pytest.param(
            lambda above, key: above + "\n" + "\n".join(key[i : i + 64] for i in range(0, len(key), 64)),
            id="key-wrapped",
        ),
    ],
)
def test_a_line_above_the_key_is_refused_naming_it(keys: Keys, above: str, name: str, dress) -> None:
    exc = refusal(dress(above, keys[name].public_line))

    assert exc.code == "options_prefix"
    assert exc.params == {"line": above}
    assert f"other text above the key, starting with “{above}”" in exc.message
    assert "single line" not in exc.message


def test_several_lines_above_the_key_are_named_by_the_first(keys: Keys) -> None:
    exc = refusal(f"$ cd ~/.ssh\n$ cat id_ed25519.pub\n{keys['ed25519'].public_line}")

    assert (exc.code, exc.params) == ("options_prefix", {"line": "$ cd ~/.ssh"})


def test_a_long_line_above_the_key_is_quoted_cut_short(keys: Keys) -> None:
    exc = refusal("x" * 500 + "\u202e\n" + keys["ed25519"].public_line)

    assert exc.params["line"] == "x" * 59 + "…"


def test_the_key_below_a_line_is_judged_first(keys: Keys) -> None:
    assert refusal("$ cat ~/.ssh/id_rsa.pub\n" + keys["rsa1024"].public_line).code == "too_weak"
    assert refusal("$ cat ~/.ssh/id_dsa.pub\n" + keygen.dsa_public_line()).code == "unsupported_type"


@pytest.mark.parametrize(
    ("dress", "after"),
    [
        pytest.param(lambda key: f"{key}\nThanks!", "Thanks!", id="thanks"),
        pytest.param(lambda key: f"{key}\r\n\r\nthis is my laptop key\r\n", "this is my laptop key", id="note-crlf"),
        pytest.param(lambda key: f"{key}\nme@host:~$", "me@host:~$", id="prompt-below"),
        pytest.param(lambda key: f"{key}\n감사합니다!", "감사합니다!", id="korean"),
        pytest.param(
            lambda key: "\n".join(key[i : i + 76] for i in range(0, len(key), 76)) + "\nThanks!",
            "Thanks!",
            id="email-wrapped-key-then-thanks",
        ),
    ],
)
@pytest.mark.parametrize("name", ["ed25519", "rsa4096"])
def test_a_line_after_the_key_is_refused_naming_it(keys: Keys, name: str, dress, after: str) -> None:
    exc = refusal(dress(keys[name].public_line))

    assert exc.code == "malformed"
    assert exc.params == {"line": after}
    assert f"other text after the key, starting with “{after}”" in exc.message


def test_lines_above_and_after_the_key_are_both_named(keys: Keys) -> None:
    exc = refusal(f"me@host:~$ cat ~/.ssh/id_ed25519.pub\n{keys['ed25519'].public_line}\nme@host:~$ ")

    assert exc.code == "options_prefix"
    assert exc.params == {"line": "me@host:~$ cat ~/.ssh/id_ed25519.pub", "after": "me@host:~$"}


@pytest.mark.parametrize(
    "wrap",
    [
        # An email wraps at a space: the comment's second word did not fit in 76 columns.
        pytest.param(lambda t, b: f"{t}\n{b} kim\nminsu@laptop", id="email-word-wrap"),
        # A terminal wraps at its width, inside a word: every line but the last is as long.
        pytest.param(lambda t, b: _hard_wrap(f"{t} {b} kim minsu@laptop", 44), id="terminal-wrap-in-the-comment"),
    ],
)
def test_a_comment_wrapped_onto_the_next_line_is_still_joined(keys: Keys, wrap) -> None:
    key_type, blob = keys["ed25519"].public_line.split()[:2]

    key = parse_public_key(wrap(key_type, blob))

    assert key.joined and key.normalized == f"{key_type} {blob}"
    assert key.comment == "kim minsu@laptop"  # the space the email ate put back; none added inside a word


def _hard_wrap(line: str, width: int) -> str:
    return "\n".join(line[i : i + width] for i in range(0, len(line), width))


def padded(line: str, size: int, filler: str = " ") -> str:
    """`line` followed by `filler` up to `size` UTF-8 bytes (or just past it, for a multi-byte filler)."""
    count = -(-(size - len(line.encode())) // len(filler.encode()))
    return line + filler * count


@pytest.mark.parametrize(
    "make_text",
    [
        pytest.param(lambda k: padded(k["ed25519"].public_line, MAX_INPUT_BYTES + 1), id="trailing-whitespace"),
        pytest.param(lambda k: padded(k["ed25519"].public_line + " ", MAX_INPUT_BYTES + 1, "x"), id="long-comment"),
        pytest.param(lambda k: padded(k["ed25519"].public_line + " ", MAX_INPUT_BYTES + 1, "키"), id="korean-comment"),
        pytest.param(lambda k: padded("\n", MAX_INPUT_BYTES + 1, "\n") + k["ed25519"].public_line, id="blank-lines"),
    ],
)
def test_it_refuses_more_than_16_kib_of_utf8(keys: Keys, make_text: Callable[[Keys], str]) -> None:
    assert refusal(make_text(keys)).code == "too_long"


def test_it_measures_16_kib_in_utf8_bytes_before_trimming(keys: Keys) -> None:
    line = keys["ed25519"].public_line
    korean = padded(line + " ", MAX_INPUT_BYTES + 1, "키")

    assert len(korean) < MAX_INPUT_BYTES < len(korean.encode())
    assert refusal(korean).code == "too_long"
    assert len(padded(line, MAX_INPUT_BYTES + 1).encode()) == MAX_INPUT_BYTES + 1
    assert parse_public_key(padded(line, MAX_INPUT_BYTES)).comment == "ed25519@test"


@pytest.mark.parametrize(
    ("make_text", "code"),
    [
        pytest.param(lambda k: "my key:" + " " * 3 * MAX_INPUT_BYTES + "thanks", "too_long", id="spaces-between-words"),
        pytest.param(lambda k: "x" + "'" * 3 * MAX_INPUT_BYTES + "y", "too_long", id="quotes-then-a-word"),
        pytest.param(lambda k: k["ed25519"].public_line + " a" + "\t" * 15000 + "b", None, id="tabs-inside-a-comment"),
        # Read as a known_hosts host field: a pattern with a letter between two runs took 5 s on this one.
        pytest.param(
            lambda k: "a" * 15000 + ": " + k["ed25519"].public_line, "options_prefix", id="a-long-word-in-front"
        ),
        pytest.param(lambda k: "a:" * 7500 + " " + k["ed25519"].public_line, "options_prefix", id="a-long-host-list"),
    ],
)
def test_a_long_run_of_spaces_inside_a_line_is_read_in_linear_time(
    keys: Keys, make_text: Callable[[Keys], str], code: str | None
) -> None:
    text = make_text(keys)
    started = time.perf_counter()

    try:
        parse_public_key(text)
        outcome = None
    except InvalidKey as exc:
        outcome = exc.code

    assert outcome == code
    assert time.perf_counter() - started < 1.0  # quadratic trimming of the run took 2 to 14 s


def test_it_refuses_weak_rsa_and_names_the_size(keys: Keys) -> None:
    exc = refusal(keys["rsa1024"].public_line)
    assert exc.code == "too_weak"
    assert "1024" in exc.message

    assert refusal(keygen.rfc4716_block(keys["rsa1024"].blob, [])).code == "too_weak"
    assert refusal(keygen.pem_public(keys["rsa1024"].private_key)).code == "too_weak"
    assert refusal(keys["rsa2048"].public_line, min_rsa_bits=3072).params == {"bits": 2048, "min_bits": 3072}
    assert parse_public_key(keys["rsa1024"].public_line, min_rsa_bits=1024).bits == 1024
    assert parse_public_key(keys["ed25519"].public_line, min_rsa_bits=8192).bits == 256


def rsa_line_of(bits: int) -> str:
    """An RSA public key whose modulus has exactly `bits` bits (odd, not a product of two primes: enough for
    the parser, which does not factor it)."""
    blob = keygen.ssh_string("ssh-rsa") + keygen.ssh_mpint(65537) + keygen.ssh_mpint((1 << (bits - 1)) + 1)
    return keygen.line("ssh-rsa", blob, f"rsa{bits}@test")


def test_it_refuses_rsa_keys_larger_than_openssh_reads() -> None:
    assert parse_public_key(rsa_line_of(16384)).bits == 16384

    exc = refusal(rsa_line_of(16385))
    assert exc.code == "malformed"
    assert exc.params == {"bits": 16385, "max_bits": 16384}
    assert "16385" in exc.message and "16384" in exc.message
    assert refusal(rsa_line_of(40000), min_rsa_bits=1024).params["bits"] == 40000


@pytest.mark.parametrize(
    ("make_text", "code"),
    [
        pytest.param(
            lambda k: k["ed25519"].private_path.read_text() + " " * MAX_INPUT_BYTES,
            "private_key",
            id="private-key-wins-over-too-long",
        ),
        pytest.param(
            lambda k: (
                f"{k['ed25519'].public_line}\n{k['rsa2048'].public_line}\n" + k["rsa2048"].private_path.read_text()
            ),
            "private_key",
            id="private-key-before-multiple-keys",
        ),
        pytest.param(
            lambda k: f'from="a" {k["ed25519"].public_line}\nfrom="b" {k["rsa2048"].public_line}',
            "multiple_keys",
            id="multiple-keys-before-options",
        ),
        pytest.param(
            lambda k: f"{k['ed25519'].public_line} \x00\n{k['rsa2048'].public_line}",
            "multiple_keys",
            id="multiple-keys-before-control-characters",
        ),
        pytest.param(
            lambda k: f'command="x" {k["ed25519"].public_line}\x1b', "malformed", id="control-characters-before-options"
        ),
        pytest.param(lambda k: f'from="x" ssh-dss {b64(k["ed25519"])}', "options_prefix", id="options-before-type"),
        pytest.param(lambda k: "ssh-dss !!not-base64!!", "unsupported_type", id="type-before-base64"),
        pytest.param(
            lambda k: relabel(k["ecdsa384"], "ecdsa-sha2-nistp256").replace("=", ""),
            "malformed",
            id="base64-before-type-mismatch",
        ),
        pytest.param(
            lambda k: keygen.line("ssh-rsa", k["ed25519"].blob[:-4]), "type_mismatch", id="type-mismatch-before-parse"
        ),
        pytest.param(
            lambda k: keygen.line("ssh-rsa", k["rsa1024"].blob + b"\0"), "malformed", id="parse-before-too-weak"
        ),
    ],
)
def test_the_first_matching_refusal_decides(keys: Keys, make_text: Callable[[Keys], str], code: str) -> None:
    assert refusal(make_text(keys)).code == code


# ---------------------------------------------------------------------------------------------- properties


def assert_key_or_refusal(text: str) -> None:
    """Only PublicKey or InvalidKey may come out; an accepted key's normalized form is the same key."""
    try:
        key = parse_public_key(text, min_rsa_bits=1024)
    except InvalidKey as exc:
        assert exc.code in CODES
        assert exc.message == exc.template % exc.params
        return
    again = parse_public_key(key.normalized, min_rsa_bits=1024)
    assert (again.fingerprint_sha256, again.normalized, again.comment) == (key.fingerprint_sha256, key.normalized, "")


KEYISH = st.text(alphabet='sh-ed25519rcapAQB3Nz/+=\r\n\t -BEGINPUBLICKY:"\\', max_size=200)


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.text(max_size=300), KEYISH))
def test_arbitrary_text_gives_a_key_or_invalid_key(text: str) -> None:
    assert_key_or_refusal(text)


def flip_blob_byte(text: str, position: int, mask: int) -> str:
    """XOR one byte of the decoded blob of a `type base64 [comment]` line, keeping the base64 strict."""
    words = text.split(" ", 2)
    try:
        blob = bytearray(base64.b64decode(words[1], validate=True))
    except (IndexError, ValueError):
        return text
    if blob:
        blob[position % len(blob)] ^= mask
    return " ".join([words[0], base64.b64encode(blob).decode(), *words[2:]])


@st.composite
def mutations(draw: st.DrawFn, text: str) -> str:
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["flip-blob-byte", "replace", "truncate", "insert", "split"]))
        if kind == "flip-blob-byte":
            text = flip_blob_byte(text, at, draw(st.integers(1, 255)))
        elif kind == "replace":
            text = text[:at] + draw(st.characters()) + text[at + 1 :]
        elif kind == "truncate":
            text = text[:at]
        elif kind == "insert":
            text = text[:at] + draw(st.text(max_size=4)) + text[at:]
        else:
            text = text[:at] + draw(st.sampled_from(["\n", "\r\n", "\r", " ", "\t", "\n\n"])) + text[at:]
    return text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_keys_give_a_key_or_invalid_key(keys: Keys, data: st.DataObject) -> None:
    originals = [keys[name].public_line for name in ["rsa1024", "rsa2048", "ed25519", "ecdsa256", "ecdsa521"]]
    originals.append(keygen.rfc4716_block(keys["ecdsa384"].blob, ['Comment: "a \\', 'b"']))
    originals.append(keygen.pem_public(keys["ed25519"].private_key))
    text = data.draw(st.sampled_from(originals).flatmap(mutations))

    assert_key_or_refusal(text)


WRAPPED = [
    pytest.param(lambda k: k["ed25519"].public_line[:40] + "\n" + k["ed25519"].public_line[40:], id="cut-in-the-blob"),
    pytest.param(lambda k: k["ed25519"].public_line.replace(" ", "\n", 1), id="type-and-blob-on-two-lines"),
    pytest.param(lambda k: relabel(k["ed25519"], "ssh-ed25519").replace(" ed25519", "\ned25519"), id="comment-below"),
    pytest.param(
        lambda k: "\r\n".join(
            k["rsa4096"].public_line[i : i + 76] for i in range(0, len(k["rsa4096"].public_line), 76)
        ),
        id="email-client-at-76-columns",
    ),
]


@pytest.mark.parametrize("make_text", WRAPPED)
def test_a_key_wrapped_over_several_lines_is_joined_and_says_so(keys: Keys, make_text) -> None:
    text = make_text(keys)
    kind = "rsa4096" if "ssh-rsa" in text else "ed25519"

    key = parse_public_key(text)

    whole = parse_public_key(keys[kind].public_line)
    assert key.joined and not whole.joined
    assert (key.fingerprint_sha256, key.normalized) == (whole.fingerprint_sha256, whole.normalized)


@pytest.mark.parametrize(
    "make_text",
    [
        pytest.param(
            lambda k: k["ed25519"].public_line[:40] + "\nnot base64 at all\n" + k["ed25519"].public_line[40:],
            id="words-inside",
        ),
        pytest.param(
            lambda k: k["ed25519"].public_line[:40] + "\n" + k["rsa2048"].public_line[40:], id="two-halves-of-two-keys"
        ),
    ],
)
def test_text_that_joins_into_no_single_key_is_still_refused(keys: Keys, make_text) -> None:
    assert refusal(make_text(keys)).code == "malformed"


@pytest.mark.parametrize("space", ["\u00a0", "\u3000", "\u2009", "\u202f", " \u00a0\t"])
def test_unicode_spaces_between_the_fields_read_as_spaces(keys: Keys, space: str) -> None:
    line = " ".join(keys["ed25519"].public_line.split()[:2]) + " kim minsu@laptop"

    key = parse_public_key(space + line.replace(" ", space, 2) + space)

    whole = parse_public_key(line)
    assert (key.key_type, key.normalized, key.comment) == (whole.key_type, whole.normalized, "kim minsu@laptop")


@pytest.mark.parametrize("character", ["\u200b", "\u2060", "\u00ad", "\ufeff", "\u200d"])
@pytest.mark.parametrize(
    "dress",
    [
        pytest.param(lambda line, c: c + line, id="before-the-type"),
        pytest.param(lambda line, c: line.replace(" ", c + " ", 1), id="after-the-type"),
        pytest.param(lambda line, c: line[:40] + c + line[40:], id="inside-the-base64"),
        pytest.param(lambda line, c: line.replace(" ", c + " ").replace(c + " ", " ", 1), id="after-the-base64"),
    ],
)
def test_zero_width_characters_a_web_page_adds_are_not_part_of_the_key(keys: Keys, dress, character: str) -> None:
    line = keys["ed25519"].public_line

    key = parse_public_key(dress(line, character))

    whole = parse_public_key(line)
    assert (key.key_type, key.normalized, key.comment) == (whole.key_type, whole.normalized, whole.comment)


@pytest.mark.parametrize(
    "dress",
    [
        pytest.param(lambda line: f"`{line}`", id="backticks"),
        pytest.param(lambda line: f"```{line}```", id="triple-backticks"),
        pytest.param(lambda line: f"```\n{line}\n```", id="fenced"),
        pytest.param(lambda line: f"~~~text\n{line}\n~~~\n", id="fenced-with-tildes-and-a-language"),
        pytest.param(lambda line: f'"{line}"', id="double-quotes"),
        pytest.param(lambda line: f"'{line}'", id="single-quotes"),
        pytest.param(lambda line: f"\u201c{line}\u201d", id="curly-quotes"),
        pytest.param(lambda line: f"```\n{line[:60]}\n{line[60:]}\n```", id="fenced-and-wrapped"),
    ],
)
def test_a_key_in_backticks_quotes_or_a_code_fence_is_read(keys: Keys, dress: Callable[[str], str]) -> None:
    line = keys["ed25519"].public_line

    key = parse_public_key(dress(line))

    whole = parse_public_key(line)
    assert (key.normalized, key.comment) == (whole.normalized, whole.comment)


@pytest.mark.parametrize("text", ['"', "``", "```\n```", "'ssh-ed25519'"])
def test_quotes_around_no_key_are_still_refused(text: str) -> None:
    assert refusal(text).code in {"malformed", "unsupported_type"}


def test_two_keys_joined_by_a_no_break_space_are_two_keys(keys: Keys) -> None:
    text = keys["ed25519"].public_line + "\u00a0" + keys["rsa2048"].public_line

    with pytest.raises(InvalidKey) as refused:
        parse_public_key(text)

    assert refused.value.code == "multiple_keys"

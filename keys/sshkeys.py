"""Parse the one SSH public key a member pastes, and apply the portal's key policy.

Pure: imports nothing from Django, so it can be tested and benchmarked alone. The key itself is
parsed by `cryptography`; this module only finds the key in the pasted text and decides which
refusal applies first (see `parse_public_key`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, replace

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_der_private_key,
    load_pem_public_key,
    load_ssh_public_key,
)


def gettext_noop(s: str) -> str:
    """Marks a message for makemessages; the Django form translates it later with gettext(exc.template)."""
    return s


# NSML's list, in its order (its "ecdsa-sha-nistp256" is a typo for the third).
ACCEPTED_TYPES = ("ssh-rsa", "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521")
MAX_INPUT_BYTES = 16 * 1024
# OpenSSH reads no larger RSA key (ssh-keygen, sshd): one past it would be registered but never let anyone in.
MAX_RSA_BITS = 16384
# A 16384-bit RSA key wrapped at 64 columns is about 45 lines; more than this is not one wrapped key.
MAX_WRAPPED_LINES = 64
# A key's type and base64 are at most this long (RSA 16384: 2764 characters): its data ends within them.
MAX_KEY_DATA_CHARS = 3072
# The base64 of the largest private key body worth recognising (RSA 16384, PKCS#8, encrypted) and then some.
MAX_PRIVATE_BODY_CHARS = 16 * 1024
_BASE64_TEXT = re.compile(r"[A-Za-z0-9+/]+=*")
PRIVATE_KEY_MESSAGE = gettext_noop(
    "This is your private key, which must never leave your computer. Paste your public "
    "key instead: the contents of the .pub file, for example ~/.ssh/id_ed25519.pub. If you "
    "have shared this private key anywhere, make a new key pair."
)
# A PuTTY user has no .pub file to copy: PuTTYgen shows the public key to paste.
PUTTY_PRIVATE_KEY_MESSAGE = gettext_noop(
    "This is a PuTTY private key file (.ppk), which must never leave your computer. Open it in PuTTYgen "
    "(Load) and paste the text under “Public key for pasting into OpenSSH authorized_keys file” "
    "instead. If you have shared this file anywhere, make a new key pair."
)
_PUTTY_KEY_FILE = re.compile(r"PuTTY-User-Key-File-", re.IGNORECASE)
TOO_LONG_MESSAGE = gettext_noop(
    "This is longer than %(max_kib)d KiB, far more than any public key. Paste only the contents of your .pub file."
)
TEXT_AFTER_MESSAGE = gettext_noop(
    "There is other text after the key, starting with “%(line)s”. Paste only the contents of your .pub file, "
    "with nothing after it."
)

# Armour of any private key format (OpenSSH, PEM, PKCS#8, SSH2), PuTTY's .ppk fields, and the base64 of
# OpenSSH's "openssh-key-v1" magic, which starts every OpenSSH private key body even without its armour.
# The label is bounded so that text full of "BEGIN " costs linear time, not quadratic.
# Traditional PEM encryption headers too: an encrypted key pasted without its BEGIN/END lines keeps them.
# "BEGIN"/"END" as a word (not "backend private key" in a comment); the header fields at a line's start.
_PRIVATE_KEY_MARKER = re.compile(
    r"(?i:\b(?:BEGIN|END) [A-Z0-9 ]{0,40}PRIVATE KEY"
    r"|(?:^|[\r\n])[ \t>\"']*(?:PuTTY-User-Key-File-|Private-Lines:|Proc-Type: ?4, ?ENCRYPTED|DEK-Info:))"
    r"|b3BlbnNzaC1rZXktdjE"
)
# Any run of spaces, tabs, line breaks, no-break and zero-width spaces: the armour read however it was pasted.
_ANY_SPACE = re.compile(r"[\s\u00a0\u1680\u2000-\u200d\u202f\u205f\u2060\u3000\ufeff]+")
# What quoting leaves at the start and end of a line: "> " from a mail or chat, quotes from a string.
# A trailing run is tried only where it starts (the lookbehind): tried from each of its characters, a long
# run inside a line cost quadratic time (64 KiB of spaces between two words took 14 s).
_QUOTING = re.compile(r"(?m)^[ \t>\"']+|(?<![ \t\"',;])[ \t\"',;]+$")
# A run of base64 that may hold a key body, line breaks and spaces within it allowed. It starts only where a
# run starts (the lookbehind): a run shorter than 64 is then read once, not again from each of its characters,
# which made a log line of ordinary words cost about 70 us (portal.logs checks every line).
_BASE64_RUN = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/=](?:[A-Za-z0-9+/=]|\s(?=[A-Za-z0-9+/=])){63,}")
# A "/" that a private key's base64 may follow (a URL's path): a DER SEQUENCE starts "M", "-----" "LS0t".
_BODY_AFTER_SLASH = re.compile(r"/(?=M|LS0t)")
# The lines of a key file's body: PEM wraps at 64 columns, OpenSSH at 70.
_BODY_LINE = re.compile(r"[A-Za-z0-9+/]{64}|[A-Za-z0-9+/]{70}")
# Words that start a public key (or its RFC 4716 armour): a text with one is not a bare private body.
_PUBLIC_KEY_WORD = re.compile(r"(?i:ssh-|ecdsa-|sk-|PUBLIC KEY)")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# Between a key's fields: spaces and tabs, and the no-break, wide and ideographic spaces that a chat, a web page,
# a word processor or a Korean input method puts where the .pub file had a space.
_FIELD_SPACES = " \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"
_FIELD_SEPARATOR = re.compile(f"[{_FIELD_SPACES}]+")
_EDGE_SPACE = re.compile(f"^[{_FIELD_SPACES}]+|(?<![{_FIELD_SPACES}])[{_FIELD_SPACES}]+$")  # linear, as _QUOTING
# Invisible characters that a web page, a wiki or a chat puts inside long words so that they wrap (zero-width
# and word-joiner spaces, soft hyphens, a byte order mark): never part of a key type or its base64, so removed
# from those two fields; the comment keeps them (an emoji's joiner).
_ZERO_WIDTH = re.compile("[\u00ad\u200b-\u200d\u2060\ufeff]")
# Line breaks are gone by the time this applies; bidi controls can make a comment display as something else.
_FORBIDDEN_CHARACTER = re.compile(
    r"[\x00-\x08\x0a-\x1f\x7f-\x9f"  # C0 except tab, DEL, C1
    r"\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"  # bidirectional controls
    r"\ud800-\udfff]"  # lone surrogates, which are not text
)
# A word that looks like an SSH key type, accepted or not: ssh-dss, sk-..., certificates, typos.
_TYPE_LIKE = re.compile(r"(?:ssh|ecdsa|sk)-[A-Za-z0-9@._+-]+")
# Every SSH blob's base64 starts with AAAA: it opens with the (small) length of its type name.
_BLOB_LIKE = re.compile(r"AAAA[A-Za-z0-9+/]{12}")
_RFC4716_BEGIN = re.compile(r"-{4,5} ?BEGIN SSH2 PUBLIC KEY ?-{4,5}")
_RFC4716_END = re.compile(r"-{4,5} ?END SSH2 PUBLIC KEY ?-{4,5}")
_PEM_BEGIN = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----")
_PEM_END = re.compile(r"-----END ([A-Z0-9 ]+)-----")
_PEM_PUBLIC_KEY_LABELS = ("PUBLIC KEY", "RSA PUBLIC KEY")
_EC_CURVE_TYPES = {
    "secp256r1": "ecdsa-sha2-nistp256",
    "secp384r1": "ecdsa-sha2-nistp384",
    "secp521r1": "ecdsa-sha2-nistp521",
}
_CERTIFICATE_SUFFIX = "-cert-v01@openssh.com"
# Markdown's fence lines, with a language name or not, and the quotes a chat or a string literal puts around text.
_CODE_FENCE = re.compile(r"(?:`{3,}|~{3,})[A-Za-z0-9_+-]*")
_CLOSING_QUOTES = {"```": "```", "`": "`", '"': '"', "'": "'", "\u201c": "\u201d", "\u2018": "\u2019"}
_OPENING_QUOTE = re.compile("```|[`\"'\u201c\u2018]")
# A fingerprint as ssh-keygen -l prints it (SHA256:..., MD5:...), or as this portal and NSML list it (hex pairs).
_FINGERPRINT = re.compile(r"SHA256:[A-Za-z0-9+/]{43}|(?:MD5:)?[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){15}")
# authorized_keys options (sshd(8)), as they start the words in front of a key: `no-pty,command="x" ssh-...`.
_OPTION_NAME = re.compile(r"[A-Za-z0-9-]+(?==|,|$)")
_OPTION_NAMES = frozenset(
    "agent-forwarding cert-authority command environment expiry-time from no-agent-forwarding no-port-forwarding "
    "no-pty no-touch-required no-user-rc no-x11-forwarding permitlisten permitopen port-forwarding principals pty "
    "restrict tunnel user-rc verify-required x11-forwarding".split()
)
# The fields in front of a key in a known_hosts line (sshd(8)): a marker, then host patterns (a comma list of
# names, addresses, [host]:port, with wildcards; `_is_host_pattern`) or one hashed name.
_KNOWN_HOSTS_MARKERS = ("@cert-authority", "@revoked")
_HASHED_HOST = re.compile(r"\|1\|[A-Za-z0-9+/]+=*\|[A-Za-z0-9+/]+=*")
# One class, no alternatives inside: linear on a long word (a pattern with a letter between two runs of the class
# took 5 s on a 15 KB one). The letter or digit, and no colon at the end, are checked apart.
_HOST_PATTERN = re.compile(r"!?(?:\[[^\]\s]+\]:[0-9]+|[A-Za-z0-9.*?:_-]+)")
_LETTER_OR_DIGIT = re.compile(r"[A-Za-z0-9]")
_LIST_NUMBER = re.compile(r"[0-9]+[.)]")
# OpenSSH's own commands look like a key type: "ssh-add -L" or "ssh-keygen -y -f ..." copied above a key is no key.
_SSH_COMMANDS = frozenset("ssh-add ssh-agent ssh-copy-id ssh-keygen ssh-keyscan ssh-keysign".split())
# How much of a stray line a refusal quotes: enough to recognise it, never a screenful.
MAX_QUOTED_LINE = 60


@dataclass(frozen=True)
class PublicKey:
    key_type: str
    bits: int
    comment: str
    fingerprint_sha256: str  # as `ssh-keygen -l -E sha256` prints it
    fingerprint_md5: str  # as `ssh-keygen -l -E md5` prints it, without "MD5:"
    normalized: str  # "type base64", no comment
    joined: bool = False  # it came wrapped over several lines, and the portal joined them

    @property
    def md5_name(self) -> str:
        """The name NSML gives the key: the MD5 fingerprint's 32 hex digits."""
        return self.fingerprint_md5.replace(":", "")


class InvalidKey(Exception):
    """A refused key: `code` is stable for callers, `template % params` is what the member reads."""

    def __init__(self, code: str, template: str, params: dict[str, object] | None = None) -> None:
        self.code = code
        self.template = template
        self.params = params or {}
        self.message = template % self.params
        super().__init__(self.message)


# Where ssh-keygen writes each type's public key by default.
USUAL_PUBLIC_KEY_FILES = {
    "ssh-ed25519": "id_ed25519.pub",
    "ssh-rsa": "id_rsa.pub",
    "ecdsa-sha2-nistp256": "id_ecdsa.pub",
    "ecdsa-sha2-nistp384": "id_ecdsa.pub",
    "ecdsa-sha2-nistp521": "id_ecdsa.pub",
}


def usual_public_key_file(key_type: str) -> str:
    """The file ssh-keygen writes a key of this type to, e.g. id_rsa.pub (id_ed25519.pub when unknown)."""
    return USUAL_PUBLIC_KEY_FILES.get(key_type, "id_ed25519.pub")


def private_key_message(text: str) -> str:
    """The refusal of `text`, which holds a private key: how to find the public key depends on the tool."""
    return PUTTY_PRIVATE_KEY_MESSAGE if _PUTTY_KEY_FILE.search(text) else PRIVATE_KEY_MESSAGE


def holds_private_key(text: str) -> bool:
    """True when `text` carries private-key material anywhere in it: the armour of any private key format
    (with any spacing: tabs, no-break or zero-width spaces, a line break), an unarmoured OpenSSH, PKCS#1,
    SEC1 or PKCS#8 body (whole, or cut short by a selection), quoted ("> ", quotes), inside a longer text
    such as a public key's comment, or base64-encoded again (a Kubernetes secret's key file); or lines
    that can only be a key file's body (full 64- or 70-column base64 lines, no public key in sight)."""
    if len(text) > 4 * MAX_INPUT_BYTES:
        text = text[: 4 * MAX_INPUT_BYTES]  # a text this long is refused as too long; enough is looked at
    spaced = _ANY_SPACE.sub(" ", text)
    if _PRIVATE_KEY_MARKER.search(text) or _PRIVATE_KEY_MARKER.search(spaced):
        return True
    unquoted = _QUOTING.sub("", text)
    if _is_private_der_body(text) or _is_private_der_body(unquoted):
        return True
    for run in _BASE64_RUN.finditer(unquoted):
        # The run as one body (wrapped lines), and each word of it (a body after a public key's blob).
        if any(_holds_private_body(part) for part in (run.group(), *run.group().split()) if len(part) >= 64):
            return True
        # A body after a "/" of a URL's path (/api/v1/keys/MIIE...): "/" is base64 too, so the run began at the
        # path. The start of a body is enough to know it: 64 characters read after each "/".
        if any(
            _holds_private_body(run.group()[at.end() : at.end() + 64]) for at in _BODY_AFTER_SLASH.finditer(run.group())
        ):
            return True
    return _looks_like_a_key_file_body(unquoted)


def _holds_private_body(run: str) -> bool:
    """A base64 run that decodes to the start of a private key's DER, or to text with private key armour."""
    compact = "".join(run.split()).rstrip("=")
    usable = len(compact) - len(compact) % 4
    try:
        data = base64.b64decode(compact[:usable], validate=True)
    except binascii.Error:
        return False
    if _starts_private_der(data):
        return True
    if data[:10] == b"-----BEGIN" or data[:15] == b"openssh-key-v1\x00":
        return True  # a key file, base64-encoded once more
    return False


def _starts_private_der(data: bytes) -> bool:
    """The first bytes of a private key's DER, even cut short: a SEQUENCE whose first element is the
    version INTEGER 0 (PKCS#1 RSA, PKCS#8) or 1 followed by an OCTET STRING (SEC1 EC), or an encrypted
    PKCS#8 (a SEQUENCE of an AlgorithmIdentifier with a PKCS#5 or PKCS#12 encryption OID). A public key's
    DER (SubjectPublicKeyInfo, PKCS#1 RSAPublicKey) and a certificate start otherwise; an SSH blob starts
    with its length, 00 00 00."""
    inner = _after_sequence_header(data)
    if inner is None:
        return False
    if inner.startswith(b"\x02\x01\x00") or inner.startswith(b"\x02\x01\x01\x04"):
        return True
    algorithm = _after_sequence_header(inner)
    return algorithm is not None and (
        algorithm.startswith(b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x05")  # PKCS#5 (PBES1, PBES2)
        or algorithm.startswith(b"\x06\x0a\x2a\x86\x48\x86\xf7\x0d\x01\x0c\x01")  # PKCS#12 PBE
    )


def _after_sequence_header(data: bytes) -> bytes | None:
    """What follows a DER SEQUENCE's tag and length, or None when `data` does not start with one."""
    if len(data) < 2 or data[0] != 0x30:
        return None
    length = data[1]
    if length < 0x80:
        return data[2:]
    octets = length & 0x7F
    return data[2 + octets :] if 1 <= octets <= 4 else None


def _looks_like_a_key_file_body(text: str) -> bool:
    """Three or more full-width base64 lines and no public key word: a key file's body, its first or
    last line lost to the selection. No public key is pasted this way."""
    if _PUBLIC_KEY_WORD.search(text):
        return False
    lines = [line.strip() for line in _LINE_BREAK.split(text) if line.strip()]
    return sum(1 for line in lines if _BODY_LINE.fullmatch(line)) >= 3


def _is_private_der_body(text: str) -> bool:
    """A PEM body without its BEGIN/END lines: base64 of DER that loads as a private key (or asks for
    the password of an encrypted one). A public key's blob or DER never does."""
    compact = "".join(text.split())
    if not 64 <= len(compact) <= MAX_PRIVATE_BODY_CHARS or not _BASE64_TEXT.fullmatch(compact):
        return False
    try:
        data = base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except binascii.Error:
        return False
    if not data.startswith(b"\x30"):  # every DER private key is a SEQUENCE
        return False
    try:
        load_der_private_key(data, password=None)
    except TypeError:
        return True  # encrypted: still a private key
    except (ValueError, UnsupportedAlgorithm):
        return False
    return True


def parse_public_key(text: str, *, min_rsa_bits: int = 2048) -> PublicKey:
    """The one public key in `text`, or InvalidKey for the first refusal that applies, in this order:

    private_key, too_long, malformed (empty), multiple_keys, options_prefix (a quote mark), options_prefix
    (lines above a key that reads, after the key's own refusal), malformed (lines after a key, stray lines,
    unterminated block),
    malformed (control characters), options_prefix (words in front of the type),
    unsupported_type, malformed (missing blob, non-strict base64), type_mismatch, malformed (blob does not
    parse completely), too_weak.
    """
    if holds_private_key(text):
        # Never quote the input here: it is a secret.
        raise InvalidKey("private_key", private_key_message(text))
    if len(text.encode("utf-8", "surrogatepass")) > MAX_INPUT_BYTES:
        raise InvalidKey("too_long", TOO_LONG_MESSAGE, {"max_kib": MAX_INPUT_BYTES // 1024})
    lines = [_EDGE_SPACE.sub("", line) for line in _LINE_BREAK.split(text.removeprefix("\ufeff"))]
    lines = _without_code_quotes([line for line in lines if line])
    if not lines:
        raise InvalidKey("malformed", gettext_noop("Paste your public key: the contents of your .pub file."))

    blocks, loose_lines = _split_blocks(lines)
    count = len(blocks) + sum(_count_keys(line) for line in loose_lines)
    if count > 1:
        raise InvalidKey(
            "multiple_keys",
            gettext_noop("This contains %(count)d keys. Paste one public key at a time."),
            {"count": count},
        )
    if lines[0].startswith(">"):
        # No key starts with ">": it is a quote mark. Refused, not removed: a quoted key is most often someone
        # else's, from the message being answered, and the member should paste their own from their .pub file.
        raise InvalidKey(
            "options_prefix",
            gettext_noop(
                "The key starts with a quote mark (>), which an email or a chat adds when it quotes a message. "
                "Paste your own public key as it is in your .pub file: remove the > at the start of each line, "
                "or copy the key again from the file itself."
            ),
        )
    if blocks:
        _check_block_stands_alone(blocks[0], loose_lines)
    elif len(loose_lines) > 1:
        start = next((i for i, line in enumerate(loose_lines) if _starts_a_key(line)), 0)
        if start:
            # A terminal or chat copy: the command or words above the key. The key below them is read first, so
            # what is wrong with it is said first; then the lines above are named, never guessed away.
            try:
                parse_public_key("\n".join(loose_lines[start:]), min_rsa_bits=min_rsa_bits)
            except InvalidKey as below:
                if below.template != TEXT_AFTER_MESSAGE:
                    raise
                raise InvalidKey(
                    "options_prefix",
                    gettext_noop(
                        "There is other text above and after the key, starting with “%(line)s” and “%(after)s”. "
                        "Delete both: paste only the contents of your .pub file."
                    ),
                    {"line": quoted_line(loose_lines[0]), "after": below.params["line"]},
                ) from None
            raise InvalidKey(
                "options_prefix",
                gettext_noop(
                    "There is other text above the key, starting with “%(line)s”. Delete it: paste only the "
                    "contents of your .pub file, which starts with the key's type (for example ssh-ed25519)."
                ),
                {"line": quoted_line(loose_lines[0])},
            )
        return _read_wrapped(loose_lines, min_rsa_bits)
    key_lines = blocks[0] if blocks else loose_lines
    if any(_FORBIDDEN_CHARACTER.search(line) for line in key_lines):
        raise InvalidKey(
            "malformed",
            gettext_noop(
                "The key contains invisible control or text-direction characters. Copy it again from "
                "your .pub file, and type the comment again if you edited it."
            ),
        )

    if not blocks:
        key_type, blob, comment = _read_openssh_line(key_lines[0])
    elif _RFC4716_BEGIN.fullmatch(key_lines[0]):
        key_type, blob, comment = _read_rfc4716_block(key_lines)
    else:
        key_type, blob, comment = _read_pem_block(key_lines)
    return _load_key(key_type, blob, comment, min_rsa_bits)


def _without_code_quotes(lines: list[str]) -> list[str]:
    """The lines without what a chat, Markdown or a string literal puts around a key: fence lines (```, ~~~)
    and one pair of backticks or quotes around the whole text. No key type starts with either, so nothing
    of a key is taken away."""
    while lines and _CODE_FENCE.fullmatch(lines[0]):
        lines = lines[1:]
    while lines and _CODE_FENCE.fullmatch(lines[-1]):
        lines = lines[:-1]
    if not lines:
        return lines
    opening = _OPENING_QUOTE.match(lines[0])
    if opening and lines[-1].endswith(_CLOSING_QUOTES[opening.group()]):
        lines = [lines[0][opening.end() :], *lines[1:]]
        lines[-1] = lines[-1][: -len(_CLOSING_QUOTES[opening.group()])]
        lines = [line for line in (_EDGE_SPACE.sub("", line) for line in lines) if line]
    return lines


def _read_wrapped(lines: list[str], min_rsa_bits: int) -> PublicKey:
    """A key over several lines: joined when it was wrapped; refused, naming the first line after it, when the
    lines after the key's comment began are not a wrap of it ("Thanks!", a prompt, a note)."""
    end, key, before = 0, None, 0
    while key is None and end < min(len(lines), MAX_WRAPPED_LINES) and before <= MAX_KEY_DATA_CHARS:
        before += len(lines[end])
        end += 1
        key = _reads_as_key(lines[:end], min_rsa_bits)
    if key is None:
        raise InvalidKey(
            "malformed",
            gettext_noop(
                "Paste the key on a single line, exactly as it is in your .pub file: its type, the key "
                "data, then an optional comment."
            ),
        )
    # The comment starts on the key's last line when that line has one, else on the line after it.
    comment_line = end - 1 if key.comment else end
    stray = next((j for j in range(comment_line + 1, len(lines)) if not _wraps_onto(lines, j)), None)
    if stray is not None:
        joined = None
    elif end == len(lines) > 1:
        joined = key  # the key took every line: _reads_as_key joined them already
    else:
        joined = _join_wrapped(lines, min_rsa_bits)
    if joined is None:
        raise InvalidKey(
            "malformed",
            TEXT_AFTER_MESSAGE,
            {"line": quoted_line(lines[stray if stray is not None else end])},
        )
    return joined


def _reads_as_key(lines: list[str], min_rsa_bits: int) -> PublicKey | None:
    if len(lines) > 1:
        return _join_wrapped(lines, min_rsa_bits)
    try:
        return parse_public_key(lines[0], min_rsa_bits=min_rsa_bits)
    except InvalidKey:
        return None


def _wraps_onto(lines: list[str], j: int) -> bool:
    """Line j continues line j-1 as a wrap does: a terminal's (every line before it as long as the first) or an
    email's (line j-1 fits in 80 columns, and line j's first word would not have fitted after it in 72)."""
    before = lines[j - 1]
    if j >= 2 and all(len(line) == len(lines[0]) for line in lines[:j]):
        return True
    first_word = _FIELD_SEPARATOR.split(lines[j], maxsplit=1)[0]
    return len(before) <= 80 and len(before) + 1 + len(first_word) > 72


def _starts_a_key(line: str) -> bool:
    """The line's first word is a key type (accepted or not), so a key starts on it."""
    word = _ZERO_WIDTH.sub("", _FIELD_SEPARATOR.split(line, maxsplit=1)[0])
    return _TYPE_LIKE.fullmatch(word) is not None and word not in _SSH_COMMANDS


def quoted_line(line: str) -> str:
    """A line of the member's paste as a refusal quotes it: without invisible characters, cut short."""
    line = _ZERO_WIDTH.sub("", _FORBIDDEN_CHARACTER.sub("", line))
    return line if len(line) <= MAX_QUOTED_LINE else line[: MAX_QUOTED_LINE - 1] + "…"


def _join_wrapped(lines: list[str], min_rsa_bits: int) -> PublicKey | None:
    """A key an email client or a terminal wrapped over several lines: joined when exactly one way of
    joining them gives a valid key, else None (ambiguous or not a key, refused as before).

    Inside the base64 the lines join directly; where the type meets the blob, or the blob the comment,
    the wrap may have eaten a space, so both are tried there.
    """
    if len(lines) > MAX_WRAPPED_LINES:
        return None
    middle = "".join(lines[1:-1])
    # When both joins read as the same key, the wrap fell inside the comment: a terminal (every line but the last
    # as long) wraps at any character and eats nothing; an email client wraps at a space and eats it. Tried in
    # that order, the first reading kept: the stored comment no longer depends on the order of a set.
    terminal = len(lines) > 2 and len({len(line) for line in lines[:-1]}) == 1
    joints = ("", " ") if terminal else (" ", "")
    candidates = dict.fromkeys(
        lines[0] + first + middle + (last if len(lines) > 2 else "") + lines[-1] for first in joints for last in joints
    )
    found: dict[str, PublicKey] = {}
    for text in candidates:
        try:
            key = parse_public_key(text, min_rsa_bits=min_rsa_bits)
        except InvalidKey:
            continue
        found.setdefault(key.normalized, key)
    if len(found) != 1:
        return None
    (key,) = found.values()
    return replace(key, joined=True)


def _split_blocks(lines: list[str]) -> tuple[list[list[str]], list[str]]:
    """Armoured blocks (BEGIN line to END line, or to the end of the text) and the lines outside them."""
    blocks: list[list[str]] = []
    loose_lines: list[str] = []
    open_block: list[str] | None = None
    for line in lines:
        if _RFC4716_BEGIN.fullmatch(line) or _PEM_BEGIN.fullmatch(line):
            open_block = [line]
            blocks.append(open_block)
        elif open_block is not None:
            open_block.append(line)
            if _ends_block(open_block):
                open_block = None
        else:
            loose_lines.append(line)
    return blocks, loose_lines


def _ends_block(block: list[str]) -> bool:
    end = _RFC4716_END if _RFC4716_BEGIN.fullmatch(block[0]) else _PEM_END
    return len(block) > 1 and end.fullmatch(block[-1]) is not None


def _count_keys(line: str) -> int:
    """Keys on a line outside a block, for the multiple_keys rule.

    Rule: each word after the first that starts like a blob (AAAA + 12 base64 characters) is one key, so
    options in front and a second key on the same line are handled; a line without such a word is still
    one key when its first word looks like a key type (the first half of a wrapped key), else none.
    """
    words = _FIELD_SEPARATOR.split(line)
    blobs = sum(1 for word in words[1:] if _BLOB_LIKE.match(word))
    return blobs or int(_TYPE_LIKE.fullmatch(words[0]) is not None and words[0] not in _SSH_COMMANDS)


def _check_block_stands_alone(block: list[str], loose_lines: list[str]) -> None:
    if not _ends_block(block):
        raise InvalidKey(
            "malformed",
            gettext_noop("The key block has no END line. Paste the whole block, from its BEGIN line to its END line."),
        )
    if loose_lines:
        raise InvalidKey(
            "malformed",
            gettext_noop(
                "Paste only the key block, from its BEGIN line to its END line, with no other text around it."
            ),
        )


def _read_openssh_line(line: str) -> tuple[str, bytes, str]:
    """An `authorized_keys`-style line: type, base64 blob, optional comment."""
    words = _FIELD_SEPARATOR.split(line)
    key_type, *rest = _FIELD_SEPARATOR.split(line, maxsplit=2)
    key_type = _ZERO_WIDTH.sub("", key_type)
    # Options (no-pty,command="a b",from=...) sit in front of the type word, which therefore comes later.
    if not _TYPE_LIKE.fullmatch(key_type) and any(_TYPE_LIKE.fullmatch(word) for word in words[1:]):
        raise _text_in_front(words[: next(i for i, word in enumerate(words) if _TYPE_LIKE.fullmatch(word))])
    if key_type not in ACCEPTED_TYPES:
        # `ssh-keygen -l` prints "256 SHA256:... comment (ED25519)": the fingerprint is the first or second word.
        if any(_FINGERPRINT.fullmatch(word) for word in words[:2]):
            raise InvalidKey(
                "unsupported_type",
                gettext_noop(
                    "This is a key's fingerprint, not the key itself. Paste the whole public key: the contents "
                    "of your .pub file, for example ~/.ssh/id_ed25519.pub, which starts with its type."
                ),
            )
        raise _unsupported_type(key_type)
    if not rest:
        raise InvalidKey(
            "malformed",
            gettext_noop("The key data after %(key_type)s is missing. Paste the whole line of your .pub file."),
            {"key_type": key_type},
        )
    comment = rest[1] if len(rest) > 1 else ""
    return key_type, _decode_base64(_ZERO_WIDTH.sub("", rest[0])), comment


def _text_in_front(prefix: list[str]) -> InvalidKey:
    """The refusal of the words in front of the key type: authorized_keys options, a known_hosts line's host
    field, or other text (a list bullet, a shell prompt). One code, options_prefix, whatever the words are:
    the key after them may be sound; each message says what to paste instead."""
    option = _OPTION_NAME.match(prefix[0])
    if option and option.group().lower() in _OPTION_NAMES:
        return InvalidKey(
            "options_prefix",
            gettext_noop(
                "This looks like a line from an authorized_keys file, with options such as command= or "
                "from= in front of the key. Paste only the public key, starting with its type (for "
                "example ssh-ed25519)."
            ),
        )
    if _is_known_hosts_field(prefix):
        return InvalidKey(
            "options_prefix",
            gettext_noop(
                "This is a line from a known_hosts file: the key of a server your computer connects to, not "
                "your own key. Paste your own public key instead: the contents of your .pub file, for example "
                "~/.ssh/id_ed25519.pub (if you have none, make one with ssh-keygen -t ed25519)."
            ),
        )
    return InvalidKey(
        "options_prefix",
        gettext_noop(
            "There is other text in front of the key's type. Paste only the contents of your .pub file, which "
            "starts with the key's type (for example ssh-ed25519)."
        ),
    )


def _is_known_hosts_field(prefix: list[str]) -> bool:
    if prefix[0] in _KNOWN_HOSTS_MARKERS:
        return True
    if len(prefix) != 1:
        return False
    field = prefix[0]
    if _HASHED_HOST.fullmatch(field):
        return True
    return not _LIST_NUMBER.fullmatch(field) and all(_is_host_pattern(part) for part in field.split(","))


def _is_host_pattern(part: str) -> bool:
    """A known_hosts host pattern: a name, an address or [host]:port, with wildcards. It has a letter or digit, so a
    list bullet ("-", "*") is not one, and does not end with a colon, so a label ("Key:") is not one."""
    return bool(_HOST_PATTERN.fullmatch(part)) and bool(_LETTER_OR_DIGIT.search(part)) and not part.endswith(":")


def _read_rfc4716_block(lines: list[str]) -> tuple[str, bytes, str]:
    """An RFC 4716 block, as PuTTYgen and `ssh-keygen -e` write it: headers, then wrapped base64."""
    body = lines[1:-1]
    headers: dict[str, str] = {}
    i = 0
    while i < len(body) and ":" in body[i]:  # base64 has no colon, so the first line without one starts the key
        tag, _, value = body[i].partition(":")
        value = value.strip(" \t")
        while value.endswith("\\") and i + 1 < len(body):  # a trailing backslash continues the header
            i += 1
            value = value[:-1] + body[i]
        headers[tag.strip(" \t").lower()] = value
        i += 1
    comment = headers.get("comment", "")
    if len(comment) >= 2 and comment[0] == comment[-1] == '"':
        comment = comment[1:-1]
    if i == len(body):
        raise InvalidKey(
            "malformed",
            gettext_noop(
                "The key block has no key data between its headers and its END line. Paste the whole block again."
            ),
        )
    blob = _decode_base64("".join(body[i:]))
    type_string = _blob_strings(blob, 1)
    if not type_string:
        raise _damaged()
    return _accepted_type_name(type_string[0]), blob, comment


def _read_pem_block(lines: list[str]) -> tuple[str, bytes, str]:
    """A PEM public key (SubjectPublicKeyInfo, or PKCS#1 for RSA), converted to its OpenSSH form."""
    if _PEM_BEGIN.fullmatch(lines[0]).group(1) not in _PEM_PUBLIC_KEY_LABELS:
        raise _unsupported_type("")
    try:
        key = load_pem_public_key("\n".join(lines).encode("ascii"))
    except UnsupportedAlgorithm:
        raise _unsupported_type("") from None
    except (ValueError, UnicodeEncodeError):
        raise _damaged() from None
    if isinstance(key, rsa.RSAPublicKey):
        key_type = "ssh-rsa"
    elif isinstance(key, ed25519.Ed25519PublicKey):
        key_type = "ssh-ed25519"
    elif isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in _EC_CURVE_TYPES:
        key_type = _EC_CURVE_TYPES[key.curve.name]
    else:
        raise _unsupported_type("")
    blob = base64.b64decode(key.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).split()[1])
    return key_type, blob, ""


def _accepted_type_name(raw: bytes) -> str:
    """The blob's own type string, when it is one of the accepted types."""
    key_type = raw.decode("ascii", "replace")
    if key_type not in ACCEPTED_TYPES:
        raise _unsupported_type(key_type)
    return key_type


def _decode_base64(text: str) -> bytes:
    """Strict base64: standard alphabet, correct padding, and nothing a re-encoding would change."""
    try:
        blob = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        blob = None
    if blob is None or base64.b64encode(blob).decode("ascii") != text:
        raise InvalidKey(
            "malformed",
            gettext_noop(
                "The key data is not valid base64: it has characters that do not belong, missing "
                "padding, or spaces inside. Copy the key again from your .pub file."
            ),
        )
    return blob


def _blob_strings(blob: bytes, count: int) -> list[bytes]:
    """Up to `count` leading length-prefixed SSH strings of `blob` (fewer if it ends first)."""
    strings: list[bytes] = []
    offset = 0
    while len(strings) < count and offset + 4 <= len(blob):
        length = int.from_bytes(blob[offset : offset + 4], "big")
        if offset + 4 + length > len(blob):
            break
        strings.append(blob[offset + 4 : offset + 4 + length])
        offset += 4 + length
    return strings


def _load_key(key_type: str, blob: bytes, comment: str, min_rsa_bits: int) -> PublicKey:
    """Check the blob against its type word, parse it with cryptography, and apply the size policy."""
    inner = _blob_strings(blob, 2)
    curve = key_type.removeprefix("ecdsa-sha2-").encode()  # ECDSA blobs repeat the curve: "nistp256"
    curve_mismatch = key_type.startswith("ecdsa-") and len(inner) == 2 and inner[1] != curve
    if (inner and inner[0] != key_type.encode()) or curve_mismatch:
        raise InvalidKey(
            "type_mismatch",
            gettext_noop(
                "The key data is not a %(key_type)s key, although it is labelled as one. Copy the whole "
                "key again from your .pub file without editing it."
            ),
            {"key_type": key_type},
        )
    normalized = f"{key_type} {base64.b64encode(blob).decode('ascii')}"
    try:
        key = load_ssh_public_key(normalized.encode("ascii"))
    except (ValueError, UnsupportedAlgorithm, NotImplementedError):
        raise _damaged() from None
    # cryptography accepts some non-canonical encodings (e.g. padded integers); OpenSSH's own form must match.
    if key.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH) != normalized.encode("ascii"):
        raise _damaged()

    if isinstance(key, rsa.RSAPublicKey):
        bits = key.key_size
        if bits < min_rsa_bits:
            raise InvalidKey(
                "too_weak",
                gettext_noop(
                    "This RSA key has %(bits)d bits; the minimum is %(min_bits)d. Make a new key with "
                    "ssh-keygen -t ed25519 (or ssh-keygen -t rsa -b 4096) and paste its .pub file."
                ),
                {"bits": bits, "min_bits": min_rsa_bits},
            )
        if bits > MAX_RSA_BITS:
            raise InvalidKey(
                "malformed",
                gettext_noop(
                    "This RSA key has %(bits)d bits; OpenSSH reads no RSA key over %(max_bits)d bits, so it "
                    "could never be used to log in. Make a new key with ssh-keygen -t ed25519 (or ssh-keygen "
                    "-t rsa -b 4096) and paste its .pub file."
                ),
                {"bits": bits, "max_bits": MAX_RSA_BITS},
            )
    elif isinstance(key, ec.EllipticCurvePublicKey):
        bits = key.curve.key_size
    else:
        bits = 256  # Ed25519

    sha256 = base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")
    return PublicKey(
        key_type=key_type,
        bits=bits,
        comment=comment,
        fingerprint_sha256=f"SHA256:{sha256}",
        fingerprint_md5=hashlib.md5(blob, usedforsecurity=False).digest().hex(":"),
        normalized=normalized,
    )


def _unsupported_type(key_type: str) -> InvalidKey:
    """Names the refused type only when it looks like one, so arbitrary pasted text is never echoed."""
    accepted = ", ".join(ACCEPTED_TYPES)
    if key_type.endswith(_CERTIFICATE_SUFFIX):
        return InvalidKey(
            "unsupported_type",
            gettext_noop(
                "This is an SSH certificate, not a public key. Paste the public key itself (the .pub "
                "file without -cert in its name); accepted types are %(accepted)s."
            ),
            {"accepted": accepted},
        )
    if _TYPE_LIKE.fullmatch(key_type) and len(key_type) <= 64:
        return InvalidKey(
            "unsupported_type",
            gettext_noop(
                "Keys of type %(key_type)s are not accepted; accepted types are %(accepted)s. Make a new "
                "key with ssh-keygen -t ed25519 and paste its .pub file."
            ),
            {"key_type": key_type, "accepted": accepted},
        )
    return InvalidKey(
        "unsupported_type",
        gettext_noop(
            "This is not an SSH public key of an accepted type (%(accepted)s). Paste the contents of "
            "your .pub file, which starts with its type, for example ssh-ed25519."
        ),
        {"accepted": accepted},
    )


def _damaged() -> InvalidKey:
    return InvalidKey(
        "malformed",
        gettext_noop("The key data is incomplete or damaged. Copy the whole key again from your .pub file."),
    )

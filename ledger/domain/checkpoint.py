"""Checkpoints: C2SP tlog-checkpoint bodies in C2SP signed notes, signed with Ed25519.

A checkpoint note reads (c2sp.org/tlog-checkpoint, c2sp.org/signed-note)::

    <origin>
    <tree size, decimal>
    <root hash, base64>
    [extension lines]

    — <key name> <base64(4-byte key ID ‖ 64-byte Ed25519 signature)>

The signature covers the text up to and including its last newline, not the blank line. The
key ID is the first four bytes of SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ public key). Keys are
written as golang.org/x/mod/sumdb/note writes them: a verifier key (vkey) as
``<name>+<key ID hex>+<base64(0x01 ‖ public key)>``, a signing key as
``PRIVATE+KEY+<name>+<key ID hex>+<base64(0x01 ‖ 32-byte seed)>``. The ledger's key name is
its origin.

Every refusal is a :class:`ProofRefused` naming what failed (a line of the note, the
signature, the key, the origin); a key that cannot be read is a :class:`ValidationError`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import unicodedata
from dataclasses import dataclass, field
from typing import Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .errors import ProofRefused, ValidationError
from .merkle import HASH_SIZE

ALG_ED25519 = 0x01
SIGNATURE_PREFIX = "— "  # U+2014 EM DASH, U+0020 SPACE
MAX_SIGNATURES = 100  # as golang.org/x/mod/sumdb/note (C2SP: accept at least 16)


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str) -> bytes | None:
    """Standard base64 (RFC 4648 section 4), canonical only: a text that decodes but is not
    what its bytes encode to (stray padding bits, whitespace) is None, so no two texts read
    as one value."""
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return data if b64encode(data) == text else None


def valid_key_name(name: str) -> bool:
    """Non-empty, no Unicode space, no plus (C2SP signed-note)."""
    return (
        bool(name)
        and "+" not in name
        and not any(c.isspace() or unicodedata.category(c) == "Zs" for c in name)
    )


def key_id(name: str, public_key: bytes) -> int:
    """SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ public key)[:4], big-endian."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


@dataclass(frozen=True)
class VerifierKey:
    """A public key with its name: what a verifier trusts."""

    name: str
    public_key: bytes

    def __post_init__(self) -> None:
        if not valid_key_name(self.name):
            raise ValidationError("key", f"key name {self.name!r} is empty or has a space or +")
        if len(self.public_key) != 32:
            raise ValidationError("key", "an Ed25519 public key is 32 bytes")

    @property
    def key_id(self) -> int:
        return key_id(self.name, self.public_key)

    @property
    def label(self) -> str:
        """``name+keyid``, how the Go implementation names a key in its errors."""
        return f"{self.name}+{self.key_id:08x}"

    def encode(self) -> str:
        """The C2SP vkey: ``<name>+<key ID hex>+<base64(0x01 ‖ public key)>``."""
        return f"{self.label}+{b64encode(bytes([ALG_ED25519]) + self.public_key)}"

    @classmethod
    def parse(cls, vkey: str) -> Self:
        parts = vkey.strip().split("+", 2)  # base64 may hold "+"
        if len(parts) != 3:
            raise ValidationError("key", "a vkey is <name>+<key ID hex>+<base64 key>")
        name, hex_id, b64 = parts
        key = b64decode(b64)
        if len(hex_id) != 8 or hex_id.strip("0123456789abcdef") or key is None:
            raise ValidationError("key", "a vkey is <name>+<8 lowercase hex digits>+<base64 key>")
        if len(key) != 33 or key[0] != ALG_ED25519:
            raise ValidationError("key", "not an Ed25519 key (0x01 followed by 32 bytes)")
        verifier = cls(name, key[1:])
        if int(hex_id, 16) != verifier.key_id:
            raise ValidationError("key", f"key ID {hex_id} does not match the name and key")
        return verifier

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 private key (its 32-byte seed) with its name. Its repr hides the seed."""

    name: str
    seed: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not valid_key_name(self.name):
            raise ValidationError("key", f"key name {self.name!r} is empty or has a space or +")
        if len(self.seed) != 32:
            raise ValidationError("key", "an Ed25519 seed is 32 bytes")

    @classmethod
    def generate(cls, name: str) -> Self:
        seed = Ed25519PrivateKey.generate().private_bytes_raw()
        return cls(name, seed)

    @property
    def verifier(self) -> VerifierKey:
        public = (
            Ed25519PrivateKey.from_private_bytes(self.seed)
            .public_key()
            .public_bytes(Encoding.Raw, PublicFormat.Raw)
        )
        return VerifierKey(self.name, public)

    def sign(self, message: bytes) -> bytes:
        return Ed25519PrivateKey.from_private_bytes(self.seed).sign(message)

    def encode(self) -> str:
        """``PRIVATE+KEY+<name>+<key ID hex>+<base64(0x01 ‖ seed)>`` (sumdb/note's skey)."""
        return f"PRIVATE+KEY+{self.verifier.label}+{b64encode(bytes([ALG_ED25519]) + self.seed)}"

    @classmethod
    def parse(cls, skey: str) -> Self:
        parts = skey.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise ValidationError("key", "a signing key is PRIVATE+KEY+<name>+<key ID>+<key>")
        _, _, name, hex_id, b64 = parts
        key = b64decode(b64)
        if len(hex_id) != 8 or hex_id.strip("0123456789abcdef") or key is None:
            raise ValidationError("key", "a signing key's ID is 8 hex digits, its key base64")
        if len(key) != 33 or key[0] != ALG_ED25519:
            raise ValidationError("key", "not an Ed25519 key (0x01 followed by a 32-byte seed)")
        signer = cls(name, key[1:])
        if int(hex_id, 16) != signer.verifier.key_id:
            raise ValidationError("key", f"key ID {hex_id} does not match the name and key")
        return signer


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: int
    signature: bytes

    def line(self) -> str:
        blob = self.key_id.to_bytes(4, "big") + self.signature
        return f"{SIGNATURE_PREFIX}{self.name} {b64encode(blob)}\n"


@dataclass(frozen=True)
class Note:
    """A note's text (ending in a newline) and its signature lines, as parsed."""

    text: str
    signatures: tuple[NoteSignature, ...]

    def encode(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)


def _line_number(message: str, offset: int) -> int:
    return message.count("\n", 0, offset) + 1


def parse_note(message: str | bytes) -> Note:
    """The text and signature lines of a signed note, refusing any malformed part by line."""
    if isinstance(message, bytes):
        raw = message
        try:
            message = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            where = raw.count(b"\n", 0, exc.start) + 1
            raise ProofRefused(f"line {where}", "not valid UTF-8") from None
    for offset, char in enumerate(message):
        if char < " " and char != "\n":
            where = _line_number(message, offset)
            raise ProofRefused(f"line {where}", f"control character U+{ord(char):04X}")
    split = message.rfind("\n\n")
    if split < 0:
        raise ProofRefused("note", "no blank line before the signatures")
    text, block = message[: split + 1], message[split + 2 :]
    first = _line_number(message, split + 2)
    if not block:
        raise ProofRefused(f"line {first}", "no signature after the blank line")
    if not block.endswith("\n"):
        last = first + block.count("\n")
        raise ProofRefused(f"line {last}", "the last signature line does not end in a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise ProofRefused("note", f"more than {MAX_SIGNATURES} signatures")
    signatures = []
    for number, line in enumerate(lines, start=first):
        if not line.startswith(SIGNATURE_PREFIX):
            raise ProofRefused(f"line {number}", "a signature line starts with '— '")
        name, _, b64 = line[len(SIGNATURE_PREFIX) :].partition(" ")
        blob = b64decode(b64)
        if not valid_key_name(name):
            raise ProofRefused(f"line {number}", f"malformed key name {name!r}")
        if blob is None or len(blob) < 5:
            raise ProofRefused(f"line {number}", "the signature is not base64 of key ID ‖ bytes")
        signatures.append(NoteSignature(name, int.from_bytes(blob[:4], "big"), blob[4:]))
    return Note(text, tuple(signatures))


def sign_note(text: str, *keys: SigningKey) -> str:
    """The signed note of ``text`` (which must end in a newline) under each of ``keys``."""
    if not text.endswith("\n") or any(c < " " and c != "\n" for c in text):
        raise ValidationError(
            "text", "a note's text ends in a newline and has no control character"
        )
    message = text.encode()
    signatures = tuple(NoteSignature(k.name, k.verifier.key_id, k.sign(message)) for k in keys)
    return Note(text, signatures).encode()


def open_note(message: str | bytes, key: VerifierKey) -> Note:
    """The note, if ``key`` signed it. Signatures of other keys are ignored (C2SP: a verifier
    MUST ignore unknown keys), one of ``key`` that fails refuses the whole note."""
    note = parse_note(message)
    mine = [s for s in note.signatures if s.name == key.name and s.key_id == key.key_id]
    if not mine:
        present = ", ".join(f"{s.name}+{s.key_id:08x}" for s in note.signatures)
        raise ProofRefused(
            "key", f"the note is not signed by key {key.label} (signed by: {present})"
        )
    for signature in mine:
        if not key.verify(note.text.encode(), signature.signature):
            raise ProofRefused("signature", f"the signature of key {key.label} does not verify")
    return note


# -- checkpoints -------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: which log (origin), how many leaves, which root."""

    origin: str
    tree_size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise ValidationError("origin", "non-empty, one line")
        if isinstance(self.tree_size, bool) or not isinstance(self.tree_size, int):
            raise ValidationError("treeSize", "an integer")
        if self.tree_size < 0:
            raise ValidationError("treeSize", "never negative")
        if len(self.root_hash) != HASH_SIZE:
            raise ValidationError("rootHash", f"{HASH_SIZE} bytes")
        if any(not line or "\n" in line for line in self.extensions):
            raise ValidationError("extensions", "each a non-empty line")

    def body(self) -> str:
        """The note text: origin, size, base64 root, extension lines, each ending in a newline."""
        lines = [self.origin, str(self.tree_size), b64encode(self.root_hash), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, text: str) -> Self:
        """A checkpoint body, strictly: refusals name the line."""
        if not text.endswith("\n"):
            raise ProofRefused("checkpoint", "the text does not end in a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise ProofRefused(
                f"line {len(lines) + 1}", "a checkpoint has an origin, a size and a root hash"
            )
        origin, size, root, *extensions = lines
        if not origin:
            raise ProofRefused("line 1", "the origin is empty")
        if not size.isascii() or not size.isdigit() or (size != "0" and size.startswith("0")):
            raise ProofRefused("line 2", f"tree size {size!r} is not a decimal number")
        root_hash = b64decode(root)
        if root_hash is None or len(root_hash) != HASH_SIZE:
            raise ProofRefused("line 3", "the root hash is not base64 of 32 bytes")
        for number, line in enumerate(extensions, start=4):
            if not line:
                raise ProofRefused(f"line {number}", "an extension line is empty")
        return cls(origin, int(size), root_hash, tuple(extensions))

    def sign(self, key: SigningKey) -> str:
        """The signed checkpoint note (the key's name should be the origin)."""
        return sign_note(self.body(), key)


def open_checkpoint(message: str | bytes, key: VerifierKey) -> Checkpoint:
    """The checkpoint of a signed note, if ``key`` signed it and its origin is the key's name."""
    checkpoint = Checkpoint.parse(open_note(message, key).text)
    if checkpoint.origin != key.name:
        raise ProofRefused(
            "origin", f"the checkpoint is of {checkpoint.origin!r}, the key is {key.name!r}'s"
        )
    return checkpoint

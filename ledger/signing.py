"""The checkpoints' signing key: read from the file ``LEDGER_CHECKPOINT_KEY_FILE`` names, or,
for the embedded default, from a file in the data directory made on the first start.

The key lives outside the database (docs/proofs.md): whoever can write the database cannot
sign for the ledger. Its name must be the ledger's origin (``LEDGER_ORIGIN``), so a verifier
holding the vkey knows which log its checkpoints are of.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from .domain.checkpoint import SigningKey, VerifierKey
from .domain.errors import ValidationError
from .settings import Settings

SETTING = "LEDGER_CHECKPOINT_KEY_FILE"


def write_key_file(path: Path, key: SigningKey) -> None:
    """Write ``key`` to a new file of mode 0600; FileExistsError if there is one already."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(key.encode() + "\n")


def read_key_file(path: Path) -> SigningKey:
    return read_keys(path)[0]


def read_keys(path: Path) -> tuple[SigningKey, tuple[VerifierKey, ...]]:
    """The signing key (the file's first line) and the public keys (vkeys) of the keys it
    replaced (any further lines, newest first): retired keys stay published so checkpoints
    they signed can still be verified (docs/proofs.md, key rotation)."""
    try:
        lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    except OSError as exc:
        raise ValidationError(SETTING, f"cannot read {path}: {exc.strerror}") from None
    if not lines:
        raise ValidationError(SETTING, f"{path} holds no key")
    try:
        key = SigningKey.parse(lines[0])
    except ValidationError as exc:
        raise ValidationError(SETTING, f"{path}: {exc.reason}") from None
    retired = []
    for number, line in enumerate(lines[1:], start=2):
        try:
            retired.append(VerifierKey.parse(line))
        except ValidationError as exc:
            raise ValidationError(SETTING, f"{path}, line {number}: {exc.reason}") from None
    return key, tuple(retired)


def published(current: SigningKey | None, retired: tuple[VerifierKey, ...]) -> str:
    """What ``/.well-known/ledger-key`` serves: one vkey a line, the current key first."""
    keys = ([current.verifier] if current else []) + list(retired)
    return "".join(key.encode() + "\n" for key in keys)


def signing_key(settings: Settings) -> SigningKey | None:
    """The key that signs this ledger's checkpoints (None: no key, so no checkpoints)."""
    found = signing_keys(settings)
    return found[0] if found else None


def signing_keys(settings: Settings) -> tuple[SigningKey, tuple[VerifierKey, ...]] | None:
    """The key that signs this ledger's checkpoints and the retired keys' vkeys (None: no
    key, so no checkpoints).

    The embedded default makes one in its data directory the first time; a named file must
    exist (``ledger checkpoint keygen --out FILE`` makes one)."""
    path = settings.checkpoint_key_path
    if path is None:
        return None
    if settings.checkpoint_key_file is None and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Another process on this data directory may make it first: then read that one.
        with contextlib.suppress(FileExistsError):
            write_key_file(path, SigningKey.generate(settings.origin))
    if not path.exists():
        raise ValidationError(
            SETTING, f"{path} does not exist; make one with `ledger checkpoint keygen --out {path}`"
        )
    key, retired = read_keys(path)
    if key.name != settings.origin:
        raise ValidationError(
            SETTING,
            f"the key in {path} is named {key.name!r}, the ledger's origin (LEDGER_ORIGIN) is "
            f"{settings.origin!r}: a checkpoint's key is named after its log",
        )
    return key, retired

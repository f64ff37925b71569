"""Cache records sealed with a MAC: a record changed by anything but the trusted process is ignored.

Only the trusted process writes the cache (no sandbox sees it); the seal is the second wall. Each
record carries ``HMAC-SHA256(key, "meshdiff-cache-1", its path in the cache, its bytes)`` in a
fixed-size trailer line (``\\n#meshdiff-mac:<64 hex>\\n``); a record whose seal does not match (or
that has none) reads as missing, so it is rebuilt and written again. The path in the MAC means a
valid record cannot be moved to another key either.

The key: given by the caller (the App derives one per installation from its private key, so no
file the cache's filesystem holds can forge a record, and each installation has its own), else
``MESHDIFF_CACHE_KEY``, else a random key in ``.meshdiff-mac-key`` at the cache folder's root
(0600, made on first use: it keeps a CLI user's cache consistent, it does not protect it from
whoever can write that folder).
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets

from analysis.store.files import write_atomically

KEY_FILE = ".meshdiff-mac-key"
_PREFIX = b"\n#meshdiff-mac:"
TRAILER_SIZE = len(_PREFIX) + 64 + 1
_DOMAIN = b"meshdiff-cache-1\0"


class Sealer:
    """Seals and opens the records under ``root`` with ``key``."""

    #: bytes a seal adds at the end of a record
    trailer_size = TRAILER_SIZE

    def __init__(self, key: bytes, root: str) -> None:
        self._key = key
        self.root = os.path.abspath(root)

    def __repr__(self) -> str:  # never show the key
        return f"Sealer(root={self.root!r})"

    def _mac(self, path: str, *parts) -> bytes:
        rel = os.path.relpath(os.path.abspath(path), self.root).encode()
        mac = hmac.new(self._key, _DOMAIN + rel + b"\0", hashlib.sha256)
        for part in parts:
            mac.update(part)
        return mac.hexdigest().encode()

    def trailer(self, path: str, *parts) -> bytes:
        """The trailer line sealing the concatenation of ``parts`` stored at ``path``."""
        return _PREFIX + self._mac(path, *parts) + b"\n"

    def seal(self, path: str, data: bytes) -> bytes:
        return data + self.trailer(path, data)

    def open(self, path: str, sealed) -> memoryview | None:
        """The record's bytes (a view, no copy) when ``sealed`` (bytes or a mapping) carries a
        valid seal for ``path``; ``None`` otherwise."""
        view = memoryview(sealed)
        if len(view) < TRAILER_SIZE or bytes(view[-TRAILER_SIZE:-65]) != _PREFIX:
            return None
        data = view[:-TRAILER_SIZE]
        if not hmac.compare_digest(bytes(view[-65:-1]), self._mac(path, data)):
            return None
        return data

    def write(self, path: str, data: bytes) -> None:
        """Write ``data`` sealed to ``path`` (atomically)."""
        write_atomically(path, self.seal(path, data))

    def read(self, path: str) -> bytes | None:
        """The bytes of the sealed record at ``path``; ``None`` when missing or not validly sealed.
        ``OSError`` other than a missing file is left to the caller."""
        try:
            with open(path, "rb") as handle:
                sealed = handle.read()
        except FileNotFoundError:
            return None
        data = self.open(path, sealed)
        return bytes(data) if data is not None else None

    def digest(self, path: str, sha256_hex: str) -> str:
        """A seal of a file known by its sha256 (a large file kept as it is: manifests)."""
        return self._mac(path, sha256_hex.encode()).decode()


def sealer_for(root: str, key: bytes | None = None) -> Sealer:
    """The :class:`Sealer` of the cache folder ``root``: ``key``, else ``MESHDIFF_CACHE_KEY``, else
    the folder's own key file (made on first use)."""
    if key is None:
        env = os.environ.get("MESHDIFF_CACHE_KEY", "")
        key = hashlib.sha256(env.encode()).digest() if env else _folder_key(root)
    return Sealer(key, root)


def _folder_key(root: str) -> bytes:
    path = os.path.join(root, KEY_FILE)
    try:
        with open(path, "rb") as handle:
            key = handle.read()
        if len(key) == 32:
            return key
    except FileNotFoundError:
        pass
    os.makedirs(root, exist_ok=True)
    key = secrets.token_bytes(32)
    tmp = f"{path}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    try:
        os.link(tmp, path)  # the first writer wins; every process then reads the same key
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    with open(path, "rb") as handle:
        return handle.read()


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

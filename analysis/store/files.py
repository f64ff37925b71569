"""Where the cache lives; files written so that a reader never sees half a file, and read as
UTF-8 with a clear error for other encodings (the cache's and the projects')."""
from __future__ import annotations

import os
import tempfile


def cache_root() -> str:
    """The cache folder: ``$MESHDIFF_CACHE_DIR``, else ``~/.cache/meshdiff``."""
    return os.environ.get("MESHDIFF_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "meshdiff")


def write_atomically(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``
    (folders are created). Raises ``OSError``; no temporary file is left behind."""
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_text(path: str, what: str = "") -> str:
    """The text of ``path`` decoded as UTF-8 (what dbt and meshdiff read). A file in another
    encoding raises :class:`~analysis.errors.AnalysisError` naming the file, the encoding it
    seems to be in and how to convert it; ``what`` says where the file comes from (e.g.
    ``--mesh``). ``OSError`` is left to the caller."""
    from analysis.errors import AnalysisError

    with open(path, "rb") as handle:
        data = handle.read()
    return decode_text(data, path, what)


def decode_text(data: bytes, path: str, what: str = "") -> str:
    """``data`` (the bytes of ``path``) decoded as UTF-8; the error of :func:`read_text` otherwise."""
    from analysis.errors import AnalysisError

    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        guess = _guess_encoding(data)
        where = f" ({what})" if what else ""
        line = data[:exc.start].count(b"\n") + 1
        raise AnalysisError(
            f"{path}{where} is not UTF-8 text: byte 0x{data[exc.start]:02x} on line {line} cannot be decoded; "
            f"it looks like {guess}",
            hint=f"save it as UTF-8 (dbt and meshdiff read UTF-8), e.g. "
                 f"`iconv -f {_ICONV[guess]} -t UTF-8 {path} > {path}.utf8 && mv {path}.utf8 {path}`",
        ) from None


_ICONV = {"UTF-16": "UTF-16", "UTF-32": "UTF-32", "Latin-1 (ISO-8859-1) or Windows-1252": "WINDOWS-1252"}


def _guess_encoding(data: bytes) -> str:
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "UTF-32"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or data[:200].count(b"\x00") > len(data[:200]) // 4:
        return "UTF-16"
    return "Latin-1 (ISO-8859-1) or Windows-1252"

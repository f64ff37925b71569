"""dbt's partial parsing, from the changed project's base compile to its head compile.

dbt saves what it parsed as ``target/partial_parse.msgpack``; given that file, the next run
parses again only the files whose checksum changed (and what depends on them: a changed macro
reparses its callers, a changed YAML file its patches) instead of every model, YAML file and
macro of the project, its packages and dbt's own. dbt takes the file only when nothing global
changed: the dbt version, ``--vars``, the profile and target names, the profile's connection
settings, the environment variables ``dbt_project.yml`` reads and every ``dbt_project.yml``
(``ManifestLoader.is_partial_parsable``); otherwise it parses in full, as without it.

What meshdiff does with it:

- every compile's slot keeps dbt's file beside the manifest (:mod:`analysis.dbt.slots`), its
  sha256 in the sealed status: a file changed in the cache is never handed to dbt;
- the changed project's **head** compile runs after its **base** compile (cached or not) and
  starts from its file (:mod:`analysis.dbt.schedule`). Both read the same upstream compiles,
  so what dbt-loom injects is the same. A head started ahead (:mod:`analysis.dbt.prestart`)
  waits before it reads anything, and the file is copied into its folder before its go, owned
  by the sandbox's uid as the folder is;
- the generated profile names the DuckDB file relative to the run's working folder
  (``mesh.duckdb`` in ``out/``), so that the profile dbt hashes is one string for every compile.

It is never used between different upstream manifests (a downstream project against base and
head), nor for the second render of incremental models. ``MESHDIFF_PARTIAL_PARSE=0`` turns it
off. That a head compile started from the base's file gives what meshdiff reads of a full
parse, for each kind of change, is proven on real compiles in
``tests/analysis/dbt/test_partial_parse.py``.
"""
from __future__ import annotations

import hashlib
import os

from analysis.dbt.paths import OutputError, max_manifest_bytes, read_output

#: dbt's file, in its target folder and in a compile's cache slot
FILE = "partial_parse.msgpack"


def enabled(env: dict[str, str] | None = None) -> bool:
    """Whether head compiles start from the base's parse (``MESHDIFF_PARTIAL_PARSE``, default on)."""
    value = (os.environ if env is None else env).get("MESHDIFF_PARTIAL_PARSE", "1").strip().lower()
    return value not in ("0", "false", "no", "off")


#: the name the subpackage exports (:func:`enabled` is also prestart's)
partial_parsing = enabled


def saved(out_dir: str) -> bytes | None:
    """The bytes of the file dbt left in ``out_dir/target``, if any: read as any output of the
    sandbox (:func:`~analysis.dbt.paths.read_output`: no link, a regular file, within the
    manifest's size cap); ``None`` when there is none or it is refused."""
    try:
        return read_output(out_dir, f"target/{FILE}", limit=max_manifest_bytes())
    except (OutputError, OSError):
        return None


def seed(target_dir: str, source: str | None, sha256: str | None) -> bool:
    """Copy a slot's file ``source`` into ``target_dir`` for dbt to start from, when its
    content is the one the slot's sealed status names (``sha256``), owned as ``target_dir`` is;
    whether it was. The folder may already be the sandbox uid's (a held dbt's): it is opened
    without following a link, the file is created anew there (never written through a link),
    and the hash is of the bytes written (the slot may change meanwhile)."""
    if not source or not sha256:
        return False
    try:
        os.makedirs(target_dir, exist_ok=True)
        folder = os.open(target_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        owner = os.fstat(folder)
        try:
            os.unlink(FILE, dir_fd=folder)
        except FileNotFoundError:
            pass
        digest = hashlib.sha256()
        out = os.open(FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=folder)
        with os.fdopen(out, "wb") as handle, open(source, "rb") as src:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                digest.update(chunk)
                handle.write(chunk)
            if os.geteuid() == 0 and (owner.st_uid, owner.st_gid) != (0, 0):
                os.fchown(handle.fileno(), owner.st_uid, owner.st_gid)  # dbt replaces it as that uid
        if digest.hexdigest() == sha256:
            return True
        os.unlink(FILE, dir_fd=folder)
    except OSError:
        pass
    finally:
        os.close(folder)
    return False

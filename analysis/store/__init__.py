"""The cache folder and the memory of one analysis: generic pieces the stages share.

- ``files``: where the cache lives (:func:`cache_root`), :func:`write_atomically` (a
  reader never sees half a file) and :func:`read_text` / :func:`decode_text` (UTF-8, or an
  error naming the file and how to convert it);
- ``trim``: the cache's size budget, least recently used entries first (:func:`maybe_trim`;
  :func:`touch` marks an entry used);
- ``seal``: records sealed with a MAC (:func:`sealer_for`, :class:`Sealer`): one changed by
  anything but the trusted process reads as missing and is rebuilt;
- ``gcpause``: CPython's cyclic collector kept off the analysis' long-lived working set
  (:func:`gc_session` around an analysis, :func:`gc_paused` around bulk work,
  :func:`gc_resumed` inside it for code that makes cycles).

What is stored (compiles, snapshots, lineage records) is the business of the stage that
stores it; nothing here knows a manifest or a lineage.
"""
from analysis.exports import public_names

__all__, __getattr__, __dir__ = public_names(__name__, {
    "files": ["cache_root", "decode_text", "read_text", "write_atomically"],
    "gcpause": ["gc_paused", "gc_resumed", "gc_session"],
    "seal": ["Sealer", "file_sha256", "sealer_for"],
    "trim": ["maybe_trim", "touch", "trim_cache"],
})

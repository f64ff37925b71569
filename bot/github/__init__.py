"""GitHub's side of a job: authenticating as the App, and publishing what a job found.

Input: the App's id and private key, an installation id, a job's :class:`bot.result.JobResult`.
Output: a PyGithub client with meshdiff's retry rules, one check run per head sha (the gate)
and one sticky comment per pull request, both found again and edited, never duplicated.

- ``auth``: the App's JWT and installation tokens (:class:`AppAuthenticator`);
- ``client``: the PyGithub client (:func:`make_github`) and which errors are retried, when
  (:func:`is_transient`, :func:`retry_delay`);
- ``checks``: the check run ``meshdiff / impact`` (:class:`CheckRun`) and its annotations
  (:func:`build_annotations`);
- ``comment``: the sticky comment (:func:`pr_thread`, :data:`MARKER`);
- ``publish``: the comment, then the check run's completion (:func:`publish_result`), or a
  superseded or failed job's (:func:`publish_superseded`, :func:`publish_failure`).
"""
from analysis.exports import public_names

__all__, __getattr__, __dir__ = public_names(__name__, {
    "auth": ["AppAuthenticator"],
    "checks": ["CHECK_NAME", "CheckRun", "build_annotations"],
    "client": ["is_transient", "make_github", "retry_delay"],
    "comment": ["MARKER", "pr_thread"],
    "publish": ["publish_failure", "publish_result", "publish_superseded"],
})

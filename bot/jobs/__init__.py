"""One analysis job of the App, and the shared state of all jobs.

Input: a pull request (:class:`PullInfo`: repository, number, base and head refs and shas), an
installation token and a PyGithub client. Output: a :class:`JobResult` (one report per changed
project, the check run's annotations, or why there was nothing to analyse); publishing it is
:mod:`bot.github`'s business.

- ``runner``: :func:`run_job`: checkout, the mesh configuration (``.meshdiff.yml``, the
  organisation's defaults), :func:`analysis.pipeline.analyze` per changed project, annotations;
- ``checkout``: the code at base and head, fetched over HTTPS with the token (never written
  down) and exported into plain folders without ``.git``;
- ``state``: Redis: webhook dedup, which run of a PR is the latest, running jobs and their
  deadlines, stored results (:class:`State`; :func:`job_key`, :func:`parse_job_id`).
"""
from analysis.exports import public_names

__all__, __getattr__, __dir__ = public_names(__name__, {
    "runner": ["JobResult", "PullInfo", "run_job"],
    "state": ["State", "job_key", "parse_job_id"],
})

"""One analysis job of the App, from its admission to its check run, and the worker's recovery.

Input: a job's ids (:class:`bot.ids.JobId`: repository, PR number, head sha, generation) and
its installation id. Output: the commit's one check run completed with a verdict (and the
sticky comment), through :mod:`bot.github`; a :class:`bot.result.JobResult` stored by the
content of its inputs.

- ``job``: the steps of a job (:class:`Job`: admit, claim the check run, analyse, publish);
  ``endings``: how it ends (the check run always completes, or the task is retried);
  ``holdings``: what a running job holds (its lease kept alive, results by content, its work
  dir); ``worker``: the worker's context (:class:`WorkerContext`) and whether a lease's owner lives;
- ``runner``: :func:`run_job`: checkout, the mesh configuration (``.meshdiff.yml``, the
  organisation's defaults), :func:`analysis.pipeline.analyze` per changed project, annotations;
  :func:`inputs_key` names the content of what it read;
- ``checkout``: the code at base and head, fetched over HTTPS with the token (never written
  down) and exported into plain folders without ``.git``;
- ``state``: Redis (:class:`State`): the connection, heartbeats and health, over its parts
  ``intake`` (the webhook intake in one round trip, generations of a commit's runs, the App's
  access) and ``leases`` (running jobs and their leases, results by content); ``keyspace``:
  the keys' prefix and lifetimes;
- ``recovery``: dead jobs, lost Redis state, reconciliation with GitHub, leftover work dirs
  (:class:`Watch`, a thread of every worker: no beat).
"""
from analysis.exports import public_names

__all__, __getattr__, __dir__ = public_names(__name__, {
    "job": ["Job", "WorkerContext", "Stop", "ResultCache", "untrusted_fork", "fork_gate_text", "MAX_WORKER_DEATHS"],
    "recovery": ["Watch", "recover_jobs", "reconcile", "remove_leftover_workspaces"],
    "runner": ["PullInfo", "run_job", "inputs_key"],
    "state": ["State", "Owner"],
})

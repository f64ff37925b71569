"""The drills of the App under faults and load, each on a running :class:`tests.app_rig.Rig`.

Each drill returns what it measured as a dict; ``bench/drills.py`` prints them as a table (with
the goals), ``tests/test_e2e_drills.py`` asserts what must hold whatever the machine's load
(exactly-once, no 5xx, one check run, no false "superseded"): never a wall-clock figure.
"""
from __future__ import annotations

import asyncio
import json
import random
import socket
import time
import uuid
from collections import Counter
from urllib.parse import urlsplit

from tests.app_fixtures import TEST_SECRET, adapt_event
from tests.app_rig import SHOP, Rig, breaking_change, safe_change, wait_for
from tests.standin import webhooks as wh


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q / 100 * len(ordered) + 0.5)) - 1))]


def _request(url: str, event: str, body: bytes, delivery: str, *, secret: str = TEST_SECRET) -> bytes:
    parts = urlsplit(url)
    head = [f"POST {parts.path} HTTP/1.1", f"Host: {parts.netloc}", "User-Agent: GitHub-Hookshot/drill",
            "Content-Type: application/json", f"Content-Length: {len(body)}", f"X-GitHub-Event: {event}",
            f"X-GitHub-Delivery: {delivery}", f"X-Hub-Signature-256: {wh.sign(body, secret)}", "Connection: close"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def _send(host: str, port: int, raw: bytes, timeout: float) -> tuple[int, float]:
    """One delivery on a new connection (as GitHub sends them): (status, seconds), 0 on error."""
    started = time.perf_counter()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        writer.write(raw)
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout)
        await asyncio.wait_for(reader.read(), timeout)
        writer.close()
        status = int(line.split()[1]) if line.startswith(b"HTTP/") else 0
    except (OSError, asyncio.TimeoutError, ValueError, IndexError):
        status = 0
    return status, time.perf_counter() - started


def send_at_rate(url: str, requests: list[bytes], rate: float, *, timeout: float = 10.0) -> list[tuple[int, float]]:
    """Open loop: request ``i`` leaves at ``i / rate`` s whatever the answers before it (a slow
    server cannot slow the load down and hide its own latency)."""
    parts = urlsplit(url)

    async def run():
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.05
        tasks = []
        for i, raw in enumerate(requests):
            delay = start + i / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(_send(parts.hostname, parts.port, raw, timeout)))
        return await asyncio.gather(*tasks)

    return asyncio.run(run())


def pr_payload(number: int, sha: str) -> dict:
    return adapt_event(wh.load_example("pull_request", "opened", variant="with-installation"), repo_full_name=SHOP,
                       installation_id=4711, pr_number=number, head_sha=sha)


# -- webhook load -------------------------------------------------------------------------------

def load(rig: Rig, rate: float, seconds: float, *, redeliver: float = 0.05, seed: int = 1) -> dict:
    """Signed ``pull_request`` deliveries at ``rate`` per second for ``seconds``; a share of them
    are redeliveries (same id). Every distinct delivery must be queued exactly once."""
    rng = random.Random(seed)
    rig.state.r.delete("meshdiff")  # the queue (no worker runs during this drill)
    base = pr_payload(1, "0" * 40)
    requests, ids, raw_of = [], [], {}
    for i in range(int(rate * seconds)):
        if ids and rng.random() < redeliver:
            requests.append(raw_of[rng.choice(ids)])
            continue
        payload = json.loads(json.dumps(base))
        payload["number"] = payload["pull_request"]["number"] = 1 + i
        payload["pull_request"]["head"]["sha"] = "%040x" % rng.getrandbits(160)
        delivery = str(uuid.uuid4())
        ids.append(delivery)
        raw_of[delivery] = _request(rig.hook_url, "pull_request", json.dumps(payload).encode(), delivery)
        requests.append(raw_of[delivery])
    cpu = rig.web.cpu_seconds()
    answers = send_at_rate(rig.hook_url, requests, rate)
    cpu = rig.web.cpu_seconds() - cpu
    statuses = Counter(status for status, _ in answers)
    queued = Counter(kwargs["delivery"] for _, kwargs in rig.queued())
    latencies = [seconds_ for status, seconds_ in answers if status]
    return {"rate": rate, "sent": len(requests), "distinct": len(ids), "statuses": dict(statuses),
            "p50_ms": percentile(latencies, 50) * 1000, "p95_ms": percentile(latencies, 95) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000, "max_ms": max(latencies, default=0) * 1000,
            "queued": sum(queued.values()), "queued_twice": sum(1 for n in queued.values() if n > 1),
            "lost": len(set(ids) - set(queued)), "refused_503": statuses.get(503, 0),
            "web_cpu_ms_per_delivery": cpu * 1000 / max(1, len(requests))}


# -- fuzz -----------------------------------------------------------------------------------------

def fuzz(rig: Rig, n: int, *, rate: float = 150.0, seed: int = 12) -> dict:
    """``n`` validly signed deliveries of the wrong shape (tests/webhook_fuzz.py)."""
    from tests.webhook_fuzz import cases, invalid_job

    rig.state.r.delete("meshdiff")
    requests = [_request(rig.hook_url, event, body, headers["X-GitHub-Delivery"])
                for event, body, headers in cases(n, TEST_SECRET, seed=seed)]
    answers = send_at_rate(rig.hook_url, requests, rate)
    statuses = Counter(status for status, _ in answers)
    jobs = rig.queued()
    invalid = [why for name, kwargs in jobs if (why := invalid_job(name, kwargs))]
    return {"sent": n, "statuses": dict(statuses), "five_xx": sum(v for k, v in statuses.items() if k >= 500),
            "no_answer": statuses.get(0, 0), "queued": len(jobs), "invalid_jobs": len(invalid),
            "invalid_examples": invalid[:5]}


def oversized_chunked(rig: Rig, megabytes: int = 26) -> int:
    """A chunked body above 25 MB, unsigned: the status the web answers (413 is right: the size
    is refused before the signature is even looked at)."""
    parts = urlsplit(rig.hook_url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=60)
    try:
        sock.sendall((f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nTransfer-Encoding: chunked\r\n"
                      "X-GitHub-Event: pull_request\r\nX-GitHub-Delivery: big\r\nContent-Type: application/json\r\n"
                      "Connection: close\r\n\r\n").encode())
        chunk = b"x" * (1 << 20)
        try:
            for _ in range(megabytes):
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed before the end: fine
        line = sock.makefile("rb").readline()
        return int(line.split()[1]) if line.startswith(b"HTTP/") else 0
    finally:
        sock.close()


# -- slow clients ---------------------------------------------------------------------------------

def slow_clients(rig: Rig, *, stalled: int = 8, probes: int = 40, rate: float = 10.0) -> dict:
    """``stalled`` connections send their headers and part of a body, then nothing; meanwhile
    probe deliveries are sent at ``rate``: how much later are they answered than without?"""
    def probe_requests(tag: str) -> list[bytes]:
        return [_request(rig.hook_url, "pull_request", json.dumps(pr_payload(900 + i, "%040x" % i)).encode(),
                         f"{tag}-{uuid.uuid4()}") for i in range(probes)]

    rig.state.r.delete("meshdiff")
    baseline = send_at_rate(rig.hook_url, probe_requests("base"), rate)
    parts = urlsplit(rig.hook_url)
    socks = []
    body = json.dumps(pr_payload(1, "a" * 40)).encode()
    for i in range(stalled):
        sock = socket.create_connection((parts.hostname, parts.port), timeout=120)
        head = _request(rig.hook_url, "pull_request", body, f"slow-{i}")
        sock.sendall(head[: head.index(b"\r\n\r\n") + 4 + 100])  # headers and 100 bytes of the body
        socks.append(sock)
    time.sleep(0.5)
    during = send_at_rate(rig.hook_url, probe_requests("probe"), rate)
    slow_statuses = []
    for sock in socks:
        try:
            sock.settimeout(120)
            line = sock.makefile("rb").readline()
            slow_statuses.append(int(line.split()[1]) if line.startswith(b"HTTP/") else 0)
        except OSError:
            slow_statuses.append(0)
        finally:
            sock.close()
    base_ms = [s * 1000 for status, s in baseline if status]
    during_ms = [s * 1000 for status, s in during if status]
    return {"stalled": stalled, "probes": probes, "baseline_p50_ms": percentile(base_ms, 50),
            "baseline_max_ms": max(base_ms, default=0), "during_p50_ms": percentile(during_ms, 50),
            "during_max_ms": max(during_ms, default=0),
            "added_ms": percentile(during_ms, 99) - percentile(base_ms, 99),
            "probe_statuses": dict(Counter(status for status, _ in during)),
            "slow_statuses": dict(Counter(slow_statuses))}


# -- faults with a real worker and the real analysis ------------------------------------------------

def worker_kill(rig: Rig, *, timeout: float = 1200.0) -> dict:
    """The whole worker is SIGKILLed mid-analysis and a new one starts at once under the same
    name: the job runs again on the same check run."""
    worker = rig.start_worker("drill@%h")
    pr = rig.open_pr(1, "kill-drill", breaking_change())
    assert rig.deliver("pull_request", rig.pr_event("opened", 1)) == 202
    [run] = wait_for(lambda: [r for r in rig.runs(pr["head_sha"]) if r["status"] == "in_progress"],
                     "the job's check run in progress", timeout, procs=[worker])
    time.sleep(3)  # well into the analysis (cold compiles)
    worker.kill()
    killed_mid_analysis = rig.runs(pr["head_sha"])[0]["status"] == "in_progress"
    work_dirs_after_kill = _work_dirs(rig)
    started = time.monotonic()
    new = rig.start_worker("drill@%h", wait=False)
    done = wait_for(lambda: rig.completed(pr["head_sha"]), "the check run's completion", timeout, procs=[new])
    finished_s = time.monotonic() - started
    title = done[0]["output"]["title"]
    wait_for(lambda: len(_work_dirs(rig)) == 0, "the leftover work dirs' removal", 120, procs=[new])
    runs = rig.runs(pr["head_sha"])
    return {"killed_mid_analysis": killed_mid_analysis, "completed_s": finished_s, "runs": len(runs),
            "same_run": runs[0]["id"] == run["id"], "conclusion": done[0]["conclusion"], "title": title,
            "comments": len(rig.bot_comments(1)), "work_dirs_after_kill": work_dirs_after_kill,
            "work_dirs_left": len(_work_dirs(rig)), "log": new.log_tail(30)}


def _work_dirs(rig: Rig) -> list[str]:
    import os

    work = rig.tmp / "work"
    return sorted(os.listdir(work)) if work.is_dir() else []


def redis_restart(rig: Rig, *, timeout: float = 1500.0) -> dict:
    """Redis restarts empty (no persistence) while a job runs and another waits in the queue:
    the running job must publish its verdict (no false "superseded") and the lost one must be
    re-created by the reconciliation: every PR ends with a completed check run."""
    worker = rig.start_worker("drill@%h")
    prs = {1: rig.open_pr(1, "restart-a", breaking_change()), 2: rig.open_pr(2, "restart-b", safe_change())}
    for number in prs:
        assert rig.deliver("pull_request", rig.pr_event("opened", number)) == 202
    wait_for(lambda: [r for r in rig.runs(prs[1]["head_sha"]) if r["status"] == "in_progress"],
             "the first job's check run in progress", timeout, procs=[worker])
    queued_before = len(rig.queued())
    rig.redis.restart()
    restarted = time.monotonic()
    wait_for(lambda: all(rig.completed(pr["head_sha"]) for pr in prs.values()), "a completed run on every PR",
             timeout, procs=[worker])
    finished_s = time.monotonic() - restarted
    runs = {n: rig.runs(pr["head_sha"]) for n, pr in prs.items()}
    conclusions = {n: [r["conclusion"] for r in rs] for n, rs in runs.items()}
    titles = {n: [r["output"]["title"] for r in rs] for n, rs in runs.items()}
    return {"queued_when_restarted": queued_before, "all_prs_completed_s": finished_s, "conclusions": conclusions,
            "titles": titles,
            "false_superseded": sum(c == "cancelled" for cs in conclusions.values() for c in cs),
            "prs_with_a_run": sum(1 for rs in runs.values() if any(r["status"] == "completed" for r in rs)),
            "runs_per_pr": {n: len(rs) for n, rs in runs.items()},
            "comments": {n: len(rig.bot_comments(n)) for n in prs}, "log": worker.log_tail(30)}

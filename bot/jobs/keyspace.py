"""The Redis keys of the App's shared state: their prefix and how long each kind lives.

The keys themselves are listed in :mod:`bot.jobs.state`; :mod:`bot.jobs.intake` and
:mod:`bot.jobs.leases` write them.
"""
from __future__ import annotations

import os

PREFIX = "meshdiff:"
DELIVERY_TTL_S = 3 * 24 * 3600  # GitHub's redelivery window
STATE_TTL_S = 14 * 24 * 3600
RESULT_TTL_S = 24 * 3600
#: a queued or running commit is skipped by the reconciliation this long at most
PENDING_TTL_S = 6 * 3600
#: a worker's heartbeat (renewed every WATCH_INTERVAL_S by bot.jobs.recovery)
HEARTBEAT_TTL_S = 45
#: a job's lease: renewed every LEASE_RENEW_S while it runs; gone this long after its worker died
LEASE_TTL_S = int(os.environ.get("MESHDIFF_LEASE_TTL_S", "45") or 45)
LEASE_RENEW_S = max(1.0, LEASE_TTL_S / 4)
#: how long a removed repository stays blocked: longer than any queued job waits
REMOVED_TTL_S = 24 * 3600

BLOCKED_SUSPENDED = "installation suspended or deleted"
BLOCKED_REMOVED = "repository removed from the installation"

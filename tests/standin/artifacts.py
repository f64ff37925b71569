"""Where the pinned npm artifacts live, and installing them when missing.

The stand-in GitHub is built from two public npm packages, pinned in
``tests/standin/package.json`` / ``package-lock.json``:

* ``@octokit/openapi`` – GitHub's official REST OpenAPI description
  (``generated/api.github.com.json``);
* ``@octokit/webhooks-examples`` – community webhook payload examples
  (``api.github.com/index.json``).

CI installs them with ``npm ci --prefix tests/standin`` (or ``bash
tests/standin/fetch.sh``).  :func:`ensure_installed` does the same from Python
when ``node_modules`` is missing, so a plain ``pytest`` run works too.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from pathlib import Path

STANDIN_DIR = Path(__file__).resolve().parent
NODE_MODULES = STANDIN_DIR / "node_modules"
CACHE_DIR = STANDIN_DIR / ".cache"

OPENAPI_PACKAGE = "@octokit/openapi"
EXAMPLES_PACKAGE = "@octokit/webhooks-examples"

_lock = threading.Lock()


def locked_version(package: str) -> str:
    """The version of ``package`` pinned in package-lock.json."""
    lock = json.loads((STANDIN_DIR / "package-lock.json").read_text())
    return lock["packages"][f"node_modules/{package}"]["version"]


def installed_version(package: str) -> str | None:
    try:
        return json.loads((NODE_MODULES / package / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def ensure_installed() -> None:
    """Run ``npm ci --prefix tests/standin`` unless the locked versions are installed."""
    with _lock:
        if all(installed_version(p) == locked_version(p) for p in (OPENAPI_PACKAGE, EXAMPLES_PACKAGE)):
            return
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError(
                "tests/standin needs the pinned npm packages but `npm` is not on PATH; "
                "install Node.js/npm and run `npm ci --prefix tests/standin`"
            )
        subprocess.run(
            [npm, "ci", "--prefix", str(STANDIN_DIR), "--ignore-scripts", "--no-audit", "--no-fund"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        for p in (OPENAPI_PACKAGE, EXAMPLES_PACKAGE):
            if installed_version(p) != locked_version(p):
                raise RuntimeError(f"npm ci did not install {p}@{locked_version(p)}")


def openapi_json_path() -> Path:
    ensure_installed()
    return NODE_MODULES / OPENAPI_PACKAGE / "generated" / "api.github.com.json"


def webhooks_examples_path() -> Path:
    ensure_installed()
    return NODE_MODULES / EXAMPLES_PACKAGE / "api.github.com" / "index.json"

"""The environment variables and dbt vars a project is compiled with (``.meshdiff.yml`` ``env:`` /
``vars:``, the CLI's ``--env NAME=VALUE`` / ``--vars``).

A model calling ``env_var('NAME')`` without a default does not compile unless ``NAME`` is set,
and meshdiff runs dbt with an allow-listed environment (nothing of the caller's): these are the
values it adds. They are **not secrets**: PR code can read and print them (a model can select
``'{{ env_var("NAME") }}'``), so they may reach the comment. Names dbt keeps secret
(``DBT_ENV_SECRET_*``) and names that steer the run itself (``PATH``, ``HOME``, ``LD_*``, glibc's
loader, locale and resolver variables, ``PYTHON*``, meshdiff's own ``DBT_*`` settings) are
refused. Both are part of the compile key (:func:`key_text`): another value is another compile.
"""
from __future__ import annotations

import json
import re

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
#: variables the sandboxed run sets itself, or that change how a process starts
_RESERVED = {"PATH", "HOME", "TMPDIR", "TMP", "TEMP", "PWD", "SHELL", "USER", "LOGNAME", "LANG", "LC_ALL",
             "DBT_PROFILES_DIR", "DBT_PROJECT_DIR", "DBT_TARGET_PATH", "DBT_LOG_PATH", "DBT_LOOM_CONFIG",
             "DBT_SEND_ANONYMOUS_USAGE_STATS", "DO_NOT_TRACK", "DBT_TARGET", "DBT_PROFILE", "DBT_STATE",
             "DBT_DEFER", "DBT_FULL_REFRESH", "DBT_PARTIAL_PARSE",
             # what glibc drops for a set-user-id program (ld.so(8), "secure-execution mode"): they
             # steer the loader, iconv modules, locales, name resolution and malloc of the host's
             # bwrap process and of everything in the sandbox
             "GCONV_PATH", "GETCONF_DIR", "GLIBC_TUNABLES", "HOSTALIASES", "LOCALDOMAIN", "LOCPATH",
             "MALLOC_TRACE", "NIS_PATH", "NLSPATH", "RESOLV_HOST_CONF", "RES_OPTIONS", "TZDIR"}
_RESERVED_PREFIXES = ("LD_", "LC_", "MALLOC_", "PYTHON", "DBT_ENV_SECRET_", "MESHDIFF_")
#: largest value of one variable, and of all vars as JSON
MAX_VALUE = 4096
MAX_VARS = 65536


def env_problem(name: str, value) -> str | None:
    """Why ``name=value`` cannot be given to dbt, or ``None``."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        return f"{name!r} is not an environment variable name (letters, digits and _, not starting with a digit)"
    if name.startswith("DBT_ENV_SECRET_"):
        return (f"{name} is a secret by dbt's convention (DBT_ENV_SECRET_*), and meshdiff never passes secrets: "
                f"PR code could print it into the comment")
    if name in _RESERVED or name.startswith(_RESERVED_PREFIXES):
        return f"{name} is set by meshdiff itself or steers how dbt runs"
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return f"the value of {name} must be a string or a number, got {type(value).__name__}"
    text = str(value)
    if len(text) > MAX_VALUE or "\x00" in text:
        return f"the value of {name} is longer than {MAX_VALUE} characters or holds a NUL"
    return None


def vars_problem(value) -> str | None:
    """Why ``value`` cannot be dbt's ``--vars``, or ``None``."""
    if not isinstance(value, dict) or not all(isinstance(k, str) and k for k in value):
        return "must be a mapping of var names to values, e.g. `{start_date: '2024-01-01'}`"
    try:
        text = json.dumps(plain_vars(value), sort_keys=True)
    except (TypeError, ValueError, RecursionError):
        return "holds a value that is not plain data (strings, numbers, booleans, lists, mappings)"
    if len(text) > MAX_VARS:
        return f"is larger than {MAX_VARS} characters as JSON"
    return None


def plain_vars(value: dict) -> dict:
    """``value`` as JSON data: YAML's dates and times become their ISO text (as Jinja prints them)."""
    return json.loads(json.dumps(value, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else _no(v)))


def _no(value):
    raise TypeError(f"{type(value).__name__} is not plain data")


def key_text(env: dict[str, str] | None, dbt_vars: dict | None) -> str:
    """What the compile key holds of them ('' when there are none)."""
    out = ""
    if env:
        out += "env " + json.dumps({k: str(v) for k, v in env.items()}, sort_keys=True) + "\n"
    if dbt_vars:
        out += "vars " + json.dumps(dbt_vars, sort_keys=True) + "\n"
    return out


def vars_args(dbt_vars: dict | None) -> list[str]:
    """dbt's ``--vars`` arguments (JSON is YAML)."""
    return ["--vars", json.dumps(dbt_vars, sort_keys=True)] if dbt_vars else []


def env_strings(env: dict | None) -> dict[str, str]:
    return {k: str(v) for k, v in (env or {}).items()}


def with_hint(error: str) -> str:
    """dbt's error, with where to give a variable it says is missing."""
    if "Env var required but not provided" not in error:
        return error
    return (error + "\n→ meshdiff runs dbt without your environment: give the variable in the project's `env:` "
            "of .meshdiff.yml, or pass --env NAME=VALUE (only values that are not secrets: PR code can read them)")

"""What a fenced process sees, with the real bubblewrap (no dbt): one Python script inside tries
every door and reports; each must be shut. Planted outside the fence: a key file, the cache,
HOME, another job's folder, a listener on 127.0.0.1, this test process's environment."""
import json
import os
import socket
import sys
import threading

import pytest

from analysis.dbt import sandbox
from analysis.dbt.fence import Fence, Layer, bwrap_argv, python_paths

PROBE = r'''
import json, os, socket, site, sys
out = {}
def t(name, f):
    try:
        out[name] = ["ok", repr(f())[:300]]
    except BaseException as e:
        out[name] = ["no", type(e).__name__ + ": " + str(e)[:200]]
args = json.loads(sys.argv[1])
t("key", lambda: open(args["key"]).read())
t("cache", lambda: os.listdir(args["cache"]))
t("other_job", lambda: os.listdir(args["other_job"]))
t("home", lambda: os.listdir(args["home"]))
t("parent_environ", lambda: open("/proc/%d/environ" % args["parent"], "rb").read())
t("proc_pids", lambda: sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
t("etc", lambda: sorted(os.listdir("/etc")))
t("pth", lambda: open(os.path.join(site.getsitepackages()[0], "evil.pth"), "w").write("import os"))
t("project_write", lambda: open(os.path.join(args["project"], "models", "new.sql"), "w").write("x"))
t("project_read", lambda: open(os.path.join(args["project"], "models", "a.sql")).read())
t("link_out", lambda: open(os.path.join(args["project"], "models", "leak.sql")).read())
t("connect", lambda: socket.create_connection(("127.0.0.1", args["port"]), timeout=3).recv(100))
t("dns", lambda: socket.getaddrinfo("example.com", 443))
t("userns", lambda: __import__("ctypes").CDLL(None, use_errno=True).unshare(0x10000000))
t("uid", lambda: (os.getuid(), os.geteuid(), os.getgid()))
t("caps", lambda: [l for l in open("/proc/self/status") if l.startswith("CapEff")][0].split()[1])
t("nnp", lambda: [l for l in open("/proc/self/status") if l.startswith("NoNewPrivs")][0].split()[1])
t("tty", lambda: os.open("/dev/tty", os.O_RDWR))
t("writable", lambda: open(os.path.join(args["out"], "made-inside"), "w").write("x"))
t("layer_write", lambda: open(os.path.join(args["project"], "package-lock.yml"), "w").write("x"))
t("layer_hidden", lambda: os.listdir(os.path.join(args["project"], "dbt_packages")))
t("root_write", lambda: open("/evil", "w").write("x"))
print(json.dumps(out))
'''


@pytest.fixture(scope="module")
def inside(tmp_path_factory):
    """Run PROBE once in a fence over a small project, with secrets planted around it."""
    root = tmp_path_factory.mktemp("fence")
    secret_dir = root / "etc-meshdiff"
    secret_dir.mkdir()
    key = secret_dir / "app.pem"
    key.write_text("-----BEGIN RSA PRIVATE KEY-----\nPLANTED-SECRET-LINE\n")
    key.chmod(0o600)
    cache = root / "cache"
    (cache / "compile").mkdir(parents=True)
    other = root / "job-other"
    (other / "head").mkdir(parents=True)
    home = root / "home"
    home.mkdir()
    checkout = root / "job" / "head"
    project = checkout / "shop"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text("name: shop\n")
    (project / "models" / "a.sql").write_text("select 1 as a")
    (project / "models" / "leak.sql").symlink_to(key)
    (project / "dbt_packages").mkdir()
    (project / "dbt_packages" / "vendored-on-host").write_text("x")
    work = root / "job" / "work"
    out = work / "out"
    view = out / "project"
    view.mkdir(parents=True)

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    port = listener.getsockname()[1]
    accepted = []

    def serve():
        listener.settimeout(20)
        try:
            conn, _ = listener.accept()
            accepted.append(True)
            conn.sendall(b"LISTENER-SECRET")
            conn.close()
        except OSError:
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    args = {"key": str(key), "cache": str(cache), "other_job": str(other), "home": str(home), "parent": os.getpid(),
            "project": str(project), "port": port, "out": str(out)}
    fence = Fence(writable=str(out), readonly=(str(checkout),), uid=sandbox.sandbox_uid(), gid=sandbox.sandbox_uid(),
                  layers=(Layer(str(project), str(view), writable=True, hide=("dbt_packages", "package-lock.yml")),))
    os.environ["MESHDIFF_TEST_PLANTED"] = "PLANTED-ENV-SECRET"
    try:
        result = sandbox.run([sys.executable, "-c", PROBE, json.dumps(args)], cwd=str(out),
                             env=sandbox.sandbox_env(str(out)), timeout_s=120, fence=fence)
    finally:
        del os.environ["MESHDIFF_TEST_PLANTED"]
        listener.close()
    assert result.ok, result.output
    seen = json.loads(result.output.strip().splitlines()[-1])
    return {"seen": seen, "accepted": accepted, "project": project, "out": out, "view": view, "output": result.output}


@pytest.mark.parametrize("door", ["key", "cache", "other_job", "home", "parent_environ", "pth", "project_write",
                                  "link_out", "connect", "dns", "userns", "tty", "layer_hidden", "root_write"])
def test_the_door_is_shut(inside, door):
    status, detail = inside["seen"][door]
    if door == "userns":  # unshare() answers -1 instead of raising
        assert detail == "-1", detail
        return
    assert status == "no", f"{door} was reachable: {detail}"


def test_nothing_planted_leaks_into_the_output(inside):
    for secret in ("PLANTED-SECRET-LINE", "PLANTED-ENV-SECRET", "LISTENER-SECRET"):
        assert secret not in inside["output"]
    assert inside["accepted"] == [], "the sandbox reached a listener on the host's loopback"


def test_it_runs_unprivileged_without_capabilities(inside):
    seen = inside["seen"]
    assert seen["uid"] == ["ok", "(65534, 65534, 65534)"]
    assert seen["caps"] == ["ok", "'0000000000000000'"] and seen["nnp"] == ["ok", "'1'"]
    # the files it writes belong to an unprivileged kernel uid, even when meshdiff runs as root
    assert os.stat(inside["out"] / "made-inside").st_uid != 0


def test_it_sees_only_its_own_processes_and_a_minimal_etc(inside):
    seen = inside["seen"]
    assert seen["proc_pids"][0] == "ok" and json.loads(seen["proc_pids"][1].replace("'", '"')) == [1, 2]
    etc = json.loads(seen["etc"][1].replace("'", '"'))
    assert set(etc) <= {"group", "passwd", "localtime", "ld.so.cache"}


def test_the_project_is_read_only_but_its_layer_takes_writes_away_from_the_host(inside):
    seen, project = inside["seen"], inside["project"]
    assert seen["project_read"] == ["ok", "'select 1 as a'"]
    assert seen["layer_write"][0] == "ok"  # dbt deps may rewrite package-lock.yml ...
    assert (inside["view"] / "package-lock.yml").read_text() == "x"  # ... in the writable folder
    assert not (project / "package-lock.yml").exists() and not (project / "models" / "new.sql").exists()
    assert (project / "dbt_packages" / "vendored-on-host").exists()  # hidden inside, untouched outside


def test_the_python_installation_is_mounted_read_only_at_its_own_path():
    fence = Fence(writable="/tmp/x")
    argv = bwrap_argv(fence, bwrap="bwrap", data_fds=(3, 4))
    for path in python_paths():
        if not path.startswith("/usr/"):
            assert ["--ro-bind", path, path] == argv[argv.index(path) - 1: argv.index(path) + 2]
    assert "--share-net" not in argv and "--unshare-net" in argv
    assert "--unshare-net" not in bwrap_argv(Fence(writable="/tmp/x", network=True), bwrap="bwrap", data_fds=(3, 4))

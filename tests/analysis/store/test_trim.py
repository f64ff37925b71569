"""The cache stays under its size budget; what was used longest ago goes first."""
import os

from analysis.store.trim import maybe_trim, trim_cache


def entry(path, size, used):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(b"x" * size)
    os.utime(path, (used, used))
    return path


def cache(tmp_path):
    root = str(tmp_path)
    # two compile slots (each one entry: manifest + snapshot + status), two packs, a lineage file
    for name, used in (("old", 100), ("new", 400)):
        slot = os.path.join(root, "compile", "ab", f"ab{name}")
        entry(os.path.join(slot, "manifest.json"), 3000, used)
        entry(os.path.join(slot, "manifest.meshdiff-snapshot.jsonl"), 500, used - 50)
        entry(os.path.join(slot, "status.json"), 10, used)
    entry(os.path.join(root, "lineage", "packs", "cd", "cdold.jsonl"), 2000, 200)
    entry(os.path.join(root, "lineage", "packs", "ef", "efnew.jsonl"), 2000, 500)
    entry(os.path.join(root, "lineage", "lineage", "12", "12x.json"), 100, 300)
    return root


def present(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


def test_least_recently_used_entries_go_until_80_percent_of_the_budget(tmp_path):
    root = cache(tmp_path)  # 11,120 bytes in all
    assert trim_cache(root, 20_000) == []  # under budget: nothing
    removed = trim_cache(root, 10_000)  # down to 8,000 bytes at most, oldest first
    assert [os.path.relpath(p, root) for p in removed] == [os.path.join("compile", "ab", "abold")]
    removed = trim_cache(root, 7_100)  # 7,610 bytes left: down to 5,680
    assert [os.path.relpath(p, root) for p in removed] == [os.path.join("lineage", "packs", "cd", "cdold.jsonl")]
    assert present(root) == sorted([
        os.path.join("compile", "ab", "abnew", n) for n in ("manifest.json", "manifest.meshdiff-snapshot.jsonl",
                                                             "status.json")] + [
        os.path.join("lineage", "packs", "ef", "efnew.jsonl"), os.path.join("lineage", "lineage", "12", "12x.json")])


def test_trimming_runs_at_most_hourly_and_can_be_turned_off(tmp_path):
    root = cache(tmp_path)
    assert maybe_trim(root, limit=0) == []  # off
    assert maybe_trim(root, limit=10_000, now=10_000_000) != []
    entry(os.path.join(root, "lineage", "packs", "zz", "zzold.jsonl"), 9000, 50)
    assert maybe_trim(root, limit=10_000, now=10_000_000 + 60) == []  # trimmed a minute ago
    assert os.path.exists(os.path.join(root, "lineage", "packs", "zz", "zzold.jsonl"))

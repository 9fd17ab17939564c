"""--format jsonl, --output FILE, --targets - (read lazily), --shard I/N and `smtp-probe merge`."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
from pathlib import Path

import pytest
from fleet_support import CountingServer

from probe.resolve import MxHost, PlanKind, TargetPlan
from probe.shard import Shard, parse_shard, server_key
from probe.targets import parse_target

ROOT = Path(__file__).resolve().parent.parent
BASIC = str(ROOT / "scenarios" / "basic.yaml")
RUN = ["--var", "domain=example.test", "--no-report", "--settle", "0"]


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def outcome(record: dict) -> tuple:
    return (record["target"], record["scenario"], record["address"], record["verdict"])


def test_jsonl_has_a_line_per_result_then_a_summary(cli, tmp_path) -> None:
    with CountingServer() as server:
        targets = [server.target, "127.0.0.1:1", server.target]
        done = cli("run", BASIC, *targets, *RUN, "--format", "jsonl")
        as_json = cli("run", BASIC, *targets, *RUN, "--format", "json")
    records = lines(done.stdout)
    assert [r["record"] for r in records] == ["result"] * 3 + ["summary"]
    summary = records[-1]
    assert summary["exit_code"] == done.code == as_json.code == 3
    assert summary["counts"] == {"error": 1, "pass": 2}
    assert summary["results"] == 3
    by_order = sorted(records[:-1], key=lambda r: r["order"])
    assert [outcome(r) for r in by_order] == [outcome(r) for r in as_json.json()["results"]]
    # Each result line is a JSON report's result, plus where it stood in the list.
    assert set(as_json.json()["results"][0]) == set(records[0]) - {"record", "order"}


def test_output_file_takes_the_lines(cli, tmp_path) -> None:
    out = tmp_path / "out.jsonl"
    with CountingServer() as server:
        done = cli(
            "run",
            BASIC,
            server.target,
            server.target,
            *RUN,
            "--format",
            "jsonl",
            "--output",
            str(out),
        )
    assert done.code == 0, done.stderr
    assert done.stdout == ""
    records = lines(out.read_text())
    assert [r["record"] for r in records] == ["result", "result", "summary"]
    assert "2 server result(s): 2 passed, 0 failed" in done.stderr


def test_output_file_for_text_and_json(cli, tmp_path) -> None:
    with CountingServer() as server:
        text = cli("run", BASIC, server.target, *RUN, "--output", str(tmp_path / "r.txt"))
        js = cli(
            "run",
            BASIC,
            server.target,
            *RUN,
            "--format",
            "json",
            "--output",
            str(tmp_path / "r.json"),
        )
    assert text.code == js.code == 0
    assert (tmp_path / "r.txt").read_text().startswith("PASS  basic -> ")
    assert json.loads((tmp_path / "r.json").read_text())["exit_code"] == 0


def test_unwritable_output_is_a_usage_error(cli, tmp_path) -> None:
    done = cli(
        "run",
        BASIC,
        "127.0.0.1:1",
        *RUN,
        "--format",
        "jsonl",
        "--output",
        str(tmp_path / "no" / "x"),
    )
    assert done.code == 2
    assert "--output" in done.stderr


def test_targets_from_stdin_are_read_lazily(tmp_path) -> None:
    """A result comes out while stdin is still open: the list is not read to its end first."""
    with CountingServer() as server:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "probe",
                "run",
                BASIC,
                "--targets",
                "-",
                *RUN,
                "--format",
                "jsonl",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=tmp_path,
            env=os.environ.copy(),
        )
        try:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(f"{server.target}\n".encode())
            proc.stdin.flush()
            first = _read_line(proc.stdout, timeout=30)
            assert json.loads(first)["record"] == "result"
            assert json.loads(first)["verdict"] == "pass"
            proc.stdin.write(f"{server.target} domain=b.test\nnot a target at all:x\n".encode())
            proc.stdin.close()
            rest = proc.stdout.read().decode()
            proc.wait(30)
        finally:
            proc.kill()
            proc.wait()
    records = lines(rest)
    assert [r["record"] for r in records] == ["result", "summary"]
    assert records[-1]["skipped_targets"] == 1
    assert proc.returncode == 2  # a line was skipped for a mistake; nothing failed
    assert b"-:3:" in proc.stderr.read()  # type: ignore[union-attr]


def _read_line(stream, timeout: float) -> str:
    selector = selectors.DefaultSelector()
    selector.register(stream, selectors.EVENT_READ)
    data = b""
    while not data.endswith(b"\n"):
        if not selector.select(timeout):
            pytest.fail(f"no result line within {timeout} s while stdin was open")
        chunk = os.read(stream.fileno(), 1)
        if not chunk:
            break
        data += chunk
    return data.decode()


def test_targets_dash_in_text_format(cli, tmp_path) -> None:
    with CountingServer() as server:
        proc = subprocess.run(
            [sys.executable, "-m", "probe", "run", BASIC, "--targets", "-", *RUN],
            input=f"{server.target}\n{server.target}\n",
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=60,
        )
    assert proc.returncode == 0, proc.stderr
    assert "2 server result(s): 2 passed" in proc.stdout


# --- shards and merge ----------------------------------------------------------------------------


@pytest.fixture
def four_servers():
    hosts = [f"127.0.0.{i}" for i in range(1, 5)]
    servers = [CountingServer(host) for host in hosts]
    for server in servers:
        server.__enter__()
    try:
        yield servers
    finally:
        for server in servers:
            server.__exit__()


def test_shards_then_merge_equal_the_single_run(cli, tmp_path, four_servers) -> None:
    listing = [s.target for s in four_servers] * 3 + [
        "127.0.0.9:1",
        f"{four_servers[0].target} domain=x.test",
    ]
    path = tmp_path / "targets.txt"
    path.write_text("\n".join(listing) + "\n")
    common = [BASIC, "--targets", str(path), *RUN, "--per-host", "4"]
    single = cli("run", *common, "--format", "jsonl", "--output", str(tmp_path / "all.jsonl"))
    count = 3
    shards = []
    for index in range(count):
        out = tmp_path / f"shard-{index}.jsonl"
        done = cli(
            "run", *common, "--format", "jsonl", "--shard", f"{index}/{count}", "--output", str(out)
        )
        assert done.code in (0, 3), done.stderr
        shards.append(out)
    merged = cli("merge", *map(str, shards), "--format", "json")
    whole = cli("merge", str(tmp_path / "all.jsonl"), "--format", "json")

    assert merged.code == whole.code == single.code == 3
    got = [outcome(r) for r in merged.json()["results"]]
    want = [outcome(r) for r in whole.json()["results"]]
    assert got == want
    assert len(want) == len(listing)
    # No target in two shards; every server's sessions in one shard.
    orders = [
        tuple(r["order"]) for s in shards for r in lines(s.read_text()) if r["record"] == "result"
    ]
    assert len(orders) == len(set(orders)) == len(listing)
    for shard in shards:
        addresses = {r["address"] for r in lines(shard.read_text()) if r["record"] == "result"}
        for other in shards:
            if other != shard:
                theirs = {r["address"] for r in lines(other.read_text()) if r["record"] == "result"}
                assert not (addresses - {None}) & theirs

    text = cli("merge", *map(str, shards))
    assert text.code == 3
    assert (
        f"{len(listing)} server result(s): {len(listing) - 1} passed, 0 failed, 1 error"
        in text.stdout
    )


def test_merge_of_a_cut_short_shard_is_interrupted(cli, tmp_path) -> None:
    with CountingServer() as server:
        out = tmp_path / "s.jsonl"
        cli("run", BASIC, server.target, *RUN, "--format", "jsonl", "--output", str(out))
    first = out.read_text().splitlines()[0]
    cut = tmp_path / "cut.jsonl"
    cut.write_text(first + "\n")
    done = cli("merge", str(cut), "--format", "json")
    assert done.code == 3
    assert done.json()["interrupted"] is True


def test_merge_refuses_what_is_not_a_shard(cli, tmp_path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": 1}\n')
    done = cli("merge", str(bad))
    assert done.code == 2
    assert "bad.jsonl:1" in done.stderr


def test_shard_key_is_the_most_preferred_mx_host() -> None:
    plan = TargetPlan(parse_target("example.test"), PlanKind.MX, "example.test", 25)
    # Equal preferences come out in a random order; the key does not depend on it.
    plan.hosts = [MxHost("mx2.example.test", 10), MxHost("mx1.example.test", 10), MxHost("b", 20)]
    assert server_key(plan) == "mx1.example.test"
    plan.hosts.reverse()
    assert server_key(plan) == "mx1.example.test"


def test_every_target_lands_in_exactly_one_shard() -> None:
    plans = [
        TargetPlan(parse_target(f"10.0.{i // 250}.{i % 250}"), PlanKind.DIRECT, None, 25)
        for i in range(1000)
    ]
    count = 7
    for plan in plans:
        assert sum(Shard(i, count).holds(plan) for i in range(count)) == 1
    sizes = [sum(Shard(i, count).holds(p) for p in plans) for i in range(count)]
    assert min(sizes) > 1000 / count / 2  # spread, not all in one


@pytest.mark.parametrize("text", ["1", "3/3", "-1/2", "a/b", "1/0"])
def test_bad_shard(text: str) -> None:
    with pytest.raises(ValueError):
        parse_shard(text)

"""Politeness: --concurrency, --per-host and --rate hold, seen from servers that count.

Only lower bounds on time are asserted (a limit that holds can only make a run slower), so a
loaded machine cannot fail these tests; speed itself is measured in bench/bench_fleet.py.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from fleet_support import CountingServer

from probe.session.fleet import HostGate, RateGate

ROOT = Path(__file__).resolve().parent.parent
BASIC = str(ROOT / "scenarios" / "basic.yaml")
RUN = [BASIC, "--var", "domain=example.test", "--no-report", "--settle", "0"]


def targets_file(tmp_path: Path, lines: list[str]) -> str:
    path = tmp_path / "targets.txt"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_per_host_limit_holds(cli, tmp_path) -> None:
    with CountingServer(hold=0.05) as server:
        listing = targets_file(tmp_path, [server.target] * 12)
        done = cli("run", *RUN, "--targets", listing, "--concurrency", "8", "--per-host", "3")
    assert done.code == 0, done.stderr
    assert server.sessions == 12
    assert server.most <= 3
    assert server.most >= 2  # the sessions did overlap: the limit was what held them


def test_per_host_default_is_two(cli, tmp_path) -> None:
    with CountingServer(hold=0.05) as server:
        listing = targets_file(tmp_path, [server.target] * 8)
        done = cli("run", *RUN, "--targets", listing, "--concurrency", "8")
    assert done.code == 0, done.stderr
    assert server.most <= 2


def test_names_of_one_server_share_its_limit(cli, tmp_path) -> None:
    # Two names for the same server (as two domains whose MX is the same host): one limit.
    with CountingServer(hold=0.05) as server:
        port = server.port
        lines = [f"one.test:{port}", f"two.test:{port}"] * 5
        listing = targets_file(tmp_path, lines)
        resolve = ["--resolve", "one.test:127.0.0.1", "--resolve", "two.test:127.0.0.1"]
        done = cli("run", *RUN, "--targets", listing, "--per-host", "2", *resolve)
    assert done.code == 0, done.stderr
    assert server.sessions == 10
    assert server.most <= 2


def test_concurrency_bounds_sessions_over_all_servers(cli, tmp_path) -> None:
    with (
        CountingServer("127.0.0.1", hold=0.05) as a,
        CountingServer("127.0.0.2", hold=0.05) as b,
        CountingServer("127.0.0.3", hold=0.05) as c,
    ):
        servers = (a, b, c)
        listing = targets_file(tmp_path, [s.target for s in servers] * 4)
        watch = _Watcher(servers)
        with watch:
            done = cli("run", *RUN, "--targets", listing, "--concurrency", "3", "--per-host", "5")
    assert done.code == 0, done.stderr
    assert sum(s.sessions for s in servers) == 12
    assert watch.most <= 3


def test_rate_spaces_new_sessions(cli, tmp_path) -> None:
    with CountingServer() as server:
        listing = targets_file(tmp_path, [server.target] * 6)
        started = time.monotonic()
        done = cli(
            "run",
            *RUN,
            "--targets",
            listing,
            "--rate",
            "10",
            "--per-host",
            "6",
            "--concurrency",
            "6",
        )
        elapsed = time.monotonic() - started
    assert done.code == 0, done.stderr
    assert server.sessions == 6
    # Six sessions at 10 a second are released 0.5 s apart, first to last; the server sees them
    # connect with some jitter (a busy machine delays one connect more than another), so allow
    # 0.1 s of it: without the limit all six arrive within a few milliseconds.
    assert max(server.started) - min(server.started) >= 0.4
    assert elapsed >= 0.5


def test_rate_holds_for_a_single_target(cli) -> None:
    with CountingServer() as server:
        done = cli("run", BASIC, server.target, *RUN[1:], "--rate", "1000")
    assert done.code == 0, done.stderr


def test_bad_limits_are_usage_errors(cli) -> None:
    for option in (["--per-host", "0"], ["--rate", "0"], ["--rate", "x"], ["--shard", "2/2"]):
        done = cli("run", BASIC, "127.0.0.1:1", *option)
        assert done.code == 2, (option, done.stderr)


class _Watcher:
    """Samples the sum of open connections over several servers (each counts its own)."""

    def __init__(self, servers: tuple[CountingServer, ...]) -> None:
        self.servers = servers
        self.most = 0
        self._stop = False
        import threading

        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop:
            self.most = max(self.most, sum(s.open for s in self.servers))
            time.sleep(0.001)

    def __enter__(self) -> _Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        self._thread.join(5)


# --- the gates themselves ----------------------------------------------------------------------


def test_host_gate_forgets_idle_servers() -> None:
    async def main() -> tuple[int, int]:
        gate = HostGate(2)
        seen = 0

        async def one(key: str) -> None:
            nonlocal seen
            async with gate.hold(key):
                seen = max(seen, len(gate))
                await asyncio.sleep(0)

        await asyncio.gather(*(one(f"10.0.0.{i}:25") for i in range(100)))
        return seen, len(gate)

    seen, left = asyncio.run(main())
    assert seen > 1
    assert left == 0  # nothing kept once no session holds or waits


@pytest.mark.parametrize("rate", [50.0, 200.0])
def test_rate_gate_spacing(rate: float) -> None:
    async def main() -> list[float]:
        gate = RateGate(rate)
        loop = asyncio.get_running_loop()
        times = []
        for _ in range(5):
            await gate.wait()
            times.append(loop.time())
        return times

    times = asyncio.run(main())
    assert times[-1] - times[0] >= 4 / rate - 1e-3

"""Reply-parser throughput and the drip-feed worst case; prints figures, asserts nothing.

python bench/bench_reader.py
"""

from __future__ import annotations

import time
import tracemalloc

from probe.protocol.reader import DEFAULT_MAX_REPLY_BYTES, NEED_DATA, ReplyReader


def _drain(reader: ReplyReader) -> int:
    from probe.protocol.reader import NEED_DATA

    count = 0
    while reader.next_event() is not NEED_DATA:
        count += 1
        if count > 10_000:
            break
    return count


def bench_bulk(replies: int = 20_000) -> None:
    data = b"".join(b"250 2.1.0 Sender <user%d@example.test> OK\r\n" % n for n in range(replies))
    reader = ReplyReader()
    start = time.perf_counter()
    reader.receive_data(data)
    got = 0
    from probe.protocol.reply import Reply

    while isinstance(reader.next_event(), Reply):
        got += 1
    elapsed = time.perf_counter() - start
    print(
        f"bulk: {got} one-line replies, {len(data) / 1e6:.1f} MB in {elapsed:.3f} s "
        f"= {got / elapsed:,.0f} replies/s"
    )


def bench_drip_endless_line() -> None:
    reader = ReplyReader()
    start = time.perf_counter()
    reader.receive_data(b"250 ")
    for _ in range(DEFAULT_MAX_REPLY_BYTES):
        reader.receive_data(b"x")
        reader.next_event()
    elapsed = time.perf_counter() - start
    print(
        f"drip: {DEFAULT_MAX_REPLY_BYTES} bytes of one endless line, one byte per call: "
        f"{elapsed:.3f} s ({elapsed / DEFAULT_MAX_REPLY_BYTES * 1e6:.2f} us/byte)"
    )


def bench_drip_multiline(lines: int = 1000) -> None:
    data = b"".join(b"250-%d\r\n" % n for n in range(lines - 1)) + b"250 end\r\n"
    reader = ReplyReader()
    start = time.perf_counter()
    for index in range(len(data)):
        reader.receive_data(data[index : index + 1])
        _drain(reader)
    elapsed = time.perf_counter() - start
    print(f"drip: {lines}-line reply ({len(data)} bytes) one byte per call: {elapsed:.3f} s")


def bench_memory_cap() -> None:
    tracemalloc.start()
    reader = ReplyReader()
    chunk = b"x" * 4096
    reader.receive_data(b"250 ")
    for _ in range(10_000):  # 40 MB offered; the reader must stop at its cap
        reader.receive_data(chunk)
        reader.next_event()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"memory: 40 MB endless line offered, peak traced {peak / 1024:.0f} KiB "
        f"(cap {DEFAULT_MAX_REPLY_BYTES // 1024} KiB)"
    )


def bench_memory_tiny_lines(lines: int = 1000) -> None:
    data = b"250-\n" * (lines - 1) + b"250 end\r\n"  # the shortest continuation lines
    tracemalloc.start()
    reader = ReplyReader(max_reply_bytes=len(data))
    reader.receive_data(data)
    reply = reader.next_event()
    _, peak = tracemalloc.get_traced_memory()
    del reader
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert not isinstance(reply, type(NEED_DATA))
    print(
        f"memory: {lines}-line reply of {len(data)} bytes (five-byte lines): "
        f"{held / 1024:.0f} KiB held, peak {peak / 1024:.0f} KiB"
    )


if __name__ == "__main__":
    bench_bulk()
    bench_drip_endless_line()
    bench_drip_multiline()
    bench_memory_cap()
    bench_memory_tiny_lines()

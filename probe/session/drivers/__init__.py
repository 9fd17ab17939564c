"""Drivers: they do the I/O the session machine asks for. `blocking` (sockets and select, no
asyncio) plays one session at a time; `aio` plays many concurrently on one event loop."""

"""A real, private Postfix on a free loopback port, for end-to-end tests.

    with postfix_server() as server:          # or: host, port = server
        run_the_cli(server.target)             # "127.0.0.1:PORT"
        print(server.maillog())                # Postfix's own log, for debugging

Everything the instance needs (main.cf, master.cf, queue, data, TLS pair, log) lives in one temp
dir; /etc/postfix and the system's Postfix (if any) are never touched or started. The server
receives mail for example.test and localhost, discards what it accepts, refuses to relay, offers
STARTTLS with a self-signed certificate, and makes no DNS queries that leave the machine.

`postfix_unavailable()` says why Postfix cannot run here (not installed, not root, ...);
`require_postfix()` turns that into a pytest skip, or into a failure when
SMTP_PROBE_REQUIRE_SERVERS=1 (CI sets it, so a missing server cannot hide behind a skip).

Set SMTP_PROBE_KEEP_POSTFIX=1 to keep the temp dir (config, queue, maillog) after the run.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from certs import write_tls_pair

POSTFIX = "/usr/sbin/postfix"
HOST = "127.0.0.1"
DOMAIN = "example.test"  # a domain the instance receives mail for (RFC 2606 .test)
MAIL_OWNER = "postfix"  # Debian's package creates this user ...
SETGID_GROUP = "postdrop"  # ... and this group
START_TIMEOUT = 15.0  # seconds for the port to accept connections
STOP_TIMEOUT = 20.0  # `postfix stop` itself waits up to 5 s, then kill -9s the master's group


class PostfixError(RuntimeError):
    """The private Postfix could not be started; the message carries the log."""


def postfix_unavailable() -> str | None:
    """Why a private Postfix cannot run on this machine, or None when it can."""
    if not os.path.isfile(POSTFIX) or not os.access(POSTFIX, os.X_OK):
        return (
            f"Postfix is not installed ({POSTFIX} not found); "
            "run `bash scripts/install-servers` as root to install it"
        )
    if os.geteuid() != 0:
        # master(8) refuses to run as anyone but root (it binds, then drops to mail_owner).
        return "a private Postfix instance needs root (Postfix's master daemon runs only as root)"
    try:
        pwd.getpwnam(MAIL_OWNER)
        grp.getgrnam(SETGID_GROUP)
    except KeyError:
        return (
            f"Postfix's user {MAIL_OWNER!r} or group {SETGID_GROUP!r} is missing; "
            "reinstall the postfix package"
        )
    return None


def servers_required() -> bool:
    return os.environ.get("SMTP_PROBE_REQUIRE_SERVERS") == "1"


def require_server(reason: str | None) -> None:
    """Skip the calling test because a server cannot run here (`reason`), or fail it when
    SMTP_PROBE_REQUIRE_SERVERS=1 (CI installs them all); nothing when `reason` is None."""
    if reason is None:
        return
    if servers_required():
        pytest.fail(f"SMTP_PROBE_REQUIRE_SERVERS=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def require_postfix() -> None:
    """Skip the calling test (or fail it, when SMTP_PROBE_REQUIRE_SERVERS=1) without Postfix."""
    require_server(postfix_unavailable())


class PostfixServer:
    """A running instance. Unpacks as `host, port`."""

    def __init__(self, workdir: Path, host: str, port: int, smtps_port: int | None = None) -> None:
        self.workdir = workdir
        self.host = host
        self.port = port
        self.smtps_port = smtps_port  # implicit TLS (RFC 8314), when asked for
        self.config_dir = workdir / "config"
        self.queue_dir = workdir / "queue"
        self.data_dir = workdir / "data"
        self.maillog_path = workdir / "log" / "maillog"

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def smtps_target(self) -> str:
        """smtps://HOST:PORT of the implicit-TLS listener (postfix_server(implicit_tls=True))."""
        return f"smtps://{self.host}:{self.smtps_port}"

    def __iter__(self) -> Iterator[str | int]:
        return iter((self.host, self.port))

    def __repr__(self) -> str:
        return f"PostfixServer({self.target}, workdir={self.workdir})"

    def maillog(self, last: int | None = None) -> str:
        """Postfix's log (all of it, or the last `last` lines)."""
        try:
            text = self.maillog_path.read_text(errors="replace")
        except OSError as exc:
            return f"(no maillog at {self.maillog_path}: {exc})"
        if last is not None:
            text = "".join(text.splitlines(keepends=True)[-last:])
        return text

    def master_pid(self) -> int | None:
        try:
            return int((self.queue_dir / "pid" / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _main_cf(server: PostfixServer, cert: Path, key: Path) -> str:
    w = server.workdir
    return f"""\
# Private test instance written by tests/postfix_server.py. Nothing here is for production.

# --- Where things live: all in the temp dir, so /etc/postfix and /var/spool/postfix are untouched.
config_directory = {server.config_dir}
# The queue dir must be owned by root and not group/other writable (postfix-script check-warn);
# `postfix start` (post-install create-missing) makes its subdirs, owned by mail_owner.
queue_directory = {server.queue_dir}
# Postfix keeps its caches/locks here; it must be owned by mail_owner (we chown it).
data_directory = {server.data_dir}
# Debian's defaults for the binaries, spelled out so that this file does not depend on any
# /etc/postfix/main.cf (the "No configuration" install writes none).
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
# Postfix refuses to start when these accounts are missing or are root; Debian's package creates
# both. mail_owner owns the queue and runs the daemons; setgid_group is postdrop's group.
mail_owner = {MAIL_OWNER}
setgid_group = {SETGID_GROUP}
# Current defaults, and no "backwards-compatible default setting" warnings in the log.
compatibility_level = 3.6

# --- Logging: to a file of our own instead of syslog (there is no syslog daemon here).
# postlogd writes it (hence the postlog service in master.cf). Postfix refuses a maillog_file
# outside maillog_file_prefixes: without the prefix setting it exits 1 and logs nothing.
maillog_file = {server.maillog_path}
maillog_file_prefixes = {w}
smtpd_tls_loglevel = 1

# --- Network: our one smtpd listens on 127.0.0.1:PORT (master.cf); nothing on other addresses.
inet_interfaces = loopback-only
inet_protocols = ipv4

# --- Identity, fixed so that Postfix never asks the resolver about the machine's own name.
myhostname = mx.{DOMAIN}
mydomain = {DOMAIN}
myorigin = $mydomain
append_dot_mydomain = no

# --- What it receives: mail for these domains is "local"; everyone else's is relaying.
mydestination = {DOMAIN}, localhost
# Inline tables: no postmap/newaliases, no files to build. postmaster must exist (RFC 5321 4.5.1).
local_recipient_maps = inline:{{ alice=ok, bob=ok, postmaster=ok }}
alias_maps = inline:{{ postmaster=alice }}
# Empty: there is no aliases database to build (newaliases would otherwise be expected).
alias_database =
# Accepted local mail is queued, then dropped: no mailboxes, no local(8) deliveries as users.
local_transport = discard:local
# No "you have new mail" notices to the comsat service.
biff = no

# --- Relaying is refused, even from loopback: mynetworks is only 127.0.0.1 and the relay
# restrictions do not contain permit_mynetworks, so RCPT to another domain gets 554 5.7.1.
mynetworks = 127.0.0.1/32
smtpd_relay_restrictions = reject_unauth_destination

# --- DNS: no lookups that leave the machine. The SMTP client never uses DNS (it never runs
# anyway: nothing is relayed and the one local transport is discard); smtpd does not look up
# the client's name (127.0.0.1 would be answered from /etc/hosts, but a resolver fallback
# would leave the machine). Checked with strace over start, a full session, relay refusal,
# STARTTLS and stop: no packet to port 53. As a second wall, the instance runs with a private
# /etc/resolv.conf naming 127.0.0.1 (see _start in tests/postfix_server.py).
smtp_dns_support_level = disabled
smtpd_peername_lookup = no

# --- STARTTLS with a self-signed pair; "may" = offered, not required.
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtpd_tls_security_level = may
"""


# One smtpd on 127.0.0.1:PORT and the internal services. The chroot column (5th) is "n" for every
# service: a chroot would be the queue dir, which lacks the etc/, lib/ ... copies Debian's init
# script puts under /var/spool/postfix, and the daemons would fail there.
_MASTER_CF = """\
# service type  private unpriv  chroot  wakeup  maxproc command + args
{host}:{port} inet n    -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


# A second smtpd speaking TLS from the first byte (RFC 8314), as a submissions port does.
_SMTPS_MASTER_CF = """\
{host}:{port} inet n    -       n       -       -       smtpd -o smtpd_tls_wrappermode=yes
"""


def _prepare(workdir: Path, port: int, smtps_port: int | None = None) -> PostfixServer:
    server = PostfixServer(workdir, HOST, port, smtps_port)
    # The daemons run as mail_owner and must reach the config and queue: the temp dir is 0700.
    workdir.chmod(0o755)
    for d in (server.config_dir, server.queue_dir, server.maillog_path.parent):
        d.mkdir(mode=0o755)
    server.data_dir.mkdir(mode=0o700)
    owner = pwd.getpwnam(MAIL_OWNER)
    os.chown(server.data_dir, owner.pw_uid, owner.pw_gid)
    cert, key = server.config_dir / "cert.pem", server.config_dir / "key.pem"
    write_tls_pair(cert, key, f"mx.{DOMAIN}")
    (server.config_dir / "main.cf").write_text(_main_cf(server, cert, key))
    master = _MASTER_CF.format(host=HOST, port=port)
    if smtps_port is not None:
        master += _SMTPS_MASTER_CF.format(host=HOST, port=smtps_port)
    (server.config_dir / "master.cf").write_text(master)
    # A resolver config that sends any stray query to loopback, where nobody answers.
    (workdir / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    return server


def _private_resolver_works() -> bool:
    """Whether `unshare --mount` + a bind mount over /etc/resolv.conf works here (needs root)."""
    if shutil.which("unshare") is None:
        return False
    try:
        probe = subprocess.run(
            ["unshare", "--mount", "sh", "-c", "mount --bind /dev/null /etc/resolv.conf"],
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def _postfix_cmd(server: PostfixServer, action: str) -> list[str]:
    return [POSTFIX, "-c", str(server.config_dir), action]


def _start(server: PostfixServer) -> subprocess.CompletedProcess[str]:
    cmd = _postfix_cmd(server, "start")
    if _private_resolver_works():
        # The master daemon, and every daemon it forks, lives in a mount namespace in which
        # /etc/resolv.conf names 127.0.0.1: no lookup of theirs can reach a DNS server elsewhere.
        # (`postfix start` daemonizes the master, which keeps the namespace after unshare exits.)
        script = 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"'
        cmd = ["unshare", "--mount", "sh", "-c", script, "sh", str(server.workdir / "resolv.conf")]
        cmd += _postfix_cmd(server, "start")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def _wait_for_port(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
            return True
        time.sleep(0.05)
    return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie counts as gone (it is not our child, so init reaps it).
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def _stop(server: PostfixServer) -> None:
    """`postfix stop`; if that hangs or leaves the master alive, kill the master (and its group)."""
    pid = server.master_pid()
    with contextlib.suppress(subprocess.TimeoutExpired, OSError):
        subprocess.run(
            _postfix_cmd(server, "stop"), capture_output=True, text=True, timeout=STOP_TIMEOUT
        )
    if pid is None or not _pid_alive(pid):
        return
    # The master is a session leader (its group id is its pid): its group holds only Postfix's
    # daemons, the ones we started.
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(pid) == pid:
                os.killpg(pid, sig)
        deadline = time.monotonic() + 3
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not _pid_alive(pid):
            return


@contextmanager
def postfix_server(
    start_timeout: float = START_TIMEOUT, attempts: int = 3, implicit_tls: bool = False
) -> Iterator[PostfixServer]:
    """Start a private Postfix on a free loopback port; stop it and remove its files after.

    Raises PostfixError (with the maillog) if it does not accept connections in time. A port
    taken between choosing it and Postfix binding it is retried with another (`attempts`).
    """
    reason = postfix_unavailable()
    if reason is not None:
        raise PostfixError(reason)
    keep = os.environ.get("SMTP_PROBE_KEEP_POSTFIX") == "1"
    failures: list[str] = []
    for _ in range(attempts):
        workdir = Path(tempfile.mkdtemp(prefix="smtp-probe-postfix-"))
        server = _prepare(workdir, free_port(), free_port() if implicit_tls else None)
        started = False
        try:
            proc = _start(server)
            started = proc.returncode == 0 and _wait_for_port(
                server.host, server.port, start_timeout
            )
            if started and server.smtps_port is not None:
                started = _wait_for_port(server.host, server.smtps_port, start_timeout)
            if not started:
                failures.append(
                    f"`{' '.join(_postfix_cmd(server, 'start'))}` exited {proc.returncode}; "
                    f"port {server.port} "
                    f"{'not accepting connections' if proc.returncode == 0 else 'not tried'}\n"
                    f"stdout: {proc.stdout.strip()}\nstderr: {proc.stderr.strip()}\n"
                    f"maillog (last 40 lines):\n{server.maillog(last=40)}"
                )
                continue
            try:
                yield server
            finally:
                _stop(server)
            return
        finally:
            if not started:
                _stop(server)
            if keep:
                print(f"postfix_server: kept {workdir}")
            else:
                shutil.rmtree(workdir, ignore_errors=True)
    raise PostfixError("Postfix did not start:\n" + "\n---\n".join(failures))

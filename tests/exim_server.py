"""A real, private Exim on a free loopback port, for end-to-end tests.

    with exim_server() as server:          # or: host, port = server
        run_the_cli(server.target)          # "127.0.0.1:PORT"
        print(server.log())                 # Exim's mainlog (and paniclog, stderr if any)

Debian's Exim cannot be installed beside Postfix (both packages are the mail-transport-agent), so
scripts/install-servers unpacks its packages into a private folder (`exim_dirs()`); nothing of it
is installed, configured or started system-wide. The instance runs from that folder with a
configuration of our own (no Debian split config), and everything it writes (spool, hints,
logs, TLS pair) lives in one temp dir; /etc/exim4 and the system's mail setup are never touched.

It runs without privilege from start to end: as the current user, or as "nobody" when the tests
run as root. Nothing needs root (the port is above 1024, and mail is thrown away in the
receiving process), and a daemon started by root with -C would keep root until it binds (Exim
also refuses a compiled-in Exim user with uid 0). The Debian binary looks up that user,
"Debian-exim", before it reads any configuration; rather than add it to /etc/passwd, the
instance runs under nss_wrapper with a private passwd/group naming it, mapped to the uid Exim
runs as.

The server receives mail for example.test and localhost (postmaster, alice, bob; accepted mail is
discarded by a :blackhole: router), refuses to relay, offers STARTTLS with a self-signed
certificate, and makes no DNS queries: no host, ident or HELO lookups, no sender verification,
no dnslookup router; as walls behind that, resolv_wrapper points Exim's resolver at 127.0.0.1,
and, when the tests run as root, the daemon lives in a mount namespace whose /etc/resolv.conf
names only 127.0.0.1.

With `auth="offered"` the instance also takes AUTH PLAIN, LOGIN and CRAM-MD5 (Exim's own
`plaintext` and `cram_md5` authenticators: no external SASL) for one fixed test user
(`tls_servers.USER`, `tls_servers.PASSWORD`), advertised only inside TLS: auth_advertise_hosts is
`${if eq{$tls_in_cipher}{}{}{*}}`, the idiom of Exim's own manual, since Exim would otherwise
offer AUTH (and take passwords) in the clear to every host (its default is `*`), and AUTH before
STARTTLS gets Exim's "503 AUTH command used when not advertised". With `auth="required"` it is
a submission server too (RFC 6409 §4.3): MAIL from a client that has not authenticated gets
"530 5.7.0 Authentication required" (RFC 4954 §6).

`exim_unavailable()` says why Exim cannot run here; `require_exim()` turns that into a pytest
skip, or into a failure when SMTP_PROBE_REQUIRE_SERVERS=1 (CI sets it).

Set SMTP_PROBE_KEEP_EXIM=1 to keep the temp dir (config, spool, logs) after the run.
"""

from __future__ import annotations

import contextlib
import functools
import glob
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

from certs import write_tls_pair
from postfix_server import require_server
from tls_servers import PASSWORD as AUTH_PASSWORD
from tls_servers import USER as AUTH_USER

HOST = "127.0.0.1"
DOMAIN = "example.test"  # a domain the instance receives mail for (RFC 2606 .test)
USERS = ("postmaster", "alice", "bob")  # the local parts it accepts at its domains
DIR_ENV = "SMTP_PROBE_EXIM_DIR"  # where scripts/install-servers unpacked Exim, if not a default
BINARY = Path("usr/sbin/exim4")  # inside that folder
COMPILED_IN_USER = "Debian-exim"  # Debian's build: EXIM_USER=ref:Debian-exim, looked up at start
UNPRIVILEGED_USER = "nobody"  # who Exim runs as when the tests run as root
WRAPPERS = ("libnss_wrapper.so", "libresolv_wrapper.so")
START_TIMEOUT = 15.0  # seconds for the daemon to answer its first connection with 220
STOP_TIMEOUT = 5.0  # seconds for the daemon to exit after SIGTERM
LINGER = 2.0  # seconds more for its children to finish before they are killed


class EximError(RuntimeError):
    """The private Exim could not be started; the message carries its log."""


def exim_dirs() -> list[Path]:
    """Where scripts/install-servers unpacks Exim: $SMTP_PROBE_EXIM_DIR, else its two defaults."""
    if os.environ.get(DIR_ENV):
        return [Path(os.environ[DIR_ENV])]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return [Path("/opt/smtp-probe/exim"), cache / "smtp-probe" / "exim"]


def find_exim() -> Path | None:
    """The unpacked exim binary, or None."""
    for folder in exim_dirs():
        binary = folder / BINARY
        if binary.is_file() and os.access(binary, os.X_OK):
            return binary
    return None


def _find_library(name: str) -> Path | None:
    for pattern in (f"/usr/lib/*-linux-*/{name}", f"/usr/lib64/{name}", f"/usr/lib/{name}"):
        for found in sorted(glob.glob(pattern)):
            return Path(found)
    return None


def run_as() -> tuple[int, int]:
    """The uid and gid Exim runs as: ours, or nobody's when we are root."""
    if os.geteuid() != 0:
        return os.geteuid(), os.getegid()
    try:
        entry = pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        return 65534, 65534
    return entry.pw_uid, entry.pw_gid


def _write_identity_files(folder: Path, uid: int, gid: int) -> None:
    """nss_wrapper's passwd/group/hosts: the system's entries plus Exim's compiled-in user."""
    users = [":".join(map(str, tuple(p))) for p in pwd.getpwall()]
    users.append(f"{COMPILED_IN_USER}:x:{uid}:{gid}:Exim (smtp-probe):/nonexistent:/bin/false")
    groups = [f"{g.gr_name}:x:{g.gr_gid}:{','.join(g.gr_mem)}" for g in grp.getgrall()]
    groups.append(f"{COMPILED_IN_USER}:x:{gid}:")
    (folder / "passwd").write_text("\n".join(users) + "\n")
    (folder / "group").write_text("\n".join(groups) + "\n")
    # Names Exim might resolve through NSS come from here first, not from a DNS server.
    (folder / "hosts").write_text(f"127.0.0.1 mx.{DOMAIN} localhost\n")
    # Where Exim's own resolver calls (res_search: dnslookup, host_lookup ...) would go.
    (folder / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")


def _wrapper_env(folder: Path) -> dict[str, str]:
    libraries = [_find_library(name) for name in WRAPPERS]
    return {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C",
        "LD_PRELOAD": " ".join(str(lib) for lib in libraries if lib is not None),
        "NSS_WRAPPER_PASSWD": str(folder / "passwd"),
        "NSS_WRAPPER_GROUP": str(folder / "group"),
        "NSS_WRAPPER_HOSTS": str(folder / "hosts"),
        "RESOLV_WRAPPER_CONF": str(folder / "resolv.conf"),
    }


@functools.cache
def _exim_bv(binary: Path) -> tuple[str | None, str]:
    """Run `exim -bV` (version and build) the way the server runs: (version or None, output)."""
    with tempfile.TemporaryDirectory(prefix="smtp-probe-exim-bv-") as tmp:
        _write_identity_files(Path(tmp), *run_as())
        try:
            proc = subprocess.run(
                [str(binary), "-C", "/dev/null", "-bV"],
                capture_output=True,
                text=True,
                timeout=30,
                env=_wrapper_env(Path(tmp)),
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, str(exc)
    output = (proc.stdout + proc.stderr).strip()
    first = output.splitlines()[0] if output else ""
    if proc.returncode != 0 or not first.startswith("Exim version "):
        return None, output
    return first.split()[2], output


def exim_unavailable() -> str | None:
    """Why a private Exim cannot run on this machine, or None when it can."""
    binary = find_exim()
    if binary is None:
        where = ", ".join(str(d / BINARY) for d in exim_dirs())
        return (
            f"Exim is not unpacked (looked for {where}); "
            "run `bash scripts/install-servers` (as root, for its libraries) to fetch it"
        )
    for name in WRAPPERS:
        if _find_library(name) is None:
            package = name.removesuffix(".so").replace("_", "-")
            return f"{name} is missing; `apt-get install {package}` (scripts/install-servers does)"
    if os.geteuid() == 0 and run_as()[0] == 0:
        return f"running as root and no unprivileged {UNPRIVILEGED_USER!r} user to run Exim as"
    version, output = _exim_bv(binary)
    if version is None:
        return f"{binary} -bV failed (missing libraries? run scripts/install-servers): {output}"
    return None


def exim_version() -> str | None:
    """The unpacked Exim's version ("4.96"), or None when it cannot run."""
    binary = find_exim()
    return None if binary is None else _exim_bv(binary)[0]


def require_exim() -> None:
    """Skip the calling test (or fail it, when SMTP_PROBE_REQUIRE_SERVERS=1) without Exim."""
    require_server(exim_unavailable())


class EximServer:
    """A running instance. Unpacks as `host, port`."""

    def __init__(self, workdir: Path, host: str, port: int, binary: Path) -> None:
        self.workdir = workdir
        self.host = host
        self.port = port
        self.binary = binary
        self.config_path = workdir / "exim.conf"
        self.spool_dir = workdir / "spool"
        self.log_dir = workdir / "log"
        self.stderr_path = workdir / "daemon.out"
        self.pid: int | None = None  # the daemon's (the leader of its own process group)

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"

    def __iter__(self) -> Iterator[str | int]:
        return iter((self.host, self.port))

    def __repr__(self) -> str:
        return f"EximServer({self.target}, workdir={self.workdir})"

    def mainlog(self, last: int | None = None) -> str:
        """Exim's mainlog (all of it, or the last `last` lines)."""
        return _read(self.log_dir / "mainlog", last)

    def log(self, last: int | None = None) -> str:
        """The mainlog, then the paniclog and the daemon's own output if they say anything."""
        text = self.mainlog(last)
        for title, path in (("paniclog", self.log_dir / "paniclog"), ("stderr", self.stderr_path)):
            extra = _read(path, last, missing="")
            if extra.strip():
                text += f"--- {title} ---\n{extra}"
        return text

    def leftover_pids(self) -> list[int]:
        """Processes still running our configuration (`-C <this config>`): none after a stop."""
        needle = str(self.config_path).encode()
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                if needle in (entry / "cmdline").read_bytes().split(b"\0") and _alive(
                    int(entry.name)
                ):
                    pids.append(int(entry.name))
        return pids


def _read(path: Path, last: int | None, missing: str | None = None) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return missing if missing is not None else f"(no {path.name} at {path}: {exc})\n"
    if last is not None:
        text = "".join(text.splitlines(keepends=True)[-last:])
    return text


def _alive(pid: int) -> bool:
    """Running, and not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


AUTH_MODES = ("offered", "required")


def _auth_main(auth: str | None) -> str:
    """The main-section lines of the AUTH variants (see the module's docstring)."""
    if auth is None:
        return ""
    lines = f"""
# --- AUTH ({auth}): advertised only inside TLS (Exim's default, auth_advertise_hosts = *, would
# offer it in the clear too).
auth_advertise_hosts = ${{if eq{{$tls_in_cipher}}{{}}{{}}{{*}}}}
"""
    if auth == "required":
        lines += "acl_smtp_mail = acl_check_mail\n"
    return lines


def _auth_acl(auth: str | None) -> str:
    if auth != "required":
        return ""
    return """
# A submission server (RFC 6409 §4.3): no MAIL before AUTH, refused as RFC 4954 §6 says.
acl_check_mail:
  deny    !authenticated = *
          message = 530 5.7.0 Authentication required
  accept
"""


def _authenticators(auth: str | None) -> str:
    """Exim's own authenticators for the one test user: PLAIN and LOGIN (plaintext), CRAM-MD5."""
    if auth is None:
        return ""
    text = """
begin authenticators

plain:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_condition = ${if and {{eq{$auth2}{USER}}{eq{$auth3}{PASSWORD}}}}
  server_set_id = $auth2

login:
  driver = plaintext
  public_name = LOGIN
  server_prompts = Username:: : Password::
  server_condition = ${if and {{eq{$auth1}{USER}}{eq{$auth2}{PASSWORD}}}}
  server_set_id = $auth1

cram:
  driver = cram_md5
  public_name = CRAM-MD5
  server_secret = ${if eq{$auth1}{USER}{PASSWORD}fail}
  server_set_id = $auth1
"""
    return text.replace("USER", AUTH_USER).replace("PASSWORD", AUTH_PASSWORD)


def _config(
    server: EximServer, uid: int, gid: int, cert: Path, key: Path, auth: str | None = None
) -> str:
    w = server.workdir
    return f"""\
# Private test instance written by tests/exim_server.py. Nothing here is for production.

# --- The binary and who it runs as. The harness starts it as uid {uid}, unprivileged, so there
# is no root to give up; naming that user here makes it Exim's own user (and admin user, which
# -bd needs). exim_path: the copy unpacked by scripts/install-servers, for any re-exec.
exim_path = {server.binary}
exim_user = {uid}
exim_group = {gid}
# Deliver in the receiving process as the Exim user, instead of re-executing the binary to
# regain a root privilege it never had.
deliver_drop_privilege = true
# Exim purges its environment at start; the wrappers it runs under must survive that (this also
# silences the "purging the environment" warning).
keep_environment = LD_PRELOAD : NSS_WRAPPER_PASSWD : NSS_WRAPPER_GROUP : NSS_WRAPPER_HOSTS : \\
  RESOLV_WRAPPER_CONF : PATH : LANG

# --- Where things live: all in the temp dir, so /var/spool/exim4 and /var/log/exim4 are
# untouched (their compiled-in defaults).
spool_directory = {server.spool_dir}
log_file_path = {server.log_dir}/%slog
pid_file_path = {w}/exim.pid
log_selector = +smtp_connection +smtp_protocol_error +smtp_syntax_error \\
  +smtp_incomplete_transaction +smtp_no_mail +received_recipients +tls_cipher +pipelining

# --- Network: one listening socket, 127.0.0.1:PORT.
local_interfaces = {server.host}
daemon_smtp_ports = {server.port}
disable_ipv6 = true
# A port taken meanwhile fails at once (the default retries 9 times, 30 s apart); the harness
# then picks another.
daemon_startup_retries = 0

# --- Identity, fixed so that Exim never asks about the machine's own name.
primary_hostname = mx.{DOMAIN}
qualify_domain = {DOMAIN}

# --- DNS: nothing that looks anything up. No reverse lookup of the client (host_lookup), no
# RFC 1413 ident call back to it, no lookup when the HELO name is our own; and below: no
# sender or HELO verification, no callouts, no DNS lists, no dnslookup router.
host_lookup =
rfc1413_hosts =
rfc1413_query_timeout = 0s
helo_lookup_domains =
helo_try_verify_hosts =
helo_verify_hosts =

# --- What EHLO advertises: SIZE, 8BITMIME, PIPELINING, CHUNKING, STARTTLS (the defaults, spelt
# out), and whatever else this build adds by default (PIPECONNECT, SMTPUTF8, HELP).
message_size_limit = 50M
accept_8bitmime = true
pipelining_advertise_hosts = *
chunking_advertise_hosts = *
tls_advertise_hosts = *
tls_certificate = {cert}
tls_privatekey = {key}
{_auth_main(auth)}
# --- What it receives: mail for these domains, to the users the router knows; relaying to any
# other domain is refused, from every host (127.0.0.1 included).
domainlist local_domains = {DOMAIN} : localhost
acl_smtp_rcpt = acl_check_rcpt

begin acl

acl_check_rcpt:
  require message = relay not permitted
          domains = +local_domains
  # Routes the address (below): unknown local parts get 550 "Unrouteable address".
  require verify = recipient
  accept
{_auth_acl(auth)}
begin routers

# Accepted mail is thrown away: no mailboxes, no transports, nothing delivered as anyone.
known_users:
  driver = redirect
  domains = +local_domains
  local_parts = {" : ".join(USERS)}
  data = :blackhole:

begin transports
{_authenticators(auth)}"""


def _prepare(workdir: Path, port: int, binary: Path, auth: str | None = None) -> EximServer:
    server = EximServer(workdir, HOST, port, binary)
    uid, gid = run_as()
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    write_tls_pair(cert, key, f"mx.{DOMAIN}")
    _write_identity_files(workdir, uid, gid)
    server.config_path.write_text(_config(server, uid, gid, cert, key, auth))
    for d in (server.spool_dir, server.log_dir):
        d.mkdir(mode=0o750)
    if os.geteuid() == 0:
        # Exim runs as `nobody`: it must own its spool and logs and read its key.
        for path in (workdir, *workdir.rglob("*")):
            os.chown(path, uid, gid, follow_symlinks=False)
    return server


def _private_resolver_works() -> bool:
    """Whether `unshare --mount` + a bind mount over /etc/resolv.conf works here (needs root)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("setpriv") is None:
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


def _exim_args(server: EximServer) -> list[str]:
    # -bdf: the daemon stays in the foreground, our child, so that stopping it is a signal to its
    # process group. Address and port come from the configuration (local_interfaces and
    # daemon_smtp_ports); -oX would make Exim ignore pid_file_path.
    return [str(server.binary), "-C", str(server.config_path), "-bdf"]


def _start(server: EximServer) -> subprocess.Popen[bytes]:
    env = _wrapper_env(server.workdir)
    uid, gid = run_as()
    stderr = server.stderr_path.open("wb")
    try:
        if os.geteuid() != 0:
            return subprocess.Popen(
                _exim_args(server),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if _private_resolver_works():
            # The daemon, and every process it forks, lives in a mount namespace in which
            # /etc/resolv.conf names 127.0.0.1: no lookup can reach a DNS server elsewhere. The
            # chain unshare -> sh -> setpriv -> exim execs in place: the pid is the daemon's.
            script = 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"'
            drop = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups"]
            cmd = ["unshare", "--mount", "sh", "-c", script, "sh"]
            cmd += [str(server.workdir / "resolv.conf"), *drop, *_exim_args(server)]
            return subprocess.Popen(
                cmd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return subprocess.Popen(
            _exim_args(server),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stderr,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            user=uid,
            group=gid,
            extra_groups=[],
        )
    finally:
        stderr.close()


def _greets(host: str, port: int) -> bool:
    """A connection that gets Exim's 220 greeting, closed politely with QUIT."""
    try:
        with socket.create_connection((host, port), timeout=2) as sock:
            sock.settimeout(5)
            greeting = sock.recv(4096)
            if not greeting.startswith(b"220"):
                return False
            sock.sendall(b"QUIT\r\n")
            with contextlib.suppress(OSError):
                sock.recv(4096)
            return True
    except OSError:
        return False


def _wait_ready(server: EximServer, proc: subprocess.Popen[bytes], timeout: float) -> str | None:
    """None once the daemon greets on its port; else why not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"exim exited {proc.returncode} before accepting connections"
        if _greets(server.host, server.port):
            return None
        time.sleep(0.05)
    return f"no 220 greeting on {server.target} within {timeout:.0f} s"


def _stop(server: EximServer, proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the daemon's process group; SIGKILL for whatever is left a moment later.

    On SIGTERM the daemon re-executes itself once (`exim -oPX`, to remove its pid file) and
    exits; that child is given up to LINGER seconds. Anything still running our configuration
    then (in the group, or a child that left it) is killed by its pid.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=STOP_TIMEOUT)
    deadline = time.monotonic() + LINGER
    while server.leftover_pids() and time.monotonic() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    for pid in server.leftover_pids():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=STOP_TIMEOUT)


@contextmanager
def exim_server(
    start_timeout: float = START_TIMEOUT, attempts: int = 3, auth: str | None = None
) -> Iterator[EximServer]:
    """Start a private Exim on a free loopback port; stop it and remove its files after. `auth`:
    None, or one of AUTH_MODES (the module's docstring says what each adds).

    Raises EximError (with Exim's log) if it does not greet in time. A port taken between
    choosing it and Exim binding it is retried with another (`attempts`).
    """
    reason = exim_unavailable()
    if reason is not None:
        raise EximError(reason)
    binary = find_exim()
    assert binary is not None
    keep = os.environ.get("SMTP_PROBE_KEEP_EXIM") == "1"
    failures: list[str] = []
    for _ in range(attempts):
        workdir = Path(tempfile.mkdtemp(prefix="smtp-probe-exim-"))
        try:
            server = _prepare(workdir, free_port(), binary, auth)
            proc = _start(server)
            server.pid = proc.pid
            try:
                problem = _wait_ready(server, proc, start_timeout)
                if problem is not None:
                    failures.append(
                        f"{problem}: {' '.join(_exim_args(server))}\n"
                        f"log (last 40 lines):\n{server.log(last=40)}"
                    )
                    continue
                yield server
                return
            finally:
                _stop(server, proc)
        finally:
            if keep:
                print(f"exim_server: kept {workdir}")
            else:
                shutil.rmtree(workdir, ignore_errors=True)
    raise EximError("Exim did not start:\n" + "\n---\n".join(failures))

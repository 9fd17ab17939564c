"""The pytest plugin's TLS options, as `smtp-probe run` has them: --smtp-tls-verify, --smtp-cafile,
--smtp-cert-days, --smtp-cert-days-critical, --smtp-tls implicit. Each inner pytest runs in a
subprocess (as a user runs it), against real TLS on loopback with certificates from a test
authority."""

from __future__ import annotations

from pathlib import Path

import pytest
from certs import Authority
from servers import ScriptedServer
from tls_servers import aiosmtpd_tls, server_context, starttls_server

pytest_plugins = ["pytester"]

STARTTLS = "name: tls\nsteps:\n  - ehlo: probe.test\n  - starttls\n  - ehlo: probe.test\n  - quit\n"
IMPLICIT = "name: implicit\nsteps:\n  - ehlo: probe.test\n  - quit\n"


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return Authority(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def good(authority: Authority) -> tuple[Path, Path]:
    """Issued by the test authority, naming the address probed, 90 days left."""
    return authority.issue("good", "mx.probe.test", ip="127.0.0.1", days_after=90)


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makefile(".yaml", tls=STARTTLS)
    return pytester.runpytest_subprocess(
        "-p", "no:hypothesispytest", "-p", "no:benchmark", "-p", "no:cacheprovider", "-rA", *args
    )


def starttls(pytester: pytest.Pytester, cert: tuple[Path, Path], *args: str) -> pytest.RunResult:
    with ScriptedServer(starttls_server(server_context(*cert))) as server:
        return run(pytester, "--smtp-target", server.target, "--smtp-timeout", "5", *args)


def test_a_chain_that_verifies_against_smtp_cafile_passes_cleanly(
    pytester: pytest.Pytester, authority: Authority, good: tuple[Path, Path]
) -> None:
    result = starttls(pytester, good, "--smtp-cafile", str(authority.ca_path), "--smtp-tls-verify")
    result.assert_outcomes(passed=4)  # a test per step
    result.stdout.no_fnmatch_line("*SmtpProbeWarning*")


def test_a_chain_that_does_not_verify_warns_and_fails_with_smtp_tls_verify(
    pytester: pytest.Pytester, authority: Authority
) -> None:
    # Self-signed: no trust store holds it, whatever --smtp-cafile says.
    cert = authority.issue("self", "mx.probe.test", ip="127.0.0.1", self_signed=True)
    cafile = ("--smtp-cafile", str(authority.ca_path))
    result = starttls(pytester, cert, *cafile)
    result.assert_outcomes(passed=4, warnings=1)
    result.stdout.fnmatch_lines(["*SmtpProbeWarning*does not verify*self-signed*RFC 5280*"])
    result = starttls(pytester, cert, *cafile, "--smtp-tls-verify")
    result.assert_outcomes(passed=3, failed=1)  # the starttls step
    result.stdout.fnmatch_lines(["*does not verify*self-signed*(--tls-verify)*"])


def test_certificate_day_thresholds(
    pytester: pytest.Pytester, authority: Authority, good: tuple[Path, Path]
) -> None:
    cafile = ("--smtp-cafile", str(authority.ca_path))
    result = starttls(pytester, good, *cafile, "--smtp-cert-days", "400")
    result.assert_outcomes(passed=4, warnings=1)  # the leaf (90 days left); the CA has 3650
    result.stdout.fnmatch_lines(["*SmtpProbeWarning*certificate 0*within --cert-days 400*"])
    result = starttls(pytester, good, *cafile, "--smtp-cert-days-critical", "30")
    result.assert_outcomes(passed=4)
    result = starttls(pytester, good, *cafile, "--smtp-cert-days-critical", "400")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*certificate 0*within --cert-days-critical 400*"])


def test_implicit_tls(
    pytester: pytest.Pytester, authority: Authority, good: tuple[Path, Path]
) -> None:
    pytester.makefile(".yaml", implicit=IMPLICIT)
    with aiosmtpd_tls(server_context(*good), implicit=True) as target:
        args = ["--smtp-target", target, "--smtp-cafile", str(authority.ca_path), "-vv"]
        result = run(pytester, *args, "--smtp-tls", "implicit", "implicit.yaml")
        result.assert_outcomes(passed=2)  # a test per step
        result.stdout.fnmatch_lines(["*TLS: TLSv1.3*implicit TLS*"])
        # Without the option the probe speaks plain SMTP to a TLS port: no greeting it can read.
        result = run(pytester, *args, "--smtp-timeout", "2", "implicit.yaml")
        assert result.parseoutcomes().get("failed") == 1 and "passed" not in result.parseoutcomes()


def test_smtps_targets_default_to_port_465(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--collect-only", "-q", "--smtp-target", "smtps://127.0.0.2")
    result.stdout.fnmatch_lines(["tls.yaml::tls[[]smtps://127.0.0.2[]]::ehlo probe.test"])
    # --smtp-tls implicit makes 465 the default port of every target.
    pytester.makefile(".txt", targets="127.0.0.2\n")
    result = run(pytester, "-q", "--smtp-targets", "targets.txt", "--smtp-tls", "implicit")
    result.stdout.fnmatch_lines(["*127.0.0.2:465*"])


@pytest.mark.parametrize(
    ("option", "value", "line"),
    [
        ("--smtp-cafile", "missing.pem", "ERROR: --smtp-cafile missing.pem: no such file"),
        ("--smtp-cafile", ".", "ERROR: --smtp-cafile .: is a folder, not a regular file"),
        ("--smtp-cert-days", "0", "*--smtp-cert-days: not a positive whole number: '0'*"),
        ("--smtp-tls", "starttls", "*--smtp-tls: invalid choice: 'starttls'*"),
    ],
)
def test_bad_tls_options_are_usage_errors(
    pytester: pytest.Pytester, option: str, value: str, line: str
) -> None:
    result = run(pytester, "--smtp-target", "127.0.0.2:1", option, value)
    result.stderr.fnmatch_lines([line])
    assert result.ret == pytest.ExitCode.USAGE_ERROR

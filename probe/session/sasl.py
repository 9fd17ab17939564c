"""The client side of the SASL mechanisms AUTH uses (RFC 4954): PLAIN (RFC 4616), LOGIN, CRAM-MD5
(RFC 2195), XOAUTH2 (Google's and Microsoft's OAuth 2.0 form) and SCRAM-SHA-1/-256 (RFC 5802,
RFC 7677). Pure: challenges in, lines out, no I/O.

Every line a mechanism sends carries its report form (`Line.shown`), with what would give the
secret away replaced by ****; `secrets` lists every derived form (base64 blobs, CRAM digests, SCRAM
proofs), so that the session masks them wherever else they appear (a server that echoes them).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets as random

from probe.record import field, record
from probe.session.commands import MASK, Line

MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2", "SCRAM-SHA-1", "SCRAM-SHA-256")
CANCEL = b"*\r\n"  # RFC 4954 §4: the client cancels the exchange


class SaslError(Exception):
    """The server's challenge cannot be answered (bad base64, a SCRAM message out of shape, a
    server signature that does not verify); the message says which."""


def _b64(data: bytes) -> bytes:
    return base64.b64encode(data)


def _line(data: bytes, shown: bytes | None = None, first: bool = False) -> Line:
    return Line(data + b"\r\n", "AUTH", (data if shown is None else shown) + b"\r\n", first)


@record(slots=True)
class SaslClient:
    mechanism: str
    username: str
    password: str  # for XOAUTH2: the access token
    # False: the AUTH line without the initial response, which then answers the first 334 (the
    # empty challenge, RFC 4954 §4), for the mechanisms whose client speaks first.
    initial: bool = True
    secrets: list[bytes] = field(default_factory=list)  # derived forms to mask
    done: bool = False  # the client has nothing more to send (a further 334 is answered "*")
    _step: int = 0
    _scram: dict[str, bytes] = field(default_factory=dict)
    _pending: Line | None = None  # the initial response held back (initial=False)

    def first(self) -> Line:
        line = self._first()
        if self.initial or b" " not in line.data.removeprefix(b"AUTH ").strip():
            return line
        # "AUTH NAME response": send "AUTH NAME", and the response after the first 334.
        command, _, response = line.data.removesuffix(b"\r\n").rpartition(b" ")
        shown = line.shown.removesuffix(b"\r\n").rpartition(b" ")[2]
        self._pending = _line(response, shown)
        return _line(command, first=True)

    def _first(self) -> Line:
        user, password = self.username.encode(), self.password.encode()
        name = self.mechanism
        if name == "PLAIN":
            blob = _b64(b"\0" + user + b"\0" + password)
            self._secret(blob)
            self.done = True
            return _line(b"AUTH PLAIN " + blob, b"AUTH PLAIN " + MASK, True)
        if name == "XOAUTH2":
            blob = _b64(b"user=" + user + b"\x01auth=Bearer " + password + b"\x01\x01")
            self._secret(blob)
            return _line(b"AUTH XOAUTH2 " + blob, b"AUTH XOAUTH2 " + MASK, True)
        if name.startswith("SCRAM-"):
            nonce = _b64(random.token_bytes(18))
            bare = b"n=" + _saslname(user) + b",r=" + nonce
            self._scram = {"bare": bare, "nonce": nonce}
            return _line(f"AUTH {name} ".encode() + _b64(b"n,," + bare), first=True)
        return _line(f"AUTH {name}".encode(), first=True)

    def respond(self, challenge: str) -> Line:
        """The answer to a 334 whose text is `challenge` (base64, as sent)."""
        if self._pending is not None:
            line, self._pending = self._pending, None
            return line
        self._step += 1
        if self.done:
            return Line(CANCEL, "AUTH", CANCEL)
        try:
            decoded = base64.b64decode(challenge.strip(), validate=True)
        except ValueError:
            decoded = None
        name = self.mechanism
        if name == "LOGIN":
            if self._step == 1:
                return _line(_b64(self.username.encode()))
            self.done = True
            blob = _b64(self.password.encode())
            self._secret(blob)
            return _line(blob, MASK)
        if name == "XOAUTH2":
            # A 334 after the token carries the error (JSON, base64); the client answers with an
            # empty line and the server then gives its 5xx (the mechanism's own rules).
            self.done = True
            return _line(b"")
        if decoded is None:
            raise SaslError(f"the 334 challenge is not base64: {challenge[:60]!r}")
        if name == "CRAM-MD5":
            digest = hmac.new(self.password.encode(), decoded, hashlib.md5).hexdigest().encode()
            blob = _b64(self.username.encode() + b" " + digest)
            self._secret(blob)
            self._secret(digest)
            self.done = True
            return _line(blob, MASK)
        return self._scram_step(decoded)

    def _scram_step(self, message: bytes) -> Line:
        algorithm = "sha1" if self.mechanism == "SCRAM-SHA-1" else "sha256"
        if self._step == 1:
            fields = _attributes(message)
            nonce, salt, rounds = fields.get(b"r"), fields.get(b"s"), fields.get(b"i")
            if nonce is None or salt is None or rounds is None or not rounds.isdigit():
                raise SaslError("the SCRAM server-first-message lacks r=, s= or i=")
            if not nonce.startswith(self._scram["nonce"]):
                raise SaslError(
                    "the SCRAM server nonce does not extend the client's (RFC 5802 §5.1)"
                )
            salted = hashlib.pbkdf2_hmac(
                algorithm, self.password.encode(), base64.b64decode(salt), int(rounds)
            )
            client_key = hmac.new(salted, b"Client Key", algorithm).digest()
            stored = hashlib.new(algorithm, client_key).digest()
            without_proof = b"c=biws,r=" + nonce
            auth_message = self._scram["bare"] + b"," + message + b"," + without_proof
            signature = hmac.new(stored, auth_message, algorithm).digest()
            proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
            server_key = hmac.new(salted, b"Server Key", algorithm).digest()
            self._scram["server"] = hmac.new(server_key, auth_message, algorithm).digest()
            final = without_proof + b",p=" + _b64(proof)
            blob = _b64(final)
            self._secret(blob)
            self._secret(_b64(proof))
            return _line(blob, _b64(without_proof + b",p=") + MASK)
        self.done = True
        verifier = _attributes(message).get(b"v")
        if verifier is None or not hmac.compare_digest(
            base64.b64decode(verifier), self._scram.get("server", b"")
        ):
            raise SaslError(
                "the SCRAM server signature does not verify: the server does not hold the "
                "password's verifier (RFC 5802 §3)"
            )
        return _line(b"")

    def _secret(self, form: bytes) -> None:
        self.secrets.append(form)


def _saslname(user: bytes) -> bytes:
    return user.replace(b"=", b"=3D").replace(b",", b"=2C")


def _attributes(message: bytes) -> dict[bytes, bytes]:
    out = {}
    for part in message.split(b","):
        key, sep, value = part.partition(b"=")
        if sep:
            out[key] = value
    return out

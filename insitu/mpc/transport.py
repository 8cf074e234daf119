"""Authenticated, framed, deadlock-free messages between the two parties.

Frame on the wire: ``seq (8 bytes, big endian) || length (8) || payload || tag (32)`` with
``tag = HMAC-SHA256(direction key, seq || length || payload)``. Each direction has its own
key (no reflection) and its own counter (no replay, no reordering); a bad tag, a wrong
sequence number, a short read or an oversized length raise `ProtocolAbort`, and the channel
shuts its socket down so the peer's pending read ends at once instead of waiting.

Session keys come from HKDF-SHA256 over an ECDH secret of the parties' secp256k1 keys
(coincurve) or over a caller-supplied secret, salted with fresh nonces from both sides so
every session has new keys.

`exchange` sends in a background thread while it receives: if both parties `sendall` a
large message at the same time from one thread each, both fill their socket buffers and
wait forever for the other to read.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import socket
import struct
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import coincurve

from insitu.crypto.kdf import hkdf_sha256
from insitu.mpc.errors import MPCError, PeerTimeout, ProtocolAbort

OWNER, BUYER = 0, 1
_MAGIC = b"insitu-mpc/1"
_HEADER = struct.Struct(">QQ")
_TAG_BYTES = 32
MAX_MESSAGE_BYTES = 1 << 31
"""Largest payload accepted: a forged length must not make us allocate without bound."""

DEFAULT_TIMEOUT = 30.0


def ecdh_secret(private_key: bytes | coincurve.PrivateKey, peer_public_key: bytes) -> bytes:
    """ECDH on secp256k1: SHA-256 of the shared point (coincurve's convention)."""
    key = (
        private_key
        if isinstance(private_key, coincurve.PrivateKey)
        else (coincurve.PrivateKey(private_key))
    )
    try:
        return key.ecdh(coincurve.PublicKey(peer_public_key).format())
    except ValueError as exc:
        raise MPCError(f"invalid peer public key ({exc}); pass 33 or 65 SEC1 bytes") from exc


@dataclass
class Traffic:
    """Bytes and messages that crossed the channel (framing included)."""

    bytes_sent: int = 0
    bytes_received: int = 0
    messages_sent: int = 0
    messages_received: int = 0

    @property
    def total_bytes(self) -> int:
        """Bytes in both directions."""
        return self.bytes_sent + self.bytes_received


class Channel:
    """An authenticated message channel over a connected stream socket."""

    def __init__(
        self,
        sock: socket.socket,
        send_key: bytes,
        recv_key: bytes,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._sock = sock
        self._send_key = send_key
        self._recv_key = recv_key
        self._send_seq = 0
        self._recv_seq = 0
        self._sock.settimeout(timeout)
        self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mpc-send")
        self._closed = False
        self._abort_reason = ""
        self._lock = threading.Lock()
        self.traffic = Traffic()

    # sending -------------------------------------------------------------------------------

    def _frame(self, payload: bytes) -> bytes:
        header = _HEADER.pack(self._send_seq, len(payload))
        self._send_seq += 1
        tag = hmac.new(self._send_key, header + payload, hashlib.sha256).digest()
        return header + payload + tag

    def _send_frame(self, frame: bytes) -> None:
        try:
            self._sock.sendall(frame)
        except OSError as exc:
            self._abort_reason = f"the peer closed the connection (sending failed: {exc})"
            self.abort()
            raise ProtocolAbort(self._abort_reason) from exc
        with self._lock:
            self.traffic.bytes_sent += len(frame)
            self.traffic.messages_sent += 1

    def _start_send(self, payload: bytes) -> Future[None]:
        if self._closed:
            raise ProtocolAbort("the channel is closed; open a new session")
        return self._sender.submit(self._send_frame, self._frame(payload))

    def send(self, payload: bytes) -> None:
        """Send one message (returns once it is handed to the kernel)."""
        self._start_send(payload).result()

    # receiving -----------------------------------------------------------------------------

    def _read_exact(self, n: int) -> bytes:
        chunks, remaining = [], n
        while remaining:
            try:
                chunk = self._sock.recv(min(remaining, 1 << 20))
            except TimeoutError as exc:
                self.abort()
                raise PeerTimeout(
                    f"no data from the peer for {self._sock.gettimeout()} s: it stalled or "
                    "disappeared; the session is aborted, retry with fresh dealer material"
                ) from exc
            except OSError as exc:
                self.abort()
                raise ProtocolAbort(
                    self._abort_reason or f"connection to the peer failed ({exc})"
                ) from exc
            if not chunk:
                self.abort()
                raise ProtocolAbort(
                    "the peer closed the connection mid-message (truncated or aborted session)"
                    if chunks or remaining != n
                    else "the peer closed the connection (it aborted or crashed)"
                )
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def recv(self) -> bytes:
        """Receive and authenticate the next message."""
        if self._closed:
            raise ProtocolAbort("the channel is closed; open a new session")
        header = self._read_exact(_HEADER.size)
        seq, length = _HEADER.unpack(header)
        if length > MAX_MESSAGE_BYTES:
            self.abort()
            raise ProtocolAbort(f"message length {length} exceeds the limit: tampered header")
        body = self._read_exact(length + _TAG_BYTES)
        payload, tag = body[:length], body[length:]
        expected = hmac.new(self._recv_key, header + payload, hashlib.sha256).digest()
        if not hmac.compare_digest(tag, expected):
            self.abort()
            raise ProtocolAbort("message authentication failed: tampered message or wrong key")
        if seq != self._recv_seq:
            self.abort()
            raise ProtocolAbort(
                f"message {seq} arrived when {self._recv_seq} was due: replayed or reordered"
            )
        self._recv_seq += 1
        with self._lock:
            self.traffic.bytes_received += len(header) + len(body)
            self.traffic.messages_received += 1
        return payload

    def exchange(self, payload: bytes) -> bytes:
        """Send `payload` and receive the peer's message of the same round, concurrently."""
        pending = self._start_send(payload)
        try:
            received = self.recv()
        finally:
            if self._closed:
                pending.cancel()
        pending.result()
        return received

    # lifecycle -----------------------------------------------------------------------------

    def abort(self) -> None:
        """Shut the socket down so the peer notices at once; idempotent."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._sender.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Close after a completed session."""
        if not self._closed:
            self._sender.shutdown(wait=True)
        self.abort()

    @property
    def closed(self) -> bool:
        """Whether the channel was closed or aborted."""
        return self._closed

    def __enter__(self) -> Channel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def handshake(
    sock: socket.socket,
    role: int,
    *,
    key: bytes | None = None,
    private_key: bytes | coincurve.PrivateKey | None = None,
    peer_public_key: bytes | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Channel:
    """Agree on session keys over `sock` and return the authenticated channel.

    Authenticate either with a pre-shared `key` (≥ 16 bytes) or with this party's secp256k1
    `private_key` and the peer's `peer_public_key` (the marketplace knows both parties' keys).
    """
    if role not in (OWNER, BUYER):
        raise MPCError("role must be 0 (model owner) or 1 (buyer)")
    if key is not None:
        if len(key) < 16:
            raise MPCError("a pre-shared session key needs at least 16 bytes")
        ikm = key
    elif private_key is not None and peer_public_key is not None:
        ikm = ecdh_secret(private_key, peer_public_key)
    else:
        raise MPCError("pass key=..., or private_key=... and peer_public_key=...")
    sock.settimeout(timeout)
    nonce = os.urandom(32)
    hello = _MAGIC + bytes([role]) + nonce
    try:
        sock.sendall(hello)
        peer = b""
        while len(peer) < len(hello):
            chunk = sock.recv(len(hello) - len(peer))
            if not chunk:
                raise ProtocolAbort("the peer closed the connection during the handshake")
            peer += chunk
    except TimeoutError as exc:
        sock.close()
        raise PeerTimeout(f"no handshake from the peer within {timeout} s") from exc
    except OSError as exc:
        sock.close()
        raise ProtocolAbort(f"handshake failed ({exc})") from exc
    if peer[: len(_MAGIC)] != _MAGIC or peer[len(_MAGIC)] != 1 - role:
        sock.close()
        raise ProtocolAbort("the peer is not the other party of an insitu-mpc/1 session")
    peer_nonce = peer[len(_MAGIC) + 1 :]
    salt = nonce + peer_nonce if role == OWNER else peer_nonce + nonce
    owner_to_buyer = hkdf_sha256(ikm, salt, _MAGIC + b" owner->buyer")
    buyer_to_owner = hkdf_sha256(ikm, salt, _MAGIC + b" buyer->owner")
    send_key, recv_key = (
        (owner_to_buyer, buyer_to_owner) if role == OWNER else (buyer_to_owner, owner_to_buyer)
    )
    channel = Channel(sock, send_key, recv_key, timeout)
    try:
        confirm = channel.exchange(b"ready")
    except ProtocolAbort as exc:
        raise ProtocolAbort(
            f"key confirmation failed ({exc}); check that both sides use the right keys"
        ) from exc
    if confirm != b"ready":
        channel.abort()
        raise ProtocolAbort("key confirmation failed: unexpected confirmation message")
    return channel


T = TypeVar("T")
U = TypeVar("U")


def _in_threads(first: Callable[[], T], second: Callable[[], U]) -> tuple[T, U]:
    """Run two callables concurrently; re-raise the first failure after both ended."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="mpc-party") as pool:
        f0, f1 = pool.submit(first), pool.submit(second)
        errors = [f.exception() for f in (f0, f1)]
    for error in errors:
        if error is not None:
            raise error
    return f0.result(), f1.result()


def channel_pair(
    *, key: bytes | None = None, tcp: bool = False, timeout: float = DEFAULT_TIMEOUT
) -> tuple[Channel, Channel]:
    """Two connected channels in this process (owner, buyer): a socketpair or TCP loopback."""
    if tcp:
        with socket.create_server(("127.0.0.1", 0)) as listener:
            client = socket.create_connection(listener.getsockname()[:2])
            server, _ = listener.accept()
        for s in (client, server):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        owner_sock, buyer_sock = server, client
    else:
        owner_sock, buyer_sock = socket.socketpair()
    secret = key or os.urandom(32)
    return _in_threads(
        lambda: handshake(owner_sock, OWNER, key=secret, timeout=timeout),
        lambda: handshake(buyer_sock, BUYER, key=secret, timeout=timeout),
    )


def run_two_party(
    owner: Callable[[Channel], T],
    buyer: Callable[[Channel], U],
    *,
    tcp: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
) -> tuple[T, U, Traffic]:
    """Run both parties in two threads over a fresh channel pair.

    Returns both results and the owner's traffic counters (the buyer's mirror them).
    """
    owner_channel, buyer_channel = channel_pair(tcp=tcp, timeout=timeout)
    try:
        result = _in_threads(lambda: owner(owner_channel), lambda: buyer(buyer_channel))
        return result[0], result[1], owner_channel.traffic
    finally:
        owner_channel.close()
        buyer_channel.close()


def connect(address: tuple[str, int], role: int, **auth: object) -> Channel:
    """Dial the peer at `address` and run the handshake (see `handshake` for `auth`)."""
    sock = socket.create_connection(address, timeout=float(auth.get("timeout", DEFAULT_TIMEOUT)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return handshake(sock, role, **auth)  # type: ignore[arg-type]


def accept(listener: socket.socket, role: int, **auth: object) -> Channel:
    """Accept one peer on a listening socket and run the handshake."""
    sock, _ = listener.accept()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return handshake(sock, role, **auth)  # type: ignore[arg-type]

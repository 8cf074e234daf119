"""The authenticated channel: tampering, truncation, replay, stalls, crashes, big batches."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable

import coincurve
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from insitu.mpc import (
    Buyer,
    ModelOwner,
    PeerTimeout,
    ProtocolAbort,
    prepare_material,
    share_model,
)
from insitu.mpc.transport import BUYER, OWNER, Channel, _in_threads, channel_pair, handshake

HELLO = len(b"insitu-mpc/1") + 1 + 32
Frames = Callable[[int, bytes], list[bytes]]


class Proxy:
    """A man in the middle on the owner→buyer direction that may rewrite whole frames."""

    def __init__(self, rewrite: Frames) -> None:
        self.owner_sock, self._from_owner = socket.socketpair()
        self._to_buyer, self.buyer_sock = socket.socketpair()
        self._rewrite = rewrite
        self._threads = [
            threading.Thread(target=self._owner_to_buyer, daemon=True),
            threading.Thread(
                target=self._pipe, args=(self._to_buyer, self._from_owner), daemon=True
            ),
        ]
        for t in self._threads:
            t.start()

    def _read(self, sock: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def _owner_to_buyer(self) -> None:
        try:
            self._to_buyer.sendall(self._read(self._from_owner, HELLO))
            index = 0
            while True:
                header = self._read(self._from_owner, 16)
                _, length = struct.unpack(">QQ", header)
                frame = header + self._read(self._from_owner, length + 32)
                for out in self._rewrite(index, frame):
                    self._to_buyer.sendall(out)
                index += 1
        except (EOFError, OSError):
            pass
        self._close()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(1 << 16):
                dst.sendall(chunk)
        except OSError:
            pass
        self._close()

    def _close(self) -> None:
        for s in (self._from_owner, self._to_buyer):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


def _session(rewrite: Frames, timeout: float = 5.0) -> tuple[BaseException, BaseException, float]:
    """Run a labels session through the proxy; return both sides' errors and the duration."""
    x, y = load_breast_cancer(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)
    secret = share_model(model)
    material = prepare_material(secret.architecture, len(x), "labels")
    proxy = Proxy(rewrite)
    key = b"s" * 32
    errors: list[BaseException] = []

    def owner() -> None:
        try:
            ch = handshake(proxy.owner_sock, OWNER, key=key, timeout=timeout)
            ModelOwner(secret).serve(ch, material.owner)
        except BaseException as exc:
            errors.insert(0, exc)

    def buyer() -> None:
        try:
            ch = handshake(proxy.buyer_sock, BUYER, key=key, timeout=timeout)
            Buyer(x).predict(ch, "labels", material.buyer)
        except BaseException as exc:
            errors.append(exc)

    start = time.perf_counter()
    _in_threads(owner, buyer)
    assert len(errors) == 2, f"both sides must fail, got {errors}"
    return errors[0], errors[1], time.perf_counter() - start


def _flip(index: int, frame: bytes) -> list[bytes]:
    if index == 3:
        mid = len(frame) // 2
        frame = frame[:mid] + bytes([frame[mid] ^ 1]) + frame[mid + 1 :]
    return [frame]


def _replay(index: int, frame: bytes) -> list[bytes]:
    return [frame, frame] if index == 3 else [frame]


def _truncate(index: int, frame: bytes) -> list[bytes]:
    if index == 3:
        return [frame[: len(frame) // 2]]
    if index > 3:
        raise EOFError  # the rest of the stream is cut off
    return [frame]


@pytest.mark.parametrize(
    ("rewrite", "buyer_says"),
    [(_flip, "authentication failed"), (_replay, "replayed"), (_truncate, "closed")],
)
def test_attacks_abort_both_sides_quickly(rewrite: Frames, buyer_says: str) -> None:
    owner_error, buyer_error, seconds = _session(rewrite)
    assert isinstance(buyer_error, ProtocolAbort)
    assert buyer_says in str(buyer_error)
    assert isinstance(owner_error, ProtocolAbort)
    assert seconds < 4.0, "the abort must propagate, not wait for the timeout"


def test_vanished_peer_gives_a_timeout_not_a_hang() -> None:
    owner, buyer = channel_pair(timeout=1.0)
    start = time.perf_counter()
    with pytest.raises(PeerTimeout, match="stalled or disappeared"):
        owner.exchange(b"x" * 100)  # the buyer never answers
    assert time.perf_counter() - start < 3.0
    buyer.close()


def test_crashed_peer_is_reported_at_once() -> None:
    owner, buyer = channel_pair(timeout=10.0)
    buyer.abort()
    start = time.perf_counter()
    with pytest.raises(ProtocolAbort, match="closed the connection"):
        owner.exchange(b"x")
    assert time.perf_counter() - start < 2.0


def test_large_simultaneous_exchange_does_not_deadlock() -> None:
    owner, buyer = channel_pair(timeout=20.0, tcp=True)
    a = np.random.default_rng(0).integers(0, 2**63, (100_000, 30), dtype=np.uint64)
    b = a[::-1].copy()
    got_b, got_a = _in_threads(
        lambda: owner.exchange(a.tobytes()), lambda: buyer.exchange(b.tobytes())
    )
    assert got_b == b.tobytes() and got_a == a.tobytes()
    assert owner.traffic.bytes_sent == buyer.traffic.bytes_received > 24_000_000
    owner.close()
    buyer.close()


def test_ecdh_keys_authenticate_and_wrong_key_is_rejected() -> None:
    k_owner, k_buyer, k_other = (coincurve.PrivateKey() for _ in range(3))

    def session(buyer_view_of_owner: bytes) -> tuple[Channel | BaseException, ...]:
        s0, s1 = socket.socketpair()

        def run(f: Callable[[], Channel]) -> Channel | BaseException:
            try:
                return f()
            except ProtocolAbort as exc:
                return exc

        return _in_threads(
            lambda: run(
                lambda: handshake(
                    s0,
                    OWNER,
                    private_key=k_owner.secret,
                    peer_public_key=k_buyer.public_key.format(),
                    timeout=3,
                )
            ),
            lambda: run(
                lambda: handshake(
                    s1,
                    BUYER,
                    private_key=k_buyer.secret,
                    peer_public_key=buyer_view_of_owner,
                    timeout=3,
                )
            ),
        )

    good = session(k_owner.public_key.format())
    owner, buyer = good
    assert isinstance(owner, Channel) and isinstance(buyer, Channel)
    assert _in_threads(lambda: owner.exchange(b"w"), lambda: buyer.exchange(b"r")) == (b"r", b"w")
    owner.close()
    buyer.close()
    bad = session(k_other.public_key.format())
    assert all(isinstance(c, ProtocolAbort) for c in bad)

"""A content store backed by an IPFS node's Kubo HTTP RPC API (``/api/v0``).

Why plain ``requests`` and not ``ipfshttpclient``: the last ipfshttpclient release (0.7.0) is
unmaintained, and its ``connect()`` refuses every daemon newer than Kubo 0.8 with
``VersionMismatch`` (see TOOLCHAIN.md); the five RPC calls needed here are a few lines each.

Every ``add`` passes the import settings explicitly (CID version, raw leaves, 256 KiB chunker,
balanced layout, sha2-256) instead of trusting the node's configured defaults, and checks the
CID the node answers against the one :mod:`insitu.storage.unixfs` computes: a node configured
differently (``Import.*`` in Kubo's config) would otherwise put CIDs on-chain that the embedded
store cannot reproduce. ``cat`` never trusts the node either: the bytes are re-hashed into the
CID, and when the CID was built with settings this module does not reproduce (trickle layout,
another chunker), the file is re-read block by block with every block checked.

Timeouts are per request; retrying connection errors is the caller's business, but every
failure says what happened and what to do.
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

import requests

from insitu.storage.base import DEFAULT_CID_VERSION
from insitu.storage.cid import DAG_PB, RAW, Cid
from insitu.storage.errors import (
    ContentMismatch,
    KuboApiError,
    KuboUnreachable,
    NotFound,
    StorageError,
)
from insitu.storage.unixfs import (
    CHUNK_SIZE,
    ImportSettings,
    build_dag,
    canonical_cid,
    parse_cid,
    read_file,
)

_MULTIADDR = re.compile(r"^/(?:ip4|ip6|dns4|dns6|dns)/([^/]+)/tcp/(\d+)(?:/(https?))?/?$")
_HAS_TIMEOUT = 1.0
_NOT_FOUND = re.compile(r"not found|could not find|no such|deadline exceeded|timed? ?out", re.I)


def normalize_api_url(api_url: str) -> str:
    """``http://host:port`` from a URL, ``host:port`` or a multiaddr like ``/ip4/…/tcp/5001``."""
    text = api_url.strip()
    match = _MULTIADDR.match(text)
    if match:
        host, port, scheme = match.groups()
        host = f"[{host}]" if ":" in host else host
        return f"{scheme or 'http'}://{host}:{port}"
    if "://" not in text:
        text = f"http://{text}"
    text = text.rstrip("/")
    return text.removesuffix("/api/v0")


class KuboStore:
    """The :class:`~insitu.storage.base.ContentStore` of a Kubo (or Kubo-compatible) node."""

    def __init__(
        self,
        api_url: str,
        *,
        timeout: float = 120.0,
        fetch_timeout: float = 60.0,
        session: requests.Session | None = None,
    ) -> None:
        """Client of the RPC API at ``api_url`` (port 5001 by default, not the 8080 gateway).

        ``timeout`` bounds each HTTP request; ``fetch_timeout`` bounds how long the node searches
        the network for content it does not hold before ``cat``/``pin`` raise NotFound.
        """
        self.api_url = normalize_api_url(api_url)
        self.timeout = timeout
        self.fetch_timeout = min(fetch_timeout, timeout)
        self._session = session or requests.Session()

    def __repr__(self) -> str:
        return f"KuboStore({self.api_url!r})"

    def close(self) -> None:
        """Release pooled connections."""
        self._session.close()

    # --- transport ---------------------------------------------------------------------------

    def _call(
        self,
        command: str,
        params: dict[str, str] | None = None,
        *,
        files: dict[str, Any] | None = None,
    ) -> requests.Response:
        url = f"{self.api_url}/api/v0/{command}"
        try:
            # The RPC API takes POST only (GET is refused since Kubo 0.5, to stop CSRF).
            response = self._session.post(
                url, params=params, files=files, timeout=(min(self.timeout, 10.0), self.timeout)
            )
        except requests.ConnectionError as exc:
            raise KuboUnreachable(
                f"Kubo RPC at {self.api_url} unreachable ({type(exc).__name__}): start the daemon "
                "or unset INSITU_IPFS_URL to use the embedded store"
            ) from exc
        except requests.Timeout as exc:
            raise KuboUnreachable(
                f"Kubo RPC at {self.api_url} did not answer {command} within {self.timeout:g} s: "
                "check the daemon is healthy, or raise the store's timeout for large content"
            ) from exc
        if response.status_code != 200:
            raise self._error(command, params or {}, response)
        return response

    def _error(
        self, command: str, params: dict[str, str], response: requests.Response
    ) -> StorageError:
        message = response.text.strip()
        with contextlib.suppress(ValueError, AttributeError):
            message = str(json.loads(message).get("Message", message))
        what = f"{command} {params.get('arg', '')}".strip()
        if response.status_code == 404 and "/api/v0" not in message:
            return KuboApiError(
                f"{self.api_url} answered 404 to {command}: is this the RPC API address (port "
                "5001), not the gateway (8080)?"
            )
        if _NOT_FOUND.search(message):
            return NotFound(f"the IPFS node at {self.api_url} does not have {what}: {message}")
        return KuboApiError(
            f"Kubo RPC at {self.api_url} refused {what} (HTTP {response.status_code}): {message}"
        )

    def _node_timeout(self) -> str:
        # The node's own deadline, so a missing CID ends as an answer rather than a hung socket.
        return f"{max(self.fetch_timeout, 0.001):g}s"

    # --- ContentStore ------------------------------------------------------------------------

    def add(self, data: bytes, *, cid_version: int = DEFAULT_CID_VERSION, pin: bool = True) -> str:
        """Add ``data`` with Kubo's settings for ``cid_version`` and return the checked CID."""
        settings = ImportSettings.for_version(cid_version)
        params = {
            "cid-version": str(settings.cid_version),
            "raw-leaves": "true" if settings.raw_leaves else "false",
            "chunker": f"size-{CHUNK_SIZE}",
            "trickle": "false",
            "hash": "sha2-256",
            "pin": "true" if pin else "false",
            "progress": "false",
            # Without it js-ipfs answers CIDv1 in base58btc.
            "cid-base": "base32" if settings.cid_version == 1 else "base58btc",
        }
        files = {"file": ("data", data, "application/octet-stream")}
        response = self._call("add", params, files=files)
        lines = [line for line in response.text.splitlines() if line.strip()]
        try:
            answered = str(json.loads(lines[-1])["Hash"])
        except (IndexError, KeyError, ValueError) as exc:
            raise KuboApiError(
                f"Kubo RPC at {self.api_url} answered add with no CID: {response.text[:200]!r}"
            ) from exc
        expected = str(build_dag(data, settings, None))
        if canonical_cid(answered) != expected:
            raise ContentMismatch(
                f"the IPFS node at {self.api_url} stored the content as {answered}, but Kubo's "
                f"defaults give {expected}: reset the node's Import.* settings (chunker, layout, "
                "max links) to the defaults so CIDs stay reproducible"
            )
        return expected

    def cat(self, cid: str) -> bytes:
        """The content of ``cid`` from the node, re-hashed into ``cid`` before it is returned."""
        parsed = parse_cid(cid)
        params = {"arg": str(parsed), "timeout": self._node_timeout()}
        data = self._call("cat", params).content
        if self._matches(parsed, data):
            return data
        # The CID may come from settings we do not rebuild (another chunker, trickle) or the
        # bytes may be wrong: the block-by-block walk tells which, and raises on tampering.
        return read_file(parsed, self._get_block)

    @staticmethod
    def _matches(cid: Cid, data: bytes) -> bool:
        candidates: list[ImportSettings] = []
        if cid.version == 0:
            candidates.append(ImportSettings.for_version(0))
        elif cid.codec == RAW:
            candidates.append(ImportSettings.for_version(1, raw_leaves=True))
        elif cid.codec == DAG_PB:
            candidates += [
                ImportSettings.for_version(1, raw_leaves=True),
                ImportSettings.for_version(1, raw_leaves=False),
            ]
        return any(build_dag(data, settings, None) == cid for settings in candidates)

    def _get_block(self, cid: Cid) -> bytes:
        return self._call("block/get", {"arg": str(cid), "timeout": self._node_timeout()}).content

    def pin(self, cid: str) -> None:
        """Pin ``cid`` recursively on the node."""
        parsed = parse_cid(cid)
        self._call("pin/add", {"arg": str(parsed), "timeout": self._node_timeout()})

    def has(self, cid: str) -> bool:
        """Whether the node holds the root block of ``cid`` locally (no network search)."""
        parsed = parse_cid(cid)
        # Kubo answers at once with offline=true; js-ipfs ignores it and waits for the block, so
        # the short deadline is what ends a miss there. A local block is read in milliseconds.
        params = {"arg": str(parsed), "offline": "true", "timeout": f"{_HAS_TIMEOUT:g}s"}
        try:
            self._call("block/stat", params)
        except NotFound:
            return False
        return True

    def version(self) -> str:
        """``kubo-rpc/<version the node reports>``."""
        answer = self._call("version").json()
        return f"kubo-rpc/{answer.get('Version', 'unknown')}"

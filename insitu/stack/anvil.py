"""anvil, the local Ethereum node of the stack (npm ``@foundry-rs/anvil-linux-amd64``)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import requests

from insitu.errors import StackError
from insitu.stack.service import LocalService

#: anvil's own default; spelled out so the funded dev accounts never depend on anvil's version.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_ACCOUNTS = 10

# insitu/stack/anvil.py -> the repository (or source tree) root holding node_modules/.
_REPO_ROOT = Path(__file__).resolve().parents[2]


def find_anvil() -> Path:
    """The anvil binary: ``$INSITU_ANVIL``, then the repo's node_modules, then ``PATH``."""
    override = os.environ.get("INSITU_ANVIL")
    if override:
        path = Path(override).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise StackError(f"INSITU_ANVIL={override} is not an executable file.")
        return path
    local = _REPO_ROOT / "node_modules" / ".bin" / "anvil"
    if local.is_file() and os.access(local, os.X_OK):
        return local
    on_path = shutil.which("anvil")
    if on_path:
        return Path(on_path)
    raise StackError(
        f"anvil not found (looked at $INSITU_ANVIL, {local} and PATH); run `make setup` "
        "(or `npm install` in the repository) to get anvil, or set INSITU_ANVIL to its path, "
        "or set rpc_url to use another Ethereum node."
    )


def rpc_chain_id(url: str, timeout: float = 3.0) -> int:
    """``eth_chainId`` of the node at ``url``; raises ``requests`` / ``ValueError`` errors."""
    reply = requests.post(
        url,
        json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
        timeout=timeout,
    )
    reply.raise_for_status()
    return int(reply.json()["result"], 16)


#: Recent block states anvil keeps in memory (none are written to disk).
KEPT_STATES = 256


class AnvilService(LocalService):
    """anvil on ``127.0.0.1:<anvil_port>`` with the deterministic dev accounts.

    ``persist_state`` passes ``--state <state_dir>/anvil-state.json``: anvil loads the file at
    start and writes it on SIGTERM, so a restart keeps the chain (blocks, balances, contracts).
    The trade-offs: the state is only written at a clean shutdown (a SIGKILLed node loses what
    happened since it started), the file grows with the chain, and a state written by one anvil
    version may not load in another. Without it every start is a fresh chain, which is what tests
    and the demo want.
    """

    name = "anvil"
    port_setting = "anvil_port"
    url_setting = "rpc_url"

    @property
    def port(self) -> int:
        return self.settings.local.anvil_port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def state_file(self) -> Path:
        return self.settings.state_dir / "anvil-state.json"

    def command(self) -> list[str]:
        local = self.settings.local
        cmd = [
            str(find_anvil()),
            "--host", self.host,
            "--port", str(self.port),
            "--chain-id", str(local.chain_id),
            "--mnemonic", DEV_MNEMONIC,
            "--accounts", str(DEV_ACCOUNTS),
            # Without it anvil writes old states under ~/.foundry/anvil/tmp (gigabytes after long
            # runs, never cleaned) and slows down; see TOOLCHAIN.md. The bare flag keeps no old
            # state at all, so an eth_call at "latest" racing a new block, or a replay at the
            # block before a reverted transaction, fails: keep the last states in memory.
            "--prune-history", str(KEPT_STATES),
            # Errors still reach the log; per-request lines would grow it without bound.
            "--silent",
        ]  # fmt: skip
        if local.block_time:
            cmd += ["--block-time", str(local.block_time)]
        if self.persist_state:
            cmd += ["--state", str(self.state_file)]
        return cmd

    def answers(self, url: str, timeout: float = 0.5) -> bool:
        try:
            rpc_chain_id(url, timeout)
        except (requests.RequestException, ValueError, KeyError, TypeError):
            return False
        return True

    def check_external(self, url: str) -> None:
        try:
            rpc_chain_id(url)
        except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
            raise StackError(
                f"the Ethereum node at rpc_url={url} does not answer eth_chainId ({exc}); start "
                "it, fix rpc_url (INSITU_RPC_URL or config.toml), or unset it so insitu starts "
                "anvil itself."
            ) from exc

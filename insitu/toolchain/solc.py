"""Make solc available to py-solc-x (and so to brownie and slither), online or offline.

The normal path is py-solc-x's own: a native ``solc-v<version>`` binary downloaded into its
install folder (``~/.solcx`` or ``$SOLCX_BINARY_PATH``). Where that download is impossible (no
internet), insitu puts a small shell wrapper with the same name into the same folder. It runs
``toolchain/solc-bridge.js`` — native solc's command line on top of the npm ``solc`` package
(solc-js), which ships the compiler inside the package. Tools that look for py-solc-x's
compilers find it without any change on their side.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import subprocess
from pathlib import Path

import solcx
from solcx.exceptions import SolcInstallationError

from insitu.errors import ToolchainError

SOLC_VERSION = "0.8.28"
BRIDGE_MARKER = "# insitu solc-js bridge"
REPO_ROOT = Path(__file__).resolve().parents[2]
BRIDGE_SCRIPT = REPO_ROOT / "toolchain" / "solc-bridge.js"
SOLCJS_MODULE = REPO_ROOT / "node_modules" / "solc"

log = logging.getLogger(__name__)


def _installed_binary(version: str) -> Path:
    return solcx.get_solcx_install_folder() / f"solc-v{version}"


def is_bridge(binary: Path) -> bool:
    """True if ``binary`` is a wrapper written by :func:`install_bridge`."""
    try:
        return BRIDGE_MARKER in binary.read_text(errors="ignore")[:200]
    except OSError:
        return False


def _solcjs_version() -> str:
    """The full version string of the npm solc package, e.g. ``0.8.28+commit.7893614a...``."""
    node = shutil.which("node")
    if node is None:
        raise ToolchainError("Node.js is not on PATH; install Node 18+ to use the solc-js bridge.")
    if not SOLCJS_MODULE.is_dir():
        raise ToolchainError(
            f"npm package solc is missing at {SOLCJS_MODULE}; run `npm install` in {REPO_ROOT}."
        )
    out = subprocess.run(
        [node, "-e", f"process.stdout.write(require({str(SOLCJS_MODULE)!r}).version())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def install_bridge(version: str = SOLC_VERSION) -> Path:
    """Write the ``solc-v<version>`` wrapper that runs solc-js through the bridge."""
    full_version = _solcjs_version()
    if not full_version.startswith(version + "+"):
        raise ToolchainError(
            f"npm solc is {full_version}, but solc {version} is required; "
            f"pin solc@{version} in package.json and run `npm install`."
        )
    node = shutil.which("node")
    target = _installed_binary(version)
    target.parent.mkdir(parents=True, exist_ok=True)
    # --version is answered by the shell: py-solc-x asks before every compile, and starting
    # Node + loading soljson.js costs ~0.8 s.
    target.write_text(
        "#!/bin/sh\n"
        f"{BRIDGE_MARKER} (written by insitu.toolchain.solc; delete it to re-detect)\n"
        'if [ "$#" -eq 1 ] && [ "$1" = "--version" ]; then\n'
        "  echo 'solc, the solidity compiler commandline interface'\n"
        f"  echo 'Version: {full_version}'\n"
        "  exit 0\n"
        "fi\n"
        f"INSITU_SOLCJS_MODULE='{SOLCJS_MODULE}' exec '{node}' '{BRIDGE_SCRIPT}' \"$@\"\n"
    )
    target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return target


def ensure_solc(version: str = SOLC_VERSION, *, allow_download: bool = True) -> Path:
    """Return a py-solc-x compiler binary for ``version``, installing one if needed.

    Order: a binary already installed (native or a bridge that still points at a working
    checkout), then py-solc-x's native download, then the solc-js bridge.
    """
    binary = _installed_binary(version)
    if binary.exists() and (not is_bridge(binary) or f"'{BRIDGE_SCRIPT}'" in binary.read_text()):
        return binary
    if allow_download and os.environ.get("INSITU_SOLC_OFFLINE") != "1":
        try:
            return Path(solcx.install_solc(version))
        except (SolcInstallationError, OSError, ConnectionError) as exc:
            log.info("native solc %s could not be downloaded (%s); using solc-js", version, exc)
        except Exception as exc:  # requests' errors vary with the network failure
            log.info("native solc %s download failed (%s); using solc-js", version, exc)
    return install_bridge(version)


def main() -> None:
    """``python -m insitu.toolchain.solc``: install a compiler and print its path."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    binary = ensure_solc()
    kind = "solc-js bridge" if is_bridge(binary) else "native"
    print(f"solc {SOLC_VERSION} ({kind}): {binary}")


if __name__ == "__main__":
    main()

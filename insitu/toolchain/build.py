"""Compile ``contracts/*.sol`` into ``insitu/artifacts/*.json``, reproducibly.

    python -m insitu.toolchain.build           # write artifacts
    python -m insitu.toolchain.build --check   # exit 1 if committed artifacts are stale

The settings here are the single source of truth; ``brownie-config.yaml`` mirrors them so
``brownie compile`` produces the same bytecode.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import solcx

from insitu.errors import ToolchainError
from insitu.toolchain.artifacts import ARTIFACTS_DIR
from insitu.toolchain.solc import REPO_ROOT, SOLC_VERSION, ensure_solc

CONTRACTS_DIR = REPO_ROOT / "contracts"
EVM_VERSION = "paris"
OPTIMIZER_RUNS = 200
REMAPPINGS = ["@openzeppelin/=node_modules/@openzeppelin/"]


def standard_input(sources: dict[str, str]) -> dict[str, Any]:
    return {
        "language": "Solidity",
        "sources": {key: {"content": text} for key, text in sorted(sources.items())},
        "settings": {
            "evmVersion": EVM_VERSION,
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            "remappings": REMAPPINGS,
            "outputSelection": {
                "*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}
            },
        },
    }


def _read_sources() -> dict[str, str]:
    files = sorted(CONTRACTS_DIR.glob("**/*.sol"))
    if not files:
        raise ToolchainError(f"no Solidity sources under {CONTRACTS_DIR}.")
    return {f.relative_to(REPO_ROOT).as_posix(): f.read_text() for f in files}


def compile_contracts() -> dict[str, dict[str, Any]]:
    """Compile every project contract; return artifacts by contract name."""
    binary = ensure_solc(SOLC_VERSION)
    sources = _read_sources()
    try:
        output = solcx.compile_standard(
            standard_input(sources),
            solc_binary=binary,
            base_path=str(REPO_ROOT),
            allow_paths=[str(REPO_ROOT)],
        )
    except solcx.exceptions.SolcError as exc:
        raise ToolchainError(f"Solidity compilation failed:\n{exc}") from exc
    source_hash = hashlib.sha256(json.dumps(sources, sort_keys=True).encode()).hexdigest()
    artifacts: dict[str, dict[str, Any]] = {}
    for source_key, contracts in output["contracts"].items():
        if source_key not in sources:
            continue  # a library (OpenZeppelin): not an artifact of ours
        for name, compiled in contracts.items():
            if not compiled["evm"]["bytecode"]["object"]:
                continue  # abstract contracts and interfaces: their ABI is in the concrete ones
            if name in artifacts:
                raise ToolchainError(f"two contracts named {name}; names must be unique.")
            artifacts[name] = {
                "contractName": name,
                "sourceName": source_key,
                "abi": compiled["abi"],
                "bytecode": "0x" + compiled["evm"]["bytecode"]["object"],
                "deployedBytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"],
                "compiler": {
                    "version": SOLC_VERSION,
                    "evmVersion": EVM_VERSION,
                    "optimizerRuns": OPTIMIZER_RUNS,
                },
                "sourcesSha256": source_hash,
            }
    return artifacts


def _render(artifact: dict[str, Any]) -> str:
    return json.dumps(artifact, indent=1, sort_keys=True) + "\n"


def write_artifacts(artifacts: dict[str, dict[str, Any]], directory: Path = ARTIFACTS_DIR) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for stale in set(p.stem for p in directory.glob("*.json")) - set(artifacts):
        (directory / f"{stale}.json").unlink()
    for name, artifact in artifacts.items():
        (directory / f"{name}.json").write_text(_render(artifact))


def stale_artifacts(
    artifacts: dict[str, dict[str, Any]], directory: Path = ARTIFACTS_DIR
) -> list[str]:
    """Names whose committed artifact differs from a fresh compile (or is missing/extra)."""
    committed = {p.stem: p.read_text() for p in directory.glob("*.json")}
    names = set(committed) | set(artifacts)
    return sorted(
        n for n in names if committed.get(n) != (artifacts.get(n) and _render(artifacts[n]))
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if artifacts are stale")
    args = parser.parse_args(argv)
    artifacts = compile_contracts()
    if args.check:
        stale = stale_artifacts(artifacts)
        if stale:
            print(f"stale artifacts: {stale}; run `python -m insitu.toolchain.build` and commit.")
            return 1
        print(f"{len(artifacts)} artifacts in sync with contracts/")
        return 0
    write_artifacts(artifacts)
    print(f"wrote {len(artifacts)} artifacts to {ARTIFACTS_DIR}: {', '.join(sorted(artifacts))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Marketplace commands: compile, deploy, publish, buy, balances, and the demo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from insitu.cli.common import console, user_errors
from insitu.config import load_settings


def compile_contracts(
    check: Annotated[bool, typer.Option(help="Only check the committed artifacts.")] = False,
) -> None:
    """Compile contracts/ into the SDK's artifacts (native solc, or solc-js offline)."""
    from insitu.toolchain import build

    with user_errors():
        code = build.main(["--check"] if check else [])
    raise typer.Exit(code=code)


def deploy(
    fee_bps: Annotated[int, typer.Option(help="Marketplace fee in basis points.")] = 250,
) -> None:
    """Deploy the contracts (with INSITU_PRIVATE_KEY, or the first dev account locally)."""
    from insitu.chain import account_from_env, connect, deploy_all, dev_accounts, save_deployment
    from insitu.market.deployments import DEV_CHAIN_IDS, deployment_path
    from insitu.market.marketplace import local_rpc_url

    with user_errors():
        settings = load_settings()
        w3 = connect(local_rpc_url(settings))
        local = w3.eth.chain_id in DEV_CHAIN_IDS
        deployer = dev_accounts(1)[0] if local and not _has_key() else account_from_env()
        deployment = deploy_all(w3, deployer, fee_bps=fee_bps)
        path = save_deployment(deployment, deployment_path(settings, deployment.chain_id))
    console.print(f"deployed on chain {deployment.chain_id}; addresses saved to {path}")
    console.print_json(json.dumps(deployment.__dict__))


def _has_key() -> bool:
    import os

    return bool(os.environ.get("INSITU_PRIVATE_KEY"))


def publish(
    metadata: Annotated[Path, typer.Argument(help="Metadata JSON document of the asset.")],
    price: Annotated[float, typer.Option(help="Price in payment-token units (18 decimals).")],
    mode: Annotated[str, typer.Option(help="download | compute | inference")] = "compute",
    algorithm: Annotated[
        list[str], typer.Option(help="Allowed algorithm hash (0x…); repeatable.")
    ] = [],  # noqa: B006 - typer reads the default, never mutates it
) -> None:
    """Publish an asset: metadata to IPFS, registration and allowlist on-chain."""
    from insitu.chain import AccessMode, account_from_env
    from insitu.chain.ids import bytes32
    from insitu.market import Marketplace, MetadataError

    modes = {
        "download": AccessMode.DOWNLOAD,
        "compute": AccessMode.COMPUTE_ONLY,
        "inference": AccessMode.INFERENCE,
    }
    with user_errors():
        if mode not in modes:
            raise MetadataError(f"--mode must be one of {sorted(modes)}, got {mode!r}.")
        try:
            document = metadata.read_text()
        except OSError as exc:
            raise MetadataError(f"cannot read {metadata}: {exc.strerror}.") from exc
        market = Marketplace.connect(load_settings())
        from insitu.market.metadata import parse_metadata

        pub = market.publish(
            account_from_env(),
            parse_metadata(document, source=str(metadata)),
            price=int(price * 10**18),
            mode=modes[mode],
            algorithms=[bytes32(a) for a in algorithm],
        )
    console.print(f"asset 0x{pub.asset_id.hex()}  metadata {pub.metadata_cid}")
    for name, receipt in pub.receipts.items():
        console.print(f"  {name}: tx {receipt.tx_hash} gas {receipt.gas_used:,}")


def demo() -> None:
    """Run the end-to-end demo on the local stack (starts and stops what it needs)."""
    from insitu.demo.run import run_demo

    with user_errors():
        run_demo(load_settings(), console)


def register(app: typer.Typer) -> None:
    app.command("compile")(compile_contracts)
    app.command("deploy")(deploy)
    app.command("publish")(publish)
    app.command("demo")(demo)

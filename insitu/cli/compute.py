"""``insitu compute buy|result`` and ``insitu algorithm publish``: compute-to-data as a consumer.

Keys: the buyer signs with ``$INSITU_PRIVATE_KEY`` (on a local dev chain: anvil's consumer dev
account); ``--relay`` has ``$INSITU_RELAYER_KEY`` (locally: the relayer dev account) submit the
signed purchase, so the buyer pays no gas.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from insitu.cli.common import console, user_errors
from insitu.errors import ConfigError

app = typer.Typer(
    help="Buy compute jobs on private data and read their results.", no_args_is_help=True
)
algorithm_app = typer.Typer(help="Publish algorithm packages.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    """Add ``compute`` and ``algorithm`` to the root command."""
    root.add_typer(app, name="compute")
    root.add_typer(algorithm_app, name="algorithm")


def _market():
    from insitu.market import Marketplace

    return Marketplace.connect()


def _bytes32(value: str) -> bytes:
    from insitu.chain.ids import bytes32

    return bytes32(value)


def _show_result(result: Any) -> None:
    table = Table("file", title=f"result of 0x{result.agreement_id.hex()}")
    for name in result.files:
        table.add_row(str(result.folder / name))
    console.print(table)
    console.print(
        f"IPFS {result.cid}  hash 0x{result.result_hash.hex()}  fulfilled in tx {result.fulfil_tx}"
    )
    for name in ("metrics.json", "stats.json", "result.json"):
        if name in result.files:
            console.rule(name)
            console.print_json(json.dumps(result.load_json(name)))


def _wait(market: Any, agreement: bytes, buyer: Any, out: Path | None, timeout: float) -> None:
    from insitu.compute.buyer import wait_for_result

    with console.status("waiting for the provider…", spinner="dots") as spinner:
        result = wait_for_result(
            market,
            agreement,
            buyer,
            timeout=timeout,
            dest=out,
            on_progress=lambda message: spinner.update(message),
        )
    _show_result(result)


@app.command("buy")
def buy(
    dataset: Annotated[str, typer.Option(help="Dataset asset id (0x…).")],
    algorithm: Annotated[str, typer.Option(help="Algorithm asset id (0x…).")],
    params: Annotated[str, typer.Option(help="Algorithm parameters as JSON.")] = "{}",
    params_file: Annotated[Path | None, typer.Option(help="…or a JSON file.")] = None,
    relay: Annotated[bool, typer.Option(help="Sign only; a relayer submits.")] = False,
    wait: Annotated[bool, typer.Option(help="Wait for and open the result.")] = True,
    out: Annotated[Path | None, typer.Option(help="Folder for the decrypted result.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the result.")] = 300.0,
) -> None:
    """Pay for a compute job on a dataset; by default wait, verify and decrypt its result."""
    from insitu.compute.buyer import request_compute
    from insitu.market.actors import CONSUMER, RELAYER, signer

    with user_errors():
        try:
            values = json.loads(params_file.read_text() if params_file else params)
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"--params must be a JSON object ({exc}).") from exc
        market = _market()
        buyer = signer(market.w3, CONSUMER)
        relayer = signer(market.w3, RELAYER, env="INSITU_RELAYER_KEY") if relay else None
        request = request_compute(
            market, buyer, _bytes32(dataset), _bytes32(algorithm), values, relayer=relayer
        )
        gas = sum(r.gas_used for r in request.receipts)
        console.print(
            f"agreement 0x{request.agreement_id.hex()} created "
            f"(tx {request.receipts[-1].tx_hash}, gas {gas:,}); job document "
            f"{request.params_cid}"
        )
        if wait:
            _wait(market, request.agreement_id, buyer, out, timeout)


@app.command("result")
def result(
    agreement: Annotated[str, typer.Argument(help="The agreement id (0x…).")],
    out: Annotated[Path | None, typer.Option(help="Folder for the decrypted result.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for fulfilment.")] = 300.0,
) -> None:
    """Wait for a job's fulfilment, fetch and verify its result, decrypt it with your key."""
    from insitu.market.actors import CONSUMER, signer

    with user_errors():
        market = _market()
        _wait(market, _bytes32(agreement), signer(market.w3, CONSUMER), out, timeout)


@algorithm_app.command("publish")
def publish(
    folder: Annotated[str, typer.Argument(help="Package folder, or a built-in's name.")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
) -> None:
    """Pack an algorithm folder, put it on IPFS and register it as an algorithm asset."""
    from insitu.compute.builtin import NAMES, builtin_path
    from insitu.compute.buyer import publish_algorithm
    from insitu.market.actors import OPERATOR, signer

    with user_errors():
        path = builtin_path(folder) if folder in NAMES else Path(folder)
        market = _market()
        published = publish_algorithm(market, signer(market.w3, OPERATOR), path, name=name)
    console.print(f"algorithm asset 0x{published.asset_id.hex()}")
    console.print(f"package hash {published.package_hash} (allowlist this on datasets)")
    console.print(f"package CID  {published.package_cid}")

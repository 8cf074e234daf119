"""``insitu inference predict``: private predictions from a model asset, paid per row.

The buyer signs with ``$INSITU_PRIVATE_KEY`` (on a local dev chain: anvil's consumer dev
account) and listens on ``--host``/``--port`` for the model owner's worker, which must be able to
reach that address.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from insitu.cli.common import console, user_errors
from insitu.errors import ConfigError

app = typer.Typer(help="Private inference: predictions without sharing rows or weights.",
                  no_args_is_help=True)  # fmt: skip


def _read_rows(path: Path, drop: list[str]) -> object:
    import pandas as pd

    try:
        frame = pd.read_csv(path).drop(columns=drop)
    except (OSError, KeyError, ValueError) as exc:
        raise ConfigError(f"cannot read rows from {path}: {exc}") from exc
    numeric = frame.select_dtypes("number")
    if numeric.shape[1] != frame.shape[1]:
        bad = sorted(set(frame.columns) - set(numeric.columns))
        raise ConfigError(f"columns {bad} are not numeric: encode them or pass --drop")
    return numeric.to_numpy(dtype="float64")


@app.command("predict")
def predict(
    asset: Annotated[str, typer.Option(help="Model asset id (0x…).")],
    csv: Annotated[Path, typer.Option(help="Rows to predict: a CSV of numeric features.")],
    mode: Annotated[str, typer.Option(help="labels, proba or scores.")] = "labels",
    drop: Annotated[list[str], typer.Option(help="CSV columns to leave out.")] = [],  # noqa: B006
    out: Annotated[Path | None, typer.Option(help="Write the predictions to this CSV.")] = None,
    host: Annotated[str, typer.Option(help="Address to listen on for the owner.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 0,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the owner.")] = 120.0,
    dealer: Annotated[
        str | None, typer.Option(help="Dealer you trust (default: the offer's first).")
    ] = None,
) -> None:
    """Predict the rows of a CSV privately with a model asset; pay only for the rows sent."""
    import numpy as np

    from insitu.chain.ids import bytes32
    from insitu.inference import buy_predictions
    from insitu.market import Marketplace
    from insitu.market.actors import CONSUMER, signer

    with user_errors():
        rows = _read_rows(csv, drop)
        market = Marketplace.connect()
        buyer = signer(market.w3, CONSUMER)
        with console.status("waiting for the model owner's worker…", spinner="dots"):
            sale = buy_predictions(
                market,
                buyer,
                bytes32(asset),
                rows,
                mode,
                host=host,
                port=port,
                timeout=timeout,
                dealer=dealer,
            )
    predictions = np.asarray(sale.predictions)
    if out is not None:
        np.savetxt(out, predictions.reshape(len(predictions), -1), delimiter=",", fmt="%s")
        console.print(f"{len(predictions)} predictions written to {out}")
    else:
        for i, value in enumerate(predictions):
            console.print(f"{i}\t{value}")
    console.print(
        f"agreement 0x{sale.agreement_id.hex()}: {sale.rows} rows, paid {sale.paid}, refunded "
        f"{sale.refund} of {sale.escrowed} escrowed; {sale.bytes_exchanged:,} bytes exchanged, "
        f"{sale.seconds:.2f} s"
    )

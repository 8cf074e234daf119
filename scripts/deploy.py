"""Deploy insitu's contracts on brownie's active network.

    brownie run scripts/deploy.py                       # local anvil (brownie's development)
    INSITU_PRIVATE_KEY=0x… brownie run scripts/deploy.py --network <name>

The addresses are saved where the SDK and the CLI look for them (~/.insitu/deployments).
"""

from brownie import web3

from insitu.chain import deploy_all, save_deployment
from insitu.config import load_settings
from insitu.market import deployment_path
from insitu.market.actors import OPERATOR, signer


def main() -> str:
    deployment = deploy_all(web3, signer(web3, OPERATOR))
    path = save_deployment(deployment, deployment_path(load_settings(), deployment.chain_id))
    print(
        f"registry {deployment.registry}\nescrow   {deployment.escrow}\ntoken    {deployment.token}"
    )
    print(f"saved to {path}")
    return str(path)

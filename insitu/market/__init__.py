"""The marketplace as users see it: publish assets, buy access, deliver results.

``Marketplace`` is the one object the CLI, the brownie scripts, the demo and the workers hold;
it ties the chain SDK (``insitu.chain``), the IPFS store (``insitu.storage``) and the asset
metadata documents (``insitu.market.metadata``) together.
"""

from insitu.market.deployments import deployment_path, ensure_deployment
from insitu.market.marketplace import Marketplace, Publication, SignedPurchase
from insitu.market.metadata import AssetMetadata, MetadataError, load_metadata, parse_metadata

__all__ = [
    "AssetMetadata",
    "Marketplace",
    "MetadataError",
    "Publication",
    "SignedPurchase",
    "deployment_path",
    "ensure_deployment",
    "load_metadata",
    "parse_metadata",
]

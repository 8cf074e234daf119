// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title AssetRegistry
/// @notice Registry of datasets, algorithms and models offered on the insitu marketplace.
/// @dev Storage holds only what other contracts must enforce (owner, mode, price, provider,
///      algorithm allowlist); the metadata CID and everything descriptive live in events, which
///      off-chain indexers read ("events as the database"). An asset takes three storage slots.
contract AssetRegistry {
    /// @notice What an asset is.
    enum Kind {
        Dataset,
        Algorithm,
        Model
    }

    /// @notice How a buyer may use an asset.
    enum AccessMode {
        Download,
        ComputeOnly,
        Inference
    }

    /// @notice The on-chain record of an asset, packed into three slots.
    struct Asset {
        // slot 0
        address owner;
        Kind kind;
        AccessMode mode;
        bool retired;
        bool allowAnyAlgorithm;
        uint32 version;
        // slot 1
        address provider;
        uint96 price;
        // slot 2: address(0) means native ETH
        address token;
    }

    mapping(bytes32 assetId => Asset) private _assets;
    mapping(bytes32 assetId => mapping(bytes32 algorithmHash => bool)) private _allowedAlgorithm;
    mapping(bytes32 assetId => address) private _pendingOwner;

    /// @notice An asset was registered; its metadata lives at `metadataCid`.
    event AssetRegistered(
        bytes32 indexed assetId,
        address indexed owner,
        Kind kind,
        AccessMode mode,
        address provider,
        address token,
        uint96 price,
        string metadataCid,
        bytes32 metadataHash
    );
    /// @notice The metadata of an asset moved to a new version.
    event MetadataUpdated(
        bytes32 indexed assetId, uint32 version, string metadataCid, bytes32 metadataHash
    );
    /// @notice The price or payment token of an asset changed.
    event PriceUpdated(bytes32 indexed assetId, address token, uint96 price);
    /// @notice The provider allowed to fulfil agreements on an asset changed.
    event ProviderUpdated(bytes32 indexed assetId, address provider);
    /// @notice An algorithm was added to or removed from an asset's allowlist.
    event AlgorithmAllowed(bytes32 indexed assetId, bytes32 indexed algorithmHash, bool allowed);
    /// @notice The explicit "allow any algorithm" wildcard was switched on or off.
    event AllowAnyAlgorithmSet(bytes32 indexed assetId, bool allowAny);
    /// @notice An asset was retired: no new agreements can be created for it.
    event AssetRetired(bytes32 indexed assetId);
    /// @notice The owner proposed a new owner, who must accept.
    event AssetOwnershipTransferStarted(
        bytes32 indexed assetId, address indexed owner, address indexed pendingOwner
    );
    /// @notice The ownership of an asset changed.
    event AssetOwnershipTransferred(
        bytes32 indexed assetId, address indexed previousOwner, address indexed newOwner
    );

    /// @notice The owner already registered an asset with this salt.
    error AssetExists(bytes32 assetId);
    /// @notice No asset has this id.
    error AssetNotFound(bytes32 assetId);
    /// @notice Only the asset's owner may do this.
    error NotAssetOwner(bytes32 assetId, address caller);
    /// @notice The caller was not proposed as the asset's next owner.
    error NotPendingOwner(bytes32 assetId, address caller);
    /// @notice The asset is retired.
    error AssetIsRetired(bytes32 assetId);
    /// @notice The algorithm is not on the compute-only asset's allowlist (deny by default).
    error AlgorithmNotAllowed(bytes32 assetId, bytes32 algorithmHash);
    /// @notice An address argument must not be zero.
    error ZeroAddress();
    /// @notice The metadata CID must not be empty.
    error EmptyMetadata();

    modifier onlyAssetOwner(bytes32 assetId) {
        _checkOwner(assetId);
        _;
    }

    /// @notice The id an asset registered by `owner` with `salt` gets.
    /// @dev Binding the id to its creator means nobody can front-run a registration to take it.
    /// @param owner the registering account
    /// @param salt any value the owner picks to make the id unique
    /// @return the asset id, keccak256(abi.encode(owner, salt))
    function assetIdOf(address owner, bytes32 salt) public pure returns (bytes32) {
        return keccak256(abi.encode(owner, salt));
    }

    /// @notice Register a new asset owned by the caller.
    /// @param salt makes the id unique per owner (see `assetIdOf`)
    /// @param kind dataset, algorithm or model
    /// @param mode download, compute-only or inference
    /// @param metadataCid IPFS CID of the metadata document (kept in the event only)
    /// @param metadataHash hash of the metadata document's bytes
    /// @param provider the account allowed to fulfil agreements on this asset
    /// @param token ERC-20 the price is paid in, or address(0) for native ETH
    /// @param price price per agreement in the token's smallest unit
    /// @return assetId the new asset's id
    function register(
        bytes32 salt,
        Kind kind,
        AccessMode mode,
        string calldata metadataCid,
        bytes32 metadataHash,
        address provider,
        address token,
        uint96 price
    ) external returns (bytes32 assetId) {
        if (provider == address(0)) revert ZeroAddress();
        if (bytes(metadataCid).length == 0) revert EmptyMetadata();
        assetId = assetIdOf(msg.sender, salt);
        if (_assets[assetId].owner != address(0)) revert AssetExists(assetId);
        _assets[assetId] = Asset({
            owner: msg.sender,
            kind: kind,
            mode: mode,
            retired: false,
            allowAnyAlgorithm: false,
            version: 1,
            provider: provider,
            price: price,
            token: token
        });
        emit AssetRegistered(
            assetId, msg.sender, kind, mode, provider, token, price, metadataCid, metadataHash
        );
    }

    /// @notice Publish a new version of an asset's metadata.
    /// @param assetId the asset
    /// @param metadataCid IPFS CID of the new metadata document
    /// @param metadataHash hash of the new metadata document's bytes
    /// @return version the new version number
    function updateMetadata(bytes32 assetId, string calldata metadataCid, bytes32 metadataHash)
        external
        onlyAssetOwner(assetId)
        returns (uint32 version)
    {
        if (bytes(metadataCid).length == 0) revert EmptyMetadata();
        version = _assets[assetId].version + 1;
        _assets[assetId].version = version;
        emit MetadataUpdated(assetId, version, metadataCid, metadataHash);
    }

    /// @notice Change the price and payment token; agreements already created keep their terms.
    /// @param assetId the asset
    /// @param token ERC-20 the price is paid in, or address(0) for native ETH
    /// @param price the new price in the token's smallest unit
    function setPrice(bytes32 assetId, address token, uint96 price)
        external
        onlyAssetOwner(assetId)
    {
        _assets[assetId].token = token;
        _assets[assetId].price = price;
        emit PriceUpdated(assetId, token, price);
    }

    /// @notice Change the provider allowed to fulfil new agreements on the asset.
    /// @param assetId the asset
    /// @param provider the new provider
    function setProvider(bytes32 assetId, address provider) external onlyAssetOwner(assetId) {
        if (provider == address(0)) revert ZeroAddress();
        _assets[assetId].provider = provider;
        emit ProviderUpdated(assetId, provider);
    }

    /// @notice Allow or disallow algorithms, by content hash, to run on a compute-only asset.
    /// @dev Deny by default: an empty allowlist allows nothing.
    /// @param assetId the asset
    /// @param algorithmHashes content hashes of the algorithms
    /// @param allowed true to allow, false to remove
    function setAlgorithms(bytes32 assetId, bytes32[] calldata algorithmHashes, bool allowed)
        external
        onlyAssetOwner(assetId)
    {
        mapping(bytes32 => bool) storage list = _allowedAlgorithm[assetId];
        for (uint256 i = 0; i < algorithmHashes.length; ++i) {
            list[algorithmHashes[i]] = allowed;
            emit AlgorithmAllowed(assetId, algorithmHashes[i], allowed);
        }
    }

    /// @notice Switch the explicit wildcard that allows any algorithm on the asset.
    /// @param assetId the asset
    /// @param allowAny true to allow every algorithm
    function setAllowAnyAlgorithm(bytes32 assetId, bool allowAny)
        external
        onlyAssetOwner(assetId)
    {
        _assets[assetId].allowAnyAlgorithm = allowAny;
        emit AllowAnyAlgorithmSet(assetId, allowAny);
    }

    /// @notice Retire the asset for good: no new agreements; existing ones run to their end.
    /// @param assetId the asset
    function retire(bytes32 assetId) external onlyAssetOwner(assetId) {
        if (_assets[assetId].retired) revert AssetIsRetired(assetId);
        _assets[assetId].retired = true;
        emit AssetRetired(assetId);
    }

    /// @notice Propose `newOwner` as the asset's owner; it becomes owner once it accepts.
    /// @param assetId the asset
    /// @param newOwner the proposed owner; address(0) cancels a pending proposal
    function transferOwnership(bytes32 assetId, address newOwner)
        external
        onlyAssetOwner(assetId)
    {
        _pendingOwner[assetId] = newOwner;
        emit AssetOwnershipTransferStarted(assetId, msg.sender, newOwner);
    }

    /// @notice Accept the ownership of an asset proposed to the caller.
    /// @param assetId the asset
    function acceptOwnership(bytes32 assetId) external {
        if (_pendingOwner[assetId] != msg.sender) revert NotPendingOwner(assetId, msg.sender);
        address previous = _assets[assetId].owner;
        delete _pendingOwner[assetId];
        _assets[assetId].owner = msg.sender;
        emit AssetOwnershipTransferred(assetId, previous, msg.sender);
    }

    /// @notice The on-chain record of an asset.
    /// @param assetId the asset
    /// @return the asset (owner is address(0) when it does not exist)
    function getAsset(bytes32 assetId) external view returns (Asset memory) {
        return _assets[assetId];
    }

    /// @notice The account proposed as the asset's next owner, if any.
    /// @param assetId the asset
    /// @return the pending owner or address(0)
    function pendingOwner(bytes32 assetId) external view returns (address) {
        return _pendingOwner[assetId];
    }

    /// @notice Whether `algorithmHash` may run on the asset (allowlisted or wildcard on).
    /// @param assetId the asset
    /// @param algorithmHash content hash of the algorithm
    /// @return true when allowed
    function isAlgorithmAllowed(bytes32 assetId, bytes32 algorithmHash)
        public
        view
        returns (bool)
    {
        return _assets[assetId].allowAnyAlgorithm || _allowedAlgorithm[assetId][algorithmHash];
    }

    /// @notice The terms a new agreement on the asset gets, after checking it may be bought.
    /// @dev Reverts when the asset does not exist, is retired, or (compute-only) when the
    ///      algorithm is not allowed. Used by the escrow in one call.
    /// @param assetId the asset
    /// @param algorithmHash the algorithm the buyer wants to run (compute-only assets)
    /// @return owner who is paid
    /// @return provider who may fulfil
    /// @return token the payment token (address(0) = ETH)
    /// @return price the price
    function purchaseTerms(bytes32 assetId, bytes32 algorithmHash)
        external
        view
        returns (address owner, address provider, address token, uint256 price)
    {
        Asset storage a = _assets[assetId];
        owner = a.owner;
        if (owner == address(0)) revert AssetNotFound(assetId);
        if (a.retired) revert AssetIsRetired(assetId);
        if (
            a.mode == AccessMode.ComputeOnly && !a.allowAnyAlgorithm
                && !_allowedAlgorithm[assetId][algorithmHash]
        ) {
            revert AlgorithmNotAllowed(assetId, algorithmHash);
        }
        return (owner, a.provider, a.token, a.price);
    }

    function _checkOwner(bytes32 assetId) private view {
        address owner = _assets[assetId].owner;
        if (owner == address(0)) revert AssetNotFound(assetId);
        if (owner != msg.sender) revert NotAssetOwner(assetId, msg.sender);
    }
}

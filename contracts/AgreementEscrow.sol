// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {AssetRegistry} from "./AssetRegistry.sol";
import {PaymentLedger} from "./PaymentLedger.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title AgreementEscrow
/// @notice Access and compute agreements on registry assets, paid into escrow.
/// @dev Each agreement is a small state machine: Locked -> Fulfilled (payment released to the
///      pull-payment ledger) or Locked -> Rejected / Refunded (consumer credited). The terms that
///      decide payouts are fixed at creation and stored only as a hash commitment; callers pass
///      them back (they are in the `AgreementCreated` event). Once fulfilled, the commitment
///      holds the result hash instead: the on-chain proof of delivery.
contract AgreementEscrow is Ownable2Step, PaymentLedger, EIP712, Nonces {
    using SafeERC20 for IERC20;

    enum Status {
        None,
        Locked,
        Fulfilled,
        Rejected,
        Refunded
    }

    /// @notice The terms fixed when an agreement is created.
    struct Terms {
        bytes32 assetId;
        address consumer;
        address payee;
        address provider;
        address token;
        uint256 amount;
        uint256 fee;
    }

    /// @notice The stored part of an agreement: one slot.
    /// @dev `commitment` is the first 26 bytes of the terms hash while locked, and of the result
    ///      hash once fulfilled (the on-chain proof of delivery). 208 bits leave forging terms
    ///      with the same commitment out of reach (2^208 work for a second preimage; even a
    ///      collision of two terms sets chosen together costs 2^104), and save a 22k-gas slot.
    struct Agreement {
        bytes26 commitment;
        uint40 deadline;
        Status status;
    }

    /// @notice A consumer's signed request to create an agreement (EIP-712 `AgreementRequest`).
    struct AgreementRequest {
        address consumer;
        bytes32 assetId;
        bytes32 salt;
        bytes32 algorithmHash;
        bytes32 paramsHash;
        uint256 maxPrice;
        uint64 deadline;
        uint64 expiry;
        uint256 nonce;
    }

    /// @notice An ERC-2612 permit for the escrow; `deadline == 0` means "no permit, already
    ///         approved".
    struct Permit {
        uint256 value;
        uint256 deadline;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    /// @notice EIP-712 type hash of `AgreementRequest`.
    bytes32 public constant AGREEMENT_REQUEST_TYPEHASH = keccak256(
        "AgreementRequest(address consumer,bytes32 assetId,bytes32 salt,bytes32 algorithmHash,"
        "bytes32 paramsHash,uint256 maxPrice,uint64 deadline,uint64 expiry,uint256 nonce)"
    );
    /// @notice The fee can never exceed 10%.
    uint16 public constant MAX_FEE_BPS = 1000;
    /// @notice Agreements expire at most this long after creation: funds are never locked forever.
    uint256 public constant MAX_DURATION = 90 days;
    uint256 private constant BPS = 10_000;

    /// @notice The registry whose assets are sold.
    AssetRegistry public immutable registry;

    /// @notice Receives the marketplace fee; packed with `feeBps` in one slot.
    address public feeRecipient;
    /// @notice Marketplace fee in basis points of the price.
    uint16 public feeBps;

    mapping(bytes32 agreementId => Agreement) private _agreements;

    /// @notice An agreement was created and its payment locked in escrow.
    event AgreementCreated(
        bytes32 indexed agreementId,
        bytes32 indexed assetId,
        address indexed consumer,
        Terms terms,
        uint64 deadline,
        bytes32 algorithmHash,
        bytes32 paramsHash,
        string paramsCid
    );
    /// @notice The provider delivered the result; the payment went to the payee and fee recipient.
    event AgreementFulfilled(
        bytes32 indexed agreementId, address indexed provider, bytes32 resultHash, string resultCid
    );
    /// @notice A metered fulfilment paid out less than the escrow; `refund` went back to the
    ///         consumer (emitted right after `AgreementFulfilled`).
    event AgreementPartiallyRefunded(bytes32 indexed agreementId, uint256 refund);
    /// @notice The provider rejected the agreement; the consumer was refunded.
    event AgreementRejected(bytes32 indexed agreementId, address indexed provider, uint16 reason);
    /// @notice The agreement expired unfulfilled; the consumer was refunded.
    event AgreementRefunded(bytes32 indexed agreementId, address indexed caller);
    /// @notice The marketplace fee changed.
    event FeeUpdated(uint16 feeBps);
    /// @notice The fee recipient changed.
    event FeeRecipientUpdated(address indexed feeRecipient);

    /// @notice The consumer already created an agreement with this salt.
    error AgreementExists(bytes32 agreementId);
    /// @notice The agreement is unknown or already settled (nobody is paid twice).
    error AgreementNotLocked(bytes32 agreementId, Status status);
    /// @notice The terms passed back differ from those committed at creation.
    error TermsMismatch(bytes32 agreementId);
    /// @notice Only the provider named in the terms may fulfil or reject.
    error NotProvider(bytes32 agreementId, address caller);
    /// @notice The deadline must be in the future and at most `latest` (now + MAX_DURATION).
    error InvalidDeadline(uint64 deadline, uint256 latest);
    /// @notice The deadline passed: the agreement can only be refunded.
    error AgreementExpired(bytes32 agreementId, uint64 deadline);
    /// @notice The deadline has not passed yet.
    error AgreementNotExpired(bytes32 agreementId, uint64 deadline);
    /// @notice The asset's price is above the buyer's maximum.
    error PriceAboveMax(uint256 price, uint256 maxPrice);
    /// @notice ETH sent differs from what the agreement needs (the price, or 0 for ERC-20).
    error WrongPayment(uint256 sent, uint256 expected);
    /// @notice The signed request is past its expiry.
    error SignatureExpired(uint64 expiry);
    /// @notice The signature is not the consumer's over this request, chain and contract.
    error InvalidSigner(address consumer);
    /// @notice Signed requests pay in ERC-20 only (the relayer cannot send the consumer's ETH).
    error NativeTokenNotSupported();
    /// @notice The fee is above the cap.
    error FeeTooHigh(uint16 feeBps, uint16 maxFeeBps);
    /// @notice An address argument must not be zero.
    error ZeroAddress();
    /// @notice A metered fulfilment cannot pay out more than the escrowed amount.
    error PayoutAboveAmount(bytes32 agreementId, uint256 payout, uint256 amount);

    /// @param registry_ the AssetRegistry whose assets are sold
    /// @param initialOwner the marketplace owner (sets the fee)
    /// @param feeBps_ the marketplace fee in basis points (at most MAX_FEE_BPS)
    /// @param feeRecipient_ the account credited with the fee
    constructor(address registry_, address initialOwner, uint16 feeBps_, address feeRecipient_)
        Ownable(initialOwner)
        EIP712("insitu AgreementEscrow", "1")
    {
        if (registry_ == address(0) || feeRecipient_ == address(0)) revert ZeroAddress();
        if (feeBps_ > MAX_FEE_BPS) revert FeeTooHigh(feeBps_, MAX_FEE_BPS);
        registry = AssetRegistry(registry_);
        feeBps = feeBps_;
        feeRecipient = feeRecipient_;
    }

    // ------------------------------------------------------------------ creation

    /// @notice The id of the agreement `consumer` creates with `salt`.
    /// @param consumer the buyer
    /// @param salt any value the buyer picks to make the id unique
    /// @return keccak256(abi.encode(consumer, salt))
    function agreementIdOf(address consumer, bytes32 salt) public pure returns (bytes32) {
        return keccak256(abi.encode(consumer, salt));
    }

    /// @notice Buy access to an asset: the price is pulled into escrow until the provider
    ///         fulfils, rejects, or the deadline passes.
    /// @dev ERC-20 assets need a prior `approve` of the price; ETH assets need `msg.value` equal
    ///      to the price exactly.
    /// @param assetId the asset
    /// @param salt makes the agreement id unique per consumer
    /// @param algorithmHash the algorithm to run (compute-only assets; must be allowed)
    /// @param paramsHash hash of the job parameters
    /// @param paramsCid IPFS CID of the job parameters (event only; may be empty)
    /// @param maxPrice the most the caller accepts to pay (guards against a price raise)
    /// @param deadline unix time after which the agreement can be refunded (<= now + 90 days)
    /// @return agreementId the new agreement's id
    function create(
        bytes32 assetId,
        bytes32 salt,
        bytes32 algorithmHash,
        bytes32 paramsHash,
        string calldata paramsCid,
        uint256 maxPrice,
        uint64 deadline
    ) external payable nonReentrant returns (bytes32 agreementId) {
        AgreementRequest memory request = AgreementRequest({
            consumer: msg.sender,
            assetId: assetId,
            salt: salt,
            algorithmHash: algorithmHash,
            paramsHash: paramsHash,
            maxPrice: maxPrice,
            deadline: deadline,
            expiry: 0,
            nonce: 0
        });
        Terms memory terms;
        (agreementId, terms) = _create(request, paramsCid);
        if (terms.token == address(0)) {
            if (msg.value != terms.amount) revert WrongPayment(msg.value, terms.amount);
        } else {
            if (msg.value != 0) revert WrongPayment(msg.value, 0);
            IERC20(terms.token).safeTransferFrom(msg.sender, address(this), terms.amount);
        }
    }

    /// @notice Create an agreement from a consumer's EIP-712 signed `AgreementRequest`, submitted
    ///         by anyone (a relayer or the provider). ERC-20 assets only.
    /// @dev The payment is pulled from the consumer; `permit` (ERC-2612) gives the approval in the
    ///      same transaction. A failing permit is ignored so that a front-run permit cannot block
    ///      the request; the transfer then fails if the allowance is missing.
    /// @param request the signed request
    /// @param paramsCid IPFS CID of the job parameters (its hash is signed in the request)
    /// @param signature the consumer's 65-byte ECDSA signature
    /// @param permit an ERC-2612 permit for this contract, or deadline 0 for none
    /// @return agreementId the new agreement's id
    function createSigned(
        AgreementRequest calldata request,
        string calldata paramsCid,
        bytes calldata signature,
        Permit calldata permit
    ) external nonReentrant returns (bytes32 agreementId) {
        _verifyRequest(request, signature);
        Terms memory terms;
        (agreementId, terms) = _create(request, paramsCid);
        if (terms.token == address(0)) revert NativeTokenNotSupported();
        if (permit.deadline != 0) {
            // A failing permit is ignored on purpose (see above).
            try IERC20Permit(terms.token).permit(
                request.consumer, address(this), permit.value, permit.deadline, permit.v, permit.r,
                permit.s
            ) {} catch {}
        }
        // Pulling from `request.consumer` is authorised by the consumer's own EIP-712 signature,
        // verified above over this exact asset, price bound and salt; the caller picks nothing.
        // slither-disable-next-line arbitrary-send-erc20-permit
        IERC20(terms.token).safeTransferFrom(request.consumer, address(this), terms.amount);
    }

    // ------------------------------------------------------------------ settlement

    /// @notice Deliver the result of an agreement; releases the payment to the payee (minus the
    ///         marketplace fee) in the pull-payment ledger.
    /// @dev Only the provider fixed in the terms, only while locked and before the deadline.
    /// @param agreementId the agreement
    /// @param terms the agreement's terms, as emitted in `AgreementCreated`
    /// @param resultHash hash of the result (stored as proof of delivery)
    /// @param resultCid IPFS CID of the result (event only)
    function fulfil(
        bytes32 agreementId,
        Terms calldata terms,
        bytes32 resultHash,
        string calldata resultCid
    ) external {
        _release(agreementId, terms, resultHash, resultCid, terms.amount);
    }

    /// @notice Deliver a metered result (e.g. per-row inference) and release only `payout` of the
    ///         escrowed amount: the payee is credited `payout` minus its pro-rata share of the
    ///         fee, the fee recipient that share, and the consumer the unused `amount - payout`.
    /// @dev Same checks and proof of delivery as `fulfil`, which is the case `payout == amount`.
    /// @param agreementId the agreement
    /// @param terms the agreement's terms, as emitted in `AgreementCreated`
    /// @param resultHash hash of the result (stored as proof of delivery)
    /// @param resultCid IPFS CID of the result (event only)
    /// @param payout the part of `terms.amount` earned (at most `terms.amount`)
    function fulfilPartial(
        bytes32 agreementId,
        Terms calldata terms,
        bytes32 resultHash,
        string calldata resultCid,
        uint256 payout
    ) external {
        if (payout > terms.amount) revert PayoutAboveAmount(agreementId, payout, terms.amount);
        _release(agreementId, terms, resultHash, resultCid, payout);
    }

    /// @notice The provider declines the agreement; the consumer is refunded in full.
    /// @param agreementId the agreement
    /// @param terms the agreement's terms, as emitted in `AgreementCreated`
    /// @param reason an application-defined reason code
    function reject(bytes32 agreementId, Terms calldata terms, uint16 reason) external {
        Agreement storage a = _lockedAgreement(agreementId, terms);
        if (msg.sender != terms.provider) revert NotProvider(agreementId, msg.sender);
        a.status = Status.Rejected;
        emit AgreementRejected(agreementId, msg.sender, reason);
        _credit(terms.consumer, terms.token, terms.amount);
    }

    /// @notice Refund an agreement whose deadline passed unfulfilled. Anyone may call it, so
    ///         expired locks can be swept in bulk.
    /// @param agreementId the agreement
    /// @param terms the agreement's terms, as emitted in `AgreementCreated`
    function refundExpired(bytes32 agreementId, Terms calldata terms) external {
        Agreement storage a = _lockedAgreement(agreementId, terms);
        if (block.timestamp <= a.deadline) revert AgreementNotExpired(agreementId, a.deadline);
        a.status = Status.Refunded;
        emit AgreementRefunded(agreementId, msg.sender);
        _credit(terms.consumer, terms.token, terms.amount);
    }

    // ------------------------------------------------------------------ admin

    /// @notice Set the marketplace fee for agreements created from now on.
    /// @param feeBps_ the fee in basis points (at most MAX_FEE_BPS = 10%)
    function setFee(uint16 feeBps_) external onlyOwner {
        if (feeBps_ > MAX_FEE_BPS) revert FeeTooHigh(feeBps_, MAX_FEE_BPS);
        feeBps = feeBps_;
        emit FeeUpdated(feeBps_);
    }

    /// @notice Set the account credited with marketplace fees on release.
    /// @param feeRecipient_ the new fee recipient
    function setFeeRecipient(address feeRecipient_) external onlyOwner {
        if (feeRecipient_ == address(0)) revert ZeroAddress();
        feeRecipient = feeRecipient_;
        emit FeeRecipientUpdated(feeRecipient_);
    }

    // ------------------------------------------------------------------ views

    /// @notice The stored state of an agreement.
    /// @param agreementId the agreement
    /// @return status None (unknown), Locked, Fulfilled, Rejected or Refunded
    /// @return deadline the unix time after which a locked agreement can be refunded
    /// @return commitment the first 26 bytes of the terms hash while locked, of the result hash
    ///         once fulfilled
    function getAgreement(bytes32 agreementId)
        external
        view
        returns (Status status, uint64 deadline, bytes26 commitment)
    {
        Agreement storage a = _agreements[agreementId];
        return (a.status, a.deadline, a.commitment);
    }

    /// @notice The status of an agreement.
    /// @param agreementId the agreement
    /// @return the status
    function statusOf(bytes32 agreementId) external view returns (Status) {
        return _agreements[agreementId].status;
    }

    /// @notice The hash commitment of a set of terms.
    /// @param terms the terms
    /// @return keccak256 of the ABI-encoded terms
    function hashTerms(Terms memory terms) public pure returns (bytes32) {
        return keccak256(abi.encode(terms));
    }

    /// @notice The EIP-712 domain separator (chain id and this contract's address).
    /// @return the separator
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ------------------------------------------------------------------ internals

    function _verifyRequest(AgreementRequest calldata request, bytes calldata signature) private {
        if (block.timestamp > request.expiry) revert SignatureExpired(request.expiry);
        _useCheckedNonce(request.consumer, request.nonce);
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(AGREEMENT_REQUEST_TYPEHASH, request)));
        // ECDSA only: OZ 5.4's SignatureChecker (ERC-1271 wallets) needs the Cancun `mcopy`
        // opcode and the contracts target Paris.
        // slither-disable-next-line unused-return
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, signature);
        if (err != ECDSA.RecoverError.NoError || signer != request.consumer) {
            revert InvalidSigner(request.consumer);
        }
    }

    function _create(AgreementRequest memory request, string calldata paramsCid)
        private
        returns (bytes32 agreementId, Terms memory terms)
    {
        uint64 deadline = request.deadline;
        if (deadline <= block.timestamp || deadline > block.timestamp + MAX_DURATION) {
            revert InvalidDeadline(deadline, block.timestamp + MAX_DURATION);
        }
        agreementId = agreementIdOf(request.consumer, request.salt);
        if (_agreements[agreementId].status != Status.None) revert AgreementExists(agreementId);
        terms.assetId = request.assetId;
        terms.consumer = request.consumer;
        (terms.payee, terms.provider, terms.token, terms.amount) =
            registry.purchaseTerms(request.assetId, request.algorithmHash);
        if (terms.amount > request.maxPrice) revert PriceAboveMax(terms.amount, request.maxPrice);
        terms.fee = (terms.amount * feeBps) / BPS;
        // One SSTORE of the whole slot; the deadline fits uint40 as it is at most now + 90 days.
        _agreements[agreementId] = Agreement({
            commitment: bytes26(hashTerms(terms)),
            deadline: uint40(deadline),
            status: Status.Locked
        });
        emit AgreementCreated(
            agreementId,
            request.assetId,
            request.consumer,
            terms,
            deadline,
            request.algorithmHash,
            request.paramsHash,
            paramsCid
        );
    }

    /// @dev Settle a locked agreement as delivered, paying out `payout <= terms.amount`: the fee is
    ///      taken pro rata (rounded down, so it never exceeds `terms.fee`) and the rest refunded.
    function _release(
        bytes32 agreementId,
        Terms calldata terms,
        bytes32 resultHash,
        string calldata resultCid,
        uint256 payout
    ) private {
        Agreement storage a = _lockedAgreement(agreementId, terms);
        if (msg.sender != terms.provider) revert NotProvider(agreementId, msg.sender);
        if (block.timestamp > a.deadline) revert AgreementExpired(agreementId, a.deadline);
        a.status = Status.Fulfilled;
        a.commitment = bytes26(resultHash);
        emit AgreementFulfilled(agreementId, msg.sender, resultHash, resultCid);
        // payout == amount (plain fulfil) gives exactly terms.fee; amount == 0 forces payout == 0.
        uint256 fee = payout == terms.amount ? terms.fee : (terms.fee * payout) / terms.amount;
        uint256 refund = terms.amount - payout;
        if (refund != 0) emit AgreementPartiallyRefunded(agreementId, refund);
        _credit(terms.payee, terms.token, payout - fee);
        if (fee != 0) _credit(feeRecipient, terms.token, fee);
        if (refund != 0) _credit(terms.consumer, terms.token, refund);
    }

    function _lockedAgreement(bytes32 agreementId, Terms calldata terms)
        private
        view
        returns (Agreement storage a)
    {
        a = _agreements[agreementId];
        if (a.status != Status.Locked) revert AgreementNotLocked(agreementId, a.status);
        if (a.commitment != bytes26(hashTerms(terms))) revert TermsMismatch(agreementId);
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AssetRegistry} from "./AssetRegistry.sol";
import {PaymentLedger} from "./PaymentLedger.sol";

/// @title FederatedSession
/// @notice Federated learning sessions over registry datasets, with access prices and a reward
///         pool held in escrow and paid out in proportion to each participant's contribution
///         score.
/// @dev Life cycle of a session (one `Status` per step):
///
///      Open --start--> Running --finalize--> Finalized --(window ends)--> claims --> Settled
///        |               |  ^                    |
///        |               |  '---- upheld --- Disputed --- rejected ---> Confirmed --> claims
///        |               |                       |
///        '--cancel--> Cancelled                  '-- unresolved in time --> Expired
///        '---------------+-- session deadline, not finalized ---------> Expired
///
///      Design decisions:
///      - The participant list (asset, payee, provider, price per asset, fixed at creation from
///        the registry) is stored only as a hash; callers pass it back in calldata (it is in the
///        `SessionCreated` event). At most 32 participants, so one `uint32` bitmap each records
///        who accepted, who ever committed an update, who committed in the current round and
///        who was paid. A session takes six storage slots, whatever the number of participants.
///      - An access price is earned by work, not by acceptance: only participants that committed
///        at least one update are paid theirs (the price of one that accepted and never
///        delivered goes back to the data scientist, as does that of one that never accepted).
///      - A round is open until the coordinator commits its aggregate; an update for a closed
///        round reverts, so a late participant is simply absent from that round and may come
///        back in the next one. An aggregate needs updates from at least `minParticipants`.
///      - Checks the contract can make itself are made when the scores are posted, not left to
///        a watcher: a score for a participant that never committed an update (or never
///        accepted) makes `finalize` revert.
///      - Off-chain disputes (e.g. scores that do not match the valuation report): during the
///        challenge window anyone may `challenge` with an evidence CID, once per finalization.
///        Claims freeze until the arbiter (this contract's owner) resolves it within
///        `RESOLUTION_PERIOD`: upheld voids the finalization (the coordinator may finalize again
///        before the session deadline); rejected confirms it and claims open at once. A dispute
///        the arbiter leaves unresolved ends like a session that was never finalized.
///      - Never finalized by the session deadline (or dispute unresolved): anyone may `expire`
///        the session; participants that committed an update are paid their access price, the
///        data scientist gets the reward pool and every other price back.
///      - Claims: each paid participant's payee gets `price + pool * score / sum(scores)`
///        (integer division); the data scientist gets the rest of the pool (rounding dust, the
///        whole pool when every score is zero) and the unearned prices. Anyone may trigger a
///        claim (the money goes to the payee's ledger entry either way); funds leave only by
///        `withdraw` (pull payments).
contract FederatedSession is Ownable2Step, PaymentLedger {
    using SafeERC20 for IERC20;

    enum Status {
        None,
        Open,
        Running,
        Finalized,
        Disputed,
        Confirmed,
        Settled,
        Cancelled,
        Expired
    }

    /// @notice One dataset in a session, with the terms fixed at creation.
    struct Participant {
        bytes32 assetId;
        address payee;
        address provider;
        uint256 price;
    }

    /// @notice What the data scientist passes to `createSession`.
    struct SessionParams {
        bytes32 salt;
        bytes32[] assetIds;
        bytes32 algorithmHash;
        uint16 rounds;
        uint8 minParticipants;
        uint64 acceptDeadline;
        uint64 sessionDeadline;
        uint32 challengeWindow;
        uint256 rewardPool;
        address coordinator;
        address token;
        uint256 maxTotal;
        string configCid;
    }

    /// @notice The session-wide terms fixed at creation (in `SessionCreated`).
    struct SessionTerms {
        bytes32 algorithmHash;
        address token;
        uint256 rewardPool;
        uint16 rounds;
        uint8 minParticipants;
        uint64 acceptDeadline;
        uint64 sessionDeadline;
        uint32 challengeWindow;
    }

    /// @notice The stored part of a session: six slots.
    struct Session {
        // slot 0
        address creator;
        uint40 acceptDeadline;
        uint40 sessionDeadline;
        Status status;
        uint8 count;
        // slot 1
        address coordinator;
        uint32 acceptedMask;
        uint32 committedMask;
        uint32 roundMask;
        // slot 2
        address token;
        uint16 rounds;
        uint16 round;
        uint8 minParticipants;
        bool remainderClaimed;
        uint32 challengeWindow;
        // slot 3: prices and pool fit uint112 as registry prices are uint96 and n <= 32
        uint112 pool;
        uint112 held;
        uint32 claimedMask;
        // slot 4
        bytes32 participantsHash;
        // slot 5: 27 bytes of the scores hash leave a collision of two score lists at 2^108
        //         work; `windowEnd` is the challenge window's end while Finalized and the
        //         arbiter's deadline while Disputed.
        bytes27 scoresHash;
        uint40 windowEnd;
    }

    /// @notice At most this many datasets per session (one bit each in a uint32).
    uint256 public constant MAX_PARTICIPANTS = 32;
    /// @notice A session ends at most this long after creation: funds are never locked forever.
    uint256 public constant MAX_DURATION = 180 days;
    uint32 public constant MIN_CHALLENGE_WINDOW = 1 hours;
    uint32 public constant MAX_CHALLENGE_WINDOW = 30 days;
    /// @notice The arbiter has this long to resolve a dispute.
    uint256 public constant RESOLUTION_PERIOD = 7 days;

    AssetRegistry public immutable registry;

    mapping(bytes32 sessionId => Session) private _sessions;

    /// @notice A session was created and its prices and reward pool escrowed.
    event SessionCreated(
        bytes32 indexed sessionId,
        address indexed creator,
        address indexed coordinator,
        Participant[] participants,
        SessionTerms terms,
        string configCid
    );
    /// @notice The provider of participant `index` accepted to take part.
    event ParticipantAccepted(
        bytes32 indexed sessionId, bytes32 indexed assetId, uint8 index, address provider
    );
    /// @notice Training started with the participants in `acceptedMask`.
    event SessionStarted(bytes32 indexed sessionId, uint32 acceptedMask);
    /// @notice The session was cancelled before it started; the data scientist was refunded.
    event SessionCancelled(bytes32 indexed sessionId, address indexed caller);
    /// @notice Participant `index` committed its update for `round`.
    event UpdateCommitted(
        bytes32 indexed sessionId, uint16 indexed round, uint8 index, bytes32 updateHash, string cid
    );
    /// @notice The coordinator committed the aggregate of `round` over the participants in
    ///         `includedMask`.
    event AggregateCommitted(
        bytes32 indexed sessionId,
        uint16 indexed round,
        uint32 includedMask,
        bytes32 aggregateHash,
        string cid
    );
    /// @notice The coordinator posted the final model and the scores; the challenge window runs
    ///         until `challengeEnd`.
    event SessionFinalized(
        bytes32 indexed sessionId,
        bytes32 modelHash,
        string modelCid,
        uint32[] scores,
        bytes32 reportHash,
        string reportCid,
        uint64 challengeEnd
    );
    /// @notice `challenger` disputed the finalization; claims are frozen until `resolveBy`.
    event FinalizationChallenged(
        bytes32 indexed sessionId,
        address indexed challenger,
        bytes32 evidenceHash,
        string evidenceCid,
        uint64 resolveBy
    );
    /// @notice The arbiter resolved the dispute: `upheld` voids the finalization.
    event DisputeResolved(bytes32 indexed sessionId, bool upheld);
    /// @notice The session ended without a valid finalization; prices of participants that
    ///         worked were paid and the rest refunded.
    event SessionExpired(bytes32 indexed sessionId, address indexed caller);
    /// @notice Participant `index`'s payee was credited its price plus its reward.
    event RewardClaimed(
        bytes32 indexed sessionId, uint8 index, address indexed payee, uint256 price, uint256 reward
    );
    /// @notice The data scientist was credited what the participants did not earn.
    event RemainderClaimed(bytes32 indexed sessionId, address indexed creator, uint256 amount);
    /// @notice Every payout of the session has been claimed.
    event SessionSettled(bytes32 indexed sessionId);

    error SessionExists(bytes32 sessionId);
    error WrongStatus(bytes32 sessionId, Status status);
    error InvalidParticipantCount(uint256 count, uint8 minParticipants);
    error DuplicateAsset(bytes32 assetId);
    error TokenMismatch(bytes32 assetId, address token, address expected);
    error InvalidRounds(uint16 rounds);
    error InvalidDeadlines(uint64 acceptDeadline, uint64 sessionDeadline, uint256 latest);
    error InvalidChallengeWindow(uint32 challengeWindow, uint32 min, uint32 max);
    error TotalAboveMax(uint256 total, uint256 maxTotal);
    error WrongPayment(uint256 sent, uint256 expected);
    error ParticipantsMismatch(bytes32 sessionId);
    error ScoresMismatch(bytes32 sessionId);
    error InvalidIndex(bytes32 sessionId, uint256 index);
    error NotSessionProvider(bytes32 sessionId, uint256 index, address caller);
    error NotCoordinator(bytes32 sessionId, address caller);
    error NotCreatorOrCoordinator(bytes32 sessionId, address caller);
    error AlreadyAccepted(bytes32 sessionId, uint256 index);
    error AcceptClosed(bytes32 sessionId, uint64 acceptDeadline);
    error NotEnoughAccepted(bytes32 sessionId, uint256 accepted, uint8 required);
    error CannotCancel(bytes32 sessionId);
    error NotAccepted(bytes32 sessionId, uint256 index);
    error WrongRound(bytes32 sessionId, uint16 round, uint16 current);
    error AlreadyCommitted(bytes32 sessionId, uint16 round, uint256 index);
    error NotEnoughUpdates(bytes32 sessionId, uint16 round, uint256 updates, uint8 required);
    error IncludedMismatch(
        bytes32 sessionId, uint16 round, uint32 includedMask, uint32 committedMask
    );
    error RoundsIncomplete(bytes32 sessionId, uint16 aggregated, uint16 rounds);
    error SessionDeadlinePassed(bytes32 sessionId, uint64 sessionDeadline);
    error SessionNotExpired(bytes32 sessionId, uint64 deadline);
    error ScoresLengthMismatch(uint256 length, uint256 expected);
    error UnbackedScore(bytes32 sessionId, uint256 index);
    error ChallengeWindowClosed(bytes32 sessionId, uint64 windowEnd);
    error NotClaimable(bytes32 sessionId, Status status, uint64 windowEnd);
    error AlreadyClaimed(bytes32 sessionId, uint256 index);
    error NothingToClaim(bytes32 sessionId, uint256 index);
    error ZeroAddress();

    /// @param registry_ the AssetRegistry whose datasets take part in sessions
    /// @param arbiter the owner, who resolves disputed finalizations
    constructor(address registry_, address arbiter) Ownable(arbiter) {
        if (registry_ == address(0)) revert ZeroAddress();
        registry = AssetRegistry(registry_);
    }

    // ------------------------------------------------------------------ creation

    /// @notice The id of the session `creator` creates with `salt`.
    /// @param creator the data scientist
    /// @param salt any value the creator picks to make the id unique
    /// @return keccak256(abi.encode(creator, salt))
    function sessionIdOf(address creator, bytes32 salt) public pure returns (bytes32) {
        return keccak256(abi.encode(creator, salt));
    }

    /// @notice Create a session over `p.assetIds` and escrow every asset's price plus the reward
    ///         pool.
    /// @dev Each asset must exist, not be retired, allow `p.algorithmHash` and be priced in
    ///      `p.token` (address(0) = ETH, paid as exact `msg.value`; ERC-20 needs a prior approve
    ///      of the total). Requires 1 <= minParticipants <= assets <= 32, 1 <= rounds,
    ///      now < acceptDeadline < sessionDeadline <= now + MAX_DURATION and a challenge window
    ///      within [MIN_CHALLENGE_WINDOW, MAX_CHALLENGE_WINDOW].
    /// @param p the session parameters; `maxTotal` caps prices + pool (guards a price raise)
    /// @return sessionId keccak256(abi.encode(msg.sender, p.salt))
    function createSession(SessionParams calldata p)
        external
        payable
        nonReentrant
        returns (bytes32 sessionId)
    {
        uint256 n = p.assetIds.length;
        if (p.minParticipants == 0 || p.minParticipants > n || n > MAX_PARTICIPANTS) {
            revert InvalidParticipantCount(n, p.minParticipants);
        }
        if (p.rounds == 0) revert InvalidRounds(p.rounds);
        if (
            p.acceptDeadline <= block.timestamp || p.sessionDeadline <= p.acceptDeadline
                || p.sessionDeadline > block.timestamp + MAX_DURATION
        ) revert InvalidDeadlines(p.acceptDeadline, p.sessionDeadline, block.timestamp + MAX_DURATION);
        if (p.challengeWindow < MIN_CHALLENGE_WINDOW || p.challengeWindow > MAX_CHALLENGE_WINDOW) {
            revert InvalidChallengeWindow(
                p.challengeWindow, MIN_CHALLENGE_WINDOW, MAX_CHALLENGE_WINDOW
            );
        }
        if (p.coordinator == address(0)) revert ZeroAddress();
        sessionId = sessionIdOf(msg.sender, p.salt);
        Session storage s = _sessions[sessionId];
        if (s.status != Status.None) revert SessionExists(sessionId);

        Participant[] memory participants = new Participant[](n);
        uint256 total = p.rewardPool;
        for (uint256 i; i < n; ++i) {
            bytes32 assetId = p.assetIds[i];
            // n <= 32: a quadratic duplicate scan is cheaper than a storage or sort based one.
            for (uint256 j; j < i; ++j) {
                if (p.assetIds[j] == assetId) revert DuplicateAsset(assetId);
            }
            Participant memory part = participants[i];
            address token;
            part.assetId = assetId;
            (part.payee, part.provider, token, part.price) =
                registry.purchaseTerms(assetId, p.algorithmHash);
            if (token != p.token) revert TokenMismatch(assetId, token, p.token);
            total += part.price;
        }
        if (total > p.maxTotal) revert TotalAboveMax(total, p.maxTotal);
        // uint112 holds 32 uint96 prices plus any realistic pool; refuse the rest rather than
        // truncate.
        if (total > type(uint112).max) revert TotalAboveMax(total, type(uint112).max);

        s.creator = msg.sender;
        s.acceptDeadline = uint40(p.acceptDeadline);
        s.sessionDeadline = uint40(p.sessionDeadline);
        s.status = Status.Open;
        s.count = uint8(n);
        s.coordinator = p.coordinator;
        s.token = p.token;
        s.rounds = p.rounds;
        s.minParticipants = p.minParticipants;
        s.challengeWindow = p.challengeWindow;
        s.pool = uint112(p.rewardPool);
        s.held = uint112(total);
        s.participantsHash = hashParticipants(participants);
        _emitCreated(sessionId, p, participants);
        if (p.token == address(0)) {
            if (msg.value != total) revert WrongPayment(msg.value, total);
        } else {
            if (msg.value != 0) revert WrongPayment(msg.value, 0);
            IERC20(p.token).safeTransferFrom(msg.sender, address(this), total);
        }
    }

    // ------------------------------------------------------------------ enrolment

    /// @notice The provider of participant `index` agrees to train on its asset in the session.
    /// @param sessionId the session
    /// @param index the participant's position in the list
    /// @param participants the list, as emitted in `SessionCreated`
    function accept(bytes32 sessionId, uint8 index, Participant[] calldata participants)
        external
    {
        Session storage s = _withStatus(sessionId, Status.Open);
        _checkParticipants(s, sessionId, participants);
        _checkIndex(s, sessionId, index);
        if (msg.sender != participants[index].provider) {
            revert NotSessionProvider(sessionId, index, msg.sender);
        }
        if (block.timestamp > s.acceptDeadline) revert AcceptClosed(sessionId, s.acceptDeadline);
        uint32 bit = uint32(1) << index;
        if (s.acceptedMask & bit != 0) revert AlreadyAccepted(sessionId, index);
        s.acceptedMask |= bit;
        emit ParticipantAccepted(sessionId, participants[index].assetId, index, msg.sender);
    }

    /// @notice Start training with the participants that accepted (at least the minimum); no
    ///         one can accept afterwards. The creator or the coordinator may start.
    /// @param sessionId the session
    function start(bytes32 sessionId) external {
        Session storage s = _withStatus(sessionId, Status.Open);
        if (msg.sender != s.creator && msg.sender != s.coordinator) {
            revert NotCreatorOrCoordinator(sessionId, msg.sender);
        }
        if (block.timestamp > s.sessionDeadline) {
            revert SessionDeadlinePassed(sessionId, s.sessionDeadline);
        }
        uint256 accepted = _popcount(s.acceptedMask);
        if (accepted < s.minParticipants) {
            revert NotEnoughAccepted(sessionId, accepted, s.minParticipants);
        }
        s.status = Status.Running;
        emit SessionStarted(sessionId, s.acceptedMask);
    }

    /// @notice Cancel a session that has not started and refund the data scientist in full.
    /// @dev The creator may cancel any time before the start (no one has trained yet); anyone
    ///      may once the accept deadline passed with fewer than the minimum accepted.
    /// @param sessionId the session
    function cancel(bytes32 sessionId) external {
        Session storage s = _withStatus(sessionId, Status.Open);
        bool tooFew = block.timestamp > s.acceptDeadline
            && _popcount(s.acceptedMask) < s.minParticipants;
        if (msg.sender != s.creator && !tooFew) revert CannotCancel(sessionId);
        s.status = Status.Cancelled;
        emit SessionCancelled(sessionId, msg.sender);
        _pay(s, s.creator, s.held);
    }

    // ------------------------------------------------------------------ rounds

    /// @notice Participant `index` commits its update for the current round.
    /// @dev Only the participant's provider, only for the round whose aggregate is not yet
    ///      committed, once per round.
    /// @param sessionId the session
    /// @param round the round (0-based); must be the current one
    /// @param index the participant's position in the list
    /// @param participants the list, as emitted in `SessionCreated`
    /// @param updateHash hash of the update
    /// @param cid IPFS CID of the update (event only)
    function commitUpdate(
        bytes32 sessionId,
        uint16 round,
        uint8 index,
        Participant[] calldata participants,
        bytes32 updateHash,
        string calldata cid
    ) external {
        Session storage s = _running(sessionId, round);
        _checkParticipants(s, sessionId, participants);
        _checkIndex(s, sessionId, index);
        if (msg.sender != participants[index].provider) {
            revert NotSessionProvider(sessionId, index, msg.sender);
        }
        uint32 bit = uint32(1) << index;
        if (s.acceptedMask & bit == 0) revert NotAccepted(sessionId, index);
        if (s.roundMask & bit != 0) revert AlreadyCommitted(sessionId, round, index);
        s.roundMask |= bit;
        s.committedMask |= bit;
        emit UpdateCommitted(sessionId, round, index, updateHash, cid);
    }

    /// @notice The coordinator commits the aggregate of the current round, which closes it.
    /// @dev `includedMask` must equal the round's committed updates: an update that lands after
    ///      the coordinator aggregated makes this revert (`IncludedMismatch`) instead of being
    ///      recorded as included in an aggregate that never saw it.
    /// @param sessionId the session
    /// @param round the round; must be the current one
    /// @param includedMask the participants whose updates the aggregate includes (bit i: index i)
    /// @param aggregateHash hash of the aggregated model
    /// @param cid IPFS CID of the aggregated model (event only)
    function commitAggregate(
        bytes32 sessionId,
        uint16 round,
        uint32 includedMask,
        bytes32 aggregateHash,
        string calldata cid
    ) external {
        Session storage s = _running(sessionId, round);
        if (msg.sender != s.coordinator) revert NotCoordinator(sessionId, msg.sender);
        uint32 included = s.roundMask;
        if (included != includedMask) {
            revert IncludedMismatch(sessionId, round, includedMask, included);
        }
        uint256 updates = _popcount(included);
        if (updates < s.minParticipants) {
            revert NotEnoughUpdates(sessionId, round, updates, s.minParticipants);
        }
        s.round = round + 1;
        s.roundMask = 0;
        emit AggregateCommitted(sessionId, round, included, aggregateHash, cid);
    }

    // ------------------------------------------------------------------ scores

    /// @notice The coordinator posts the final model and one score per participant, which
    ///         opens the challenge window.
    /// @dev After the last aggregate and before the session deadline. A non-zero score for a
    ///      participant that never committed an update reverts (`UnbackedScore`).
    /// @param sessionId the session
    /// @param scores one non-negative score per participant, in list order
    /// @param modelHash hash of the final model
    /// @param modelCid IPFS CID of the final model (event only)
    /// @param reportHash hash of the valuation report (utility table, scores)
    /// @param reportCid IPFS CID of the valuation report (event only)
    function finalize(
        bytes32 sessionId,
        uint32[] calldata scores,
        bytes32 modelHash,
        string calldata modelCid,
        bytes32 reportHash,
        string calldata reportCid
    ) external {
        Session storage s = _withStatus(sessionId, Status.Running);
        if (msg.sender != s.coordinator) revert NotCoordinator(sessionId, msg.sender);
        if (block.timestamp > s.sessionDeadline) {
            revert SessionDeadlinePassed(sessionId, s.sessionDeadline);
        }
        if (s.round < s.rounds) revert RoundsIncomplete(sessionId, s.round, s.rounds);
        if (scores.length != s.count) revert ScoresLengthMismatch(scores.length, s.count);
        uint32 committed = s.committedMask;
        for (uint256 i; i < scores.length; ++i) {
            if (scores[i] != 0 && committed & (uint32(1) << i) == 0) {
                revert UnbackedScore(sessionId, i);
            }
        }
        uint40 windowEnd = uint40(block.timestamp) + s.challengeWindow;
        s.status = Status.Finalized;
        s.scoresHash = bytes27(hashScores(scores));
        s.windowEnd = windowEnd;
        emit SessionFinalized(sessionId, modelHash, modelCid, scores, reportHash, reportCid, windowEnd);
    }

    /// @notice Dispute the finalization during the challenge window (anyone, once per
    ///         finalization); claims freeze until the arbiter resolves it.
    /// @param sessionId the session
    /// @param evidenceHash hash of the evidence
    /// @param evidenceCid IPFS CID of the evidence (e.g. the recomputed utility table)
    function challenge(bytes32 sessionId, bytes32 evidenceHash, string calldata evidenceCid)
        external
    {
        Session storage s = _withStatus(sessionId, Status.Finalized);
        if (block.timestamp > s.windowEnd) revert ChallengeWindowClosed(sessionId, s.windowEnd);
        uint40 resolveBy = uint40(block.timestamp + RESOLUTION_PERIOD);
        s.status = Status.Disputed;
        s.windowEnd = resolveBy;
        emit FinalizationChallenged(sessionId, msg.sender, evidenceHash, evidenceCid, resolveBy);
    }

    /// @notice The arbiter resolves a dispute before its deadline: `upheld` voids the
    ///         finalization (the coordinator may finalize again before the session deadline),
    ///         otherwise the finalization stands and claims open at once.
    /// @param sessionId the session
    /// @param upheld whether the challenge is right
    function resolve(bytes32 sessionId, bool upheld) external onlyOwner {
        Session storage s = _withStatus(sessionId, Status.Disputed);
        if (block.timestamp > s.windowEnd) revert ChallengeWindowClosed(sessionId, s.windowEnd);
        s.status = upheld ? Status.Running : Status.Confirmed;
        emit DisputeResolved(sessionId, upheld);
    }

    /// @notice End a session that was not validly finalized in time (anyone may call): open or
    ///         running past the session deadline, or disputed past the arbiter's deadline.
    ///         Participants that committed an update are paid their price; the data scientist
    ///         gets the rest back.
    /// @param sessionId the session
    /// @param participants the list, as emitted in `SessionCreated`
    function expire(bytes32 sessionId, Participant[] calldata participants)
        external
        nonReentrant
    {
        Session storage s = _sessions[sessionId];
        Status status = s.status;
        uint64 deadline;
        if (status == Status.Open || status == Status.Running) {
            deadline = s.sessionDeadline;
        } else if (status == Status.Disputed) {
            deadline = s.windowEnd;
        } else {
            revert WrongStatus(sessionId, status);
        }
        if (block.timestamp <= deadline) revert SessionNotExpired(sessionId, deadline);
        _checkParticipants(s, sessionId, participants);
        s.status = Status.Expired;
        emit SessionExpired(sessionId, msg.sender);
        uint32 committed = s.committedMask;
        for (uint256 i; i < participants.length; ++i) {
            if (committed & (uint32(1) << i) != 0) {
                _pay(s, participants[i].payee, participants[i].price);
            }
        }
        _pay(s, s.creator, s.held);
    }

    // ------------------------------------------------------------------ claims

    /// @notice Credit participant `index`'s payee with its price plus
    ///         `pool * score / sum(scores)` (anyone may call; the payee is credited).
    /// @param sessionId the session
    /// @param index the participant's position in the list
    /// @param participants the list, as emitted in `SessionCreated`
    /// @param scores the scores, as emitted in the latest `SessionFinalized`
    function claim(
        bytes32 sessionId,
        uint8 index,
        Participant[] calldata participants,
        uint32[] calldata scores
    ) external nonReentrant {
        Session storage s = _claimable(sessionId, participants, scores);
        _checkIndex(s, sessionId, index);
        uint32 bit = uint32(1) << index;
        if (s.committedMask & bit == 0) revert NothingToClaim(sessionId, index);
        if (s.claimedMask & bit != 0) revert AlreadyClaimed(sessionId, index);
        s.claimedMask |= bit;
        uint256 reward = _share(s.pool, scores[index], _sum(scores));
        uint256 price = participants[index].price;
        address payee = participants[index].payee;
        emit RewardClaimed(sessionId, index, payee, price, reward);
        _pay(s, payee, price + reward);
        _settleIfDone(s, sessionId);
    }

    /// @notice Credit the data scientist with what the participants did not earn: the pool's
    ///         rounding dust (all of it when every score is zero) and the prices of participants
    ///         that never committed an update (anyone may call).
    /// @param sessionId the session
    /// @param participants the list, as emitted in `SessionCreated`
    /// @param scores the scores, as emitted in the latest `SessionFinalized`
    function claimRemainder(
        bytes32 sessionId,
        Participant[] calldata participants,
        uint32[] calldata scores
    ) external nonReentrant {
        Session storage s = _claimable(sessionId, participants, scores);
        if (s.remainderClaimed) revert AlreadyClaimed(sessionId, type(uint8).max);
        s.remainderClaimed = true;
        uint256 pool = s.pool;
        uint256 sum = _sum(scores);
        uint256 amount = pool;
        uint32 committed = s.committedMask;
        for (uint256 i; i < participants.length; ++i) {
            if (committed & (uint32(1) << i) == 0) {
                amount += participants[i].price;
            } else {
                amount -= _share(pool, scores[i], sum);
            }
        }
        emit RemainderClaimed(sessionId, s.creator, amount);
        _pay(s, s.creator, amount);
        _settleIfDone(s, sessionId);
    }

    // ------------------------------------------------------------------ views

    /// @notice The stored state of a session (status None when unknown).
    /// @param sessionId the session
    /// @return the session record
    function getSession(bytes32 sessionId) external view returns (Session memory) {
        return _sessions[sessionId];
    }

    /// @notice The hash commitment of a participant list.
    /// @param participants the list
    /// @return keccak256 of the ABI-encoded list
    function hashParticipants(Participant[] memory participants) public pure returns (bytes32) {
        return keccak256(abi.encode(participants));
    }

    /// @notice The hash of a score list (its first 27 bytes are stored at finalization).
    /// @param scores the scores
    /// @return keccak256 of the ABI-encoded list
    function hashScores(uint32[] memory scores) public pure returns (bytes32) {
        return keccak256(abi.encode(scores));
    }

    // ------------------------------------------------------------------ internals

    function _emitCreated(
        bytes32 sessionId,
        SessionParams calldata p,
        Participant[] memory participants
    ) private {
        // A separate frame and a struct: thirteen event fields do not fit the legacy stack.
        SessionTerms memory terms = SessionTerms({
            algorithmHash: p.algorithmHash,
            token: p.token,
            rewardPool: p.rewardPool,
            rounds: p.rounds,
            minParticipants: p.minParticipants,
            acceptDeadline: p.acceptDeadline,
            sessionDeadline: p.sessionDeadline,
            challengeWindow: p.challengeWindow
        });
        emit SessionCreated(sessionId, msg.sender, p.coordinator, participants, terms, p.configCid);
    }

    function _withStatus(bytes32 sessionId, Status status)
        private
        view
        returns (Session storage s)
    {
        s = _sessions[sessionId];
        if (s.status != status) revert WrongStatus(sessionId, s.status);
    }

    function _running(bytes32 sessionId, uint16 round) private view returns (Session storage s) {
        s = _withStatus(sessionId, Status.Running);
        if (block.timestamp > s.sessionDeadline) {
            revert SessionDeadlinePassed(sessionId, s.sessionDeadline);
        }
        // Also rejects every round once all are aggregated (s.round == s.rounds).
        if (round != s.round || round >= s.rounds) revert WrongRound(sessionId, round, s.round);
    }

    function _claimable(
        bytes32 sessionId,
        Participant[] calldata participants,
        uint32[] calldata scores
    ) private view returns (Session storage s) {
        s = _sessions[sessionId];
        bool open = s.status == Status.Confirmed
            || (s.status == Status.Finalized && block.timestamp > s.windowEnd);
        if (!open) revert NotClaimable(sessionId, s.status, s.windowEnd);
        _checkParticipants(s, sessionId, participants);
        if (s.scoresHash != bytes27(hashScores(scores))) revert ScoresMismatch(sessionId);
    }

    function _checkParticipants(
        Session storage s,
        bytes32 sessionId,
        Participant[] calldata participants
    ) private view {
        if (s.participantsHash != hashParticipants(participants)) {
            revert ParticipantsMismatch(sessionId);
        }
    }

    function _checkIndex(Session storage s, bytes32 sessionId, uint256 index) private view {
        if (index >= s.count) revert InvalidIndex(sessionId, index);
    }

    function _settleIfDone(Session storage s, bytes32 sessionId) private {
        if (s.remainderClaimed && s.claimedMask == s.committedMask) {
            s.status = Status.Settled;
            emit SessionSettled(sessionId);
        }
    }

    /// @dev Moves `amount` from the session's escrow to `account`'s ledger; the checked
    ///      subtraction makes paying out more than was escrowed impossible.
    function _pay(Session storage s, address account, uint256 amount) private {
        if (amount == 0) return;
        s.held -= uint112(amount);
        _credit(account, s.token, amount);
    }

    function _share(uint256 pool, uint256 score, uint256 sum) private pure returns (uint256) {
        return sum == 0 ? 0 : (pool * score) / sum;
    }

    function _sum(uint32[] calldata scores) private pure returns (uint256 total) {
        for (uint256 i; i < scores.length; ++i) {
            total += scores[i];
        }
    }

    function _popcount(uint32 x) private pure returns (uint256 count) {
        for (; x != 0; ++count) {
            x &= x - 1;
        }
    }
}

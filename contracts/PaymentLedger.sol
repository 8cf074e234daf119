// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

/// @title PaymentLedger
/// @notice Pull payments shared by the escrow and the session contract: what is owed is credited
///         to a per-account, per-token balance and leaves the contract only through `withdraw`.
/// @dev A payee that cannot receive (a contract rejecting ETH, a blocklisted token holder) only
///      fails its own withdrawal; it can never block a settlement that credits others.
abstract contract PaymentLedger is ReentrancyGuard {
    using SafeERC20 for IERC20;

    mapping(address account => mapping(address token => uint256)) private _withdrawable;

    /// @notice `amount` of `token` was added to `account`'s withdrawable balance.
    event Credited(address indexed account, address indexed token, uint256 amount);
    /// @notice `account` withdrew `amount` of `token`.
    event Withdrawn(address indexed account, address indexed token, uint256 amount);

    /// @notice The account has no balance to withdraw in this token.
    error NothingToWithdraw(address account, address token);
    /// @notice The receiver did not accept the ETH.
    error EthTransferFailed(address to);

    /// @notice Send the caller everything it may withdraw in `token` (address(0) = ETH).
    /// @param token the token
    /// @return amount the amount sent
    function withdraw(address token) external nonReentrant returns (uint256 amount) {
        amount = _withdrawable[msg.sender][token];
        if (amount == 0) revert NothingToWithdraw(msg.sender, token);
        _withdrawable[msg.sender][token] = 0;
        emit Withdrawn(msg.sender, token, amount);
        if (token == address(0)) {
            (bool ok,) = payable(msg.sender).call{value: amount}("");
            if (!ok) revert EthTransferFailed(msg.sender);
        } else {
            IERC20(token).safeTransfer(msg.sender, amount);
        }
    }

    /// @notice What `account` may withdraw in `token` (address(0) = ETH).
    /// @param account the account
    /// @param token the token
    /// @return the amount
    function withdrawable(address account, address token) external view returns (uint256) {
        return _withdrawable[account][token];
    }

    /// @dev Owe `amount` of `token` to `account` (nothing happens for a zero amount).
    function _credit(address account, address token, uint256 amount) internal {
        if (amount == 0) return;
        _withdrawable[account][token] += amount;
        emit Credited(account, token, amount);
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title PaymentToken
/// @notice An ERC-20 with ERC-2612 permit, mintable by its owner. Meant for local and test
///         chains; production deployments price assets in an existing token or native ETH.
contract PaymentToken is ERC20, ERC20Permit, Ownable {
    /// @param name_ token name (also the EIP-712 domain name of `permit`)
    /// @param symbol_ token symbol
    /// @param initialOwner the account allowed to mint
    constructor(string memory name_, string memory symbol_, address initialOwner)
        ERC20(name_, symbol_)
        ERC20Permit(name_)
        Ownable(initialOwner)
    {}

    /// @notice Create `amount` new tokens (18 decimals) for `to`.
    /// @dev Only the owner; emits the standard `Transfer(address(0), to, amount)`.
    /// @param to the receiver of the new tokens
    /// @param amount the amount in the smallest unit
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}

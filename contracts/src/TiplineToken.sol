// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title TiplineToken: an operator's own fixed-supply ERC-20, deployed by `tipline token deploy`.
/// @notice OpenZeppelin's audited ERC20 (pinned in contracts/package-lock.json) with nothing
/// added: the whole supply goes to the deployer at construction and can never grow, and there is
/// no owner, no pause and no fee, so every transfer moves exactly the amount asked, as TipJar's
/// exact-amount check needs.
contract TiplineToken is ERC20 {
    constructor(string memory name_, string memory symbol_, uint256 supply) ERC20(name_, symbol_) {
        _mint(msg.sender, supply);
    }
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {DemoToken} from "../src/DemoToken.sol";
import {TipJar} from "../src/TipJar.sol";

// Contracts used only by Tipline's tests (tests/chain/): badly behaved tokens, recipients and
// attackers, each the smallest thing that shows one failure mode TipJar must survive.

/// @dev USDT-style: transferFrom moves the tokens but returns nothing.
contract NoReturnToken {
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    function mint(address to, uint256 amount) external {
        balanceOf[to] += amount;
    }

    function approve(address spender, uint256 amount) external {
        allowance[msg.sender][spender] = amount;
    }

    function transferFrom(address from, address to, uint256 amount) external {
        require(allowance[from][msg.sender] >= amount && balanceOf[from] >= amount);
        allowance[from][msg.sender] -= amount;
        balanceOf[from] -= amount;
        balanceOf[to] += amount;
    }
}

/// @dev Reports failure by returning false instead of reverting, and moves nothing.
contract FalseReturnToken {
    mapping(address => uint256) public balanceOf;

    function mint(address to, uint256 amount) external {
        balanceOf[to] += amount;
    }

    function approve(address, uint256) external pure returns (bool) {
        return true;
    }

    function transferFrom(address, address, uint256) external pure returns (bool) {
        return false;
    }
}

/// @dev Claims success but moves nothing.
contract PhantomToken is DemoToken("Phantom", "PHM") {
    function _move(address, address, uint256) internal override {}
}

/// @dev Burns 1% of every transfer: the recipient gets less than was asked.
contract FeeOnTransferToken is DemoToken("Fee", "FEE") {
    function _move(address from, address to, uint256 amount) internal override {
        uint256 fee = amount / 100;
        super._move(from, to, amount - fee);
        super._move(from, address(0xdead), fee);
    }
}

/// @dev Tries to tip again from inside its own transfer.
contract ReentrantToken is DemoToken("Reentrant", "RE") {
    TipJar public immutable jar;
    uint256 public attempts;
    uint256 public successes;

    constructor(TipJar jar_) {
        jar = jar_;
    }

    function _move(address from, address to, uint256 amount) internal override {
        super._move(from, to, amount);
        if (msg.sender == address(jar)) {
            attempts += 1;
            try jar.tipToken(address(this), to, 1, bytes32(uint256(0xbad))) {
                successes += 1;
            } catch {}
        }
    }
}

/// @dev A recipient that refuses the native coin.
contract RevertingRecipient {
    receive() external payable {
        revert("no tips please");
    }
}

/// @dev A recipient that tries to tip again with the coin it is being sent.
contract ReentrantRecipient {
    TipJar public immutable jar;
    uint256 public attempts;
    uint256 public successes;

    constructor(TipJar jar_) {
        jar = jar_;
    }

    receive() external payable {
        attempts += 1;
        try jar.tipNative{value: msg.value}(address(0xbeef), bytes32(uint256(0xbad))) {
            successes += 1;
        } catch {}
    }
}

/// @dev Emits an event identical to TipJar's without moving anything: a forgery Tipline must ignore.
contract LookAlikeTipJar {
    event Tipped(
        address indexed tipper, address indexed recipient, address indexed token, uint256 amount, bytes32 intentId
    );

    function tipNative(address recipient, bytes32 intentId) external payable {
        emit Tipped(msg.sender, recipient, address(0), msg.value, intentId);
    }

    function fake(address tipper, address recipient, address token, uint256 amount, bytes32 intentId) external {
        emit Tipped(tipper, recipient, token, amount, intentId);
    }
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @dev The two ERC-20 functions TipJar calls. Called through low-level calls so that tokens
/// returning nothing (USDT-style) or `false` are handled, not trusted.
interface IERC20Minimal {
    function transferFrom(address from, address to, uint256 amount) external returns (bool);
    function balanceOf(address account) external view returns (uint256);
}

/// @title TipJar: non-custodial tips in the native coin and ERC-20 tokens for Tipline.
/// @notice Every tip goes straight from the tipper to the recipient in the same call and carries
/// the Tipline intent id it settles. The contract keeps no balances, has no owner and no admin
/// functions, and refuses plain transfers, so nothing can be left in it.
/// @dev See docs/subsystems/tipping.md for how Tipline verifies the `Tipped` events.
contract TipJar {
    /// @notice A tip arrived. `amount` is what the recipient received (for tokens: the
    /// recipient's balance increase, so a fee-on-transfer token reports what really arrived).
    event Tipped(
        address indexed tipper, address indexed recipient, address indexed token, uint256 amount, bytes32 intentId
    );

    error ZeroAmount();
    error ZeroAddress();
    error NotAToken(address token);
    error NativeTransferFailed(address recipient);
    error TokenTransferFailed(address token);
    error NothingDelivered(address token);
    error Reentrancy();

    uint256 private constant _UNLOCKED = 1;
    uint256 private constant _LOCKED = 2;
    uint256 private _lock = _UNLOCKED;

    modifier nonReentrant() {
        if (_lock != _UNLOCKED) revert Reentrancy();
        _lock = _LOCKED;
        _;
        _lock = _UNLOCKED;
    }

    /// @notice Tip `msg.value` of the native coin to `recipient` for the intent `intentId`.
    function tipNative(address recipient, bytes32 intentId) external payable nonReentrant {
        // Checks.
        if (recipient == address(0)) revert ZeroAddress();
        if (msg.value == 0) revert ZeroAmount();
        // Effects: the contract holds no state, the event is the only record.
        emit Tipped(msg.sender, recipient, address(0), msg.value, intentId);
        // Interaction: forward everything; a recipient that refuses reverts the whole tip.
        (bool ok,) = recipient.call{value: msg.value}("");
        if (!ok) revert NativeTransferFailed(recipient);
    }

    /// @notice Tip `amount` of `token` from the caller (who approved this contract) to `recipient`.
    /// @dev Tokens move tipper -> recipient directly; the event reports the recipient's measured
    /// balance increase. The event has to follow the transfer because that increase is only known
    /// then; the reentrancy guard covers the window, and no contract state changes after it.
    function tipToken(address token, address recipient, uint256 amount, bytes32 intentId) external nonReentrant {
        if (token == address(0) || recipient == address(0)) revert ZeroAddress();
        if (amount == 0) revert ZeroAmount();
        if (token.code.length == 0) revert NotAToken(token);
        uint256 before = _balanceOf(token, recipient);
        _safeTransferFrom(token, msg.sender, recipient, amount);
        uint256 afterwards = _balanceOf(token, recipient);
        if (afterwards <= before) revert NothingDelivered(token);
        emit Tipped(msg.sender, recipient, token, afterwards - before, intentId);
    }

    function _safeTransferFrom(address token, address from, address to, uint256 amount) private {
        (bool ok, bytes memory ret) = token.call(abi.encodeCall(IERC20Minimal.transferFrom, (from, to, amount)));
        // Success is: the call did not revert, and it returned nothing or exactly `true`.
        if (!ok) revert TokenTransferFailed(token);
        if (ret.length != 0 && (ret.length != 32 || abi.decode(ret, (uint256)) != 1)) revert TokenTransferFailed(token);
    }

    function _balanceOf(address token, address account) private view returns (uint256) {
        (bool ok, bytes memory ret) = token.staticcall(abi.encodeCall(IERC20Minimal.balanceOf, (account)));
        if (!ok || ret.length != 32) revert NotAToken(token);
        return abi.decode(ret, (uint256));
    }
}

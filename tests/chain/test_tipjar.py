"""TipJar against a real anvil node: both tip kinds, awkward tokens, hostile recipients and
tokens, reentrancy, zero amounts and addresses; and the contract never keeps anything."""

from __future__ import annotations

import os

import pytest

from tests.chain.node import call_uint, expect_revert, send_ok, token_balance
from tipline.chain.abi import (
    TIPPED_TOPIC,
    ZERO_ADDRESS,
    approve_data,
    decode_tipped,
    encode_call,
    tip_native_data,
    tip_token_data,
)
from tipline.chain.anvil import DEV_ACCOUNTS
from tipline.chain.deploy import deploy
from tipline.chain.rpc import Rpc

TIPPER, RECIPIENT = DEV_ACCOUNTS[1], DEV_ACCOUNTS[2]
ETH = 10**18


def intent() -> bytes:
    return os.urandom(32)


def mint(to: str, amount: int) -> str:
    return encode_call("mint(address,uint256)", ["address", "uint256"], [to, amount])


@pytest.fixture(scope="module")
async def jar(rpc: Rpc) -> str:
    return await deploy(rpc, "TipJar")


async def funded_token(rpc: Rpc, jar: str, name: str, *args: object) -> str:
    token = await deploy(rpc, name, *args)
    await send_ok(rpc, sender=TIPPER, to=token, data=mint(TIPPER, 1000 * ETH))
    await rpc.transact(sender=TIPPER, to=token, data=approve_data(spender=jar, amount=2**256 - 1))
    return token


def tipped(receipt: dict[str, object]) -> list:  # type: ignore[type-arg]
    logs = receipt["logs"]
    assert isinstance(logs, list)
    return [t for log in logs if (t := decode_tipped(log)) is not None]


async def test_native_tip_moves_the_coin_and_names_the_intent(rpc: Rpc, jar: str) -> None:
    before = await rpc.balance(RECIPIENT)
    iid = intent()
    receipt = await send_ok(
        rpc, sender=TIPPER, to=jar, data=tip_native_data(recipient=RECIPIENT, intent_id=iid), value=ETH
    )
    assert await rpc.balance(RECIPIENT) - before == ETH
    [event] = tipped(receipt)
    assert (event.contract, event.tipper, event.recipient, event.token) == (jar, TIPPER, RECIPIENT, ZERO_ADDRESS)
    assert (event.amount, event.intent_id) == (ETH, iid)
    assert receipt["logs"][0]["topics"][0] == TIPPED_TOPIC  # type: ignore[index]
    assert await rpc.balance(jar) == 0


async def test_token_tip_goes_straight_to_the_recipient(rpc: Rpc, jar: str) -> None:
    token = await funded_token(rpc, jar, "DemoToken", "Demo", "DEMO")
    iid = intent()
    data = tip_token_data(token=token, recipient=RECIPIENT, amount=5 * ETH, intent_id=iid)
    [event] = tipped(await send_ok(rpc, sender=TIPPER, to=jar, data=data))
    assert (event.tipper, event.recipient, event.token, event.amount, event.intent_id) == (
        TIPPER,
        RECIPIENT,
        token,
        5 * ETH,
        iid,
    )
    assert await token_balance(rpc, token, RECIPIENT) == 5 * ETH
    assert await token_balance(rpc, token, jar) == 0


async def test_token_returning_nothing_is_handled(rpc: Rpc, jar: str) -> None:
    token = await deploy(rpc, "NoReturnToken")
    await send_ok(rpc, sender=TIPPER, to=token, data=mint(TIPPER, 10 * ETH))
    await send_ok(rpc, sender=TIPPER, to=token, data=approve_data(spender=jar, amount=10 * ETH))
    data = tip_token_data(token=token, recipient=RECIPIENT, amount=3 * ETH, intent_id=intent())
    [event] = tipped(await send_ok(rpc, sender=TIPPER, to=jar, data=data))
    assert event.amount == 3 * ETH
    assert await token_balance(rpc, token, RECIPIENT) == 3 * ETH


async def test_token_returning_false_is_refused(rpc: Rpc, jar: str) -> None:
    token = await funded_token(rpc, jar, "FalseReturnToken")
    data = tip_token_data(token=token, recipient=RECIPIENT, amount=ETH, intent_id=intent())
    await expect_revert(rpc, sender=TIPPER, to=jar, data=data, error="TokenTransferFailed(address)")


async def test_token_that_moves_nothing_is_refused(rpc: Rpc, jar: str) -> None:
    token = await funded_token(rpc, jar, "PhantomToken")
    data = tip_token_data(token=token, recipient=RECIPIENT, amount=ETH, intent_id=intent())
    await expect_revert(rpc, sender=TIPPER, to=jar, data=data, error="NothingDelivered(address)")


async def test_fee_on_transfer_token_reports_what_arrived(rpc: Rpc, jar: str) -> None:
    token = await funded_token(rpc, jar, "FeeOnTransferToken")
    data = tip_token_data(token=token, recipient=RECIPIENT, amount=100 * ETH, intent_id=intent())
    [event] = tipped(await send_ok(rpc, sender=TIPPER, to=jar, data=data))
    assert event.amount == 99 * ETH == await token_balance(rpc, token, RECIPIENT)


async def test_not_a_token_and_no_allowance_are_refused(rpc: Rpc, jar: str) -> None:
    data = tip_token_data(token=DEV_ACCOUNTS[5], recipient=RECIPIENT, amount=ETH, intent_id=intent())
    await expect_revert(rpc, sender=TIPPER, to=jar, data=data, error="NotAToken(address)")
    token = await deploy(rpc, "DemoToken", "Demo", "DEMO")
    await send_ok(rpc, sender=TIPPER, to=token, data=mint(TIPPER, ETH))
    data = tip_token_data(token=token, recipient=RECIPIENT, amount=ETH, intent_id=intent())
    await expect_revert(rpc, sender=TIPPER, to=jar, data=data, error="TokenTransferFailed(address)")


async def test_reverting_recipient_reverts_the_tip_and_nothing_stays(rpc: Rpc, jar: str) -> None:
    refuser = await deploy(rpc, "RevertingRecipient")
    before = await rpc.balance(TIPPER)
    data = tip_native_data(recipient=refuser, intent_id=intent())
    await expect_revert(rpc, sender=TIPPER, to=jar, data=data, value=ETH, error="NativeTransferFailed(address)")
    assert await rpc.balance(refuser) == 0
    assert await rpc.balance(jar) == 0
    assert before - await rpc.balance(TIPPER) < ETH // 100  # only gas was spent


async def test_recipient_cannot_reenter(rpc: Rpc, jar: str) -> None:
    attacker = await deploy(rpc, "ReentrantRecipient", jar)
    data = tip_native_data(recipient=attacker, intent_id=intent())
    receipt = await send_ok(rpc, sender=TIPPER, to=jar, data=data, value=ETH)
    assert len(tipped(receipt)) == 1
    assert await call_uint(rpc, attacker, "attempts()", [], []) == 1
    assert await call_uint(rpc, attacker, "successes()", [], []) == 0
    assert await rpc.balance(attacker) == ETH
    assert await rpc.balance(jar) == 0


async def test_token_cannot_reenter(rpc: Rpc, jar: str) -> None:
    token = await deploy(rpc, "ReentrantToken", jar)
    await send_ok(rpc, sender=TIPPER, to=token, data=mint(TIPPER, 10 * ETH))
    await send_ok(rpc, sender=TIPPER, to=token, data=approve_data(spender=jar, amount=2**256 - 1))
    data = tip_token_data(token=token, recipient=RECIPIENT, amount=2 * ETH, intent_id=intent())
    receipt = await send_ok(rpc, sender=TIPPER, to=jar, data=data)
    [event] = tipped(receipt)
    assert event.amount == 2 * ETH
    assert await call_uint(rpc, token, "attempts()", [], []) == 1
    assert await call_uint(rpc, token, "successes()", [], []) == 0


async def test_zero_amounts_and_zero_addresses_are_refused(rpc: Rpc, jar: str) -> None:
    token = await funded_token(rpc, jar, "DemoToken", "Demo", "DEMO")
    cases = [
        (tip_native_data(recipient=RECIPIENT, intent_id=intent()), 0, "ZeroAmount()"),
        (tip_native_data(recipient=ZERO_ADDRESS, intent_id=intent()), ETH, "ZeroAddress()"),
        (tip_token_data(token=token, recipient=RECIPIENT, amount=0, intent_id=intent()), 0, "ZeroAmount()"),
        (tip_token_data(token=token, recipient=ZERO_ADDRESS, amount=ETH, intent_id=intent()), 0, "ZeroAddress()"),
        (tip_token_data(token=ZERO_ADDRESS, recipient=RECIPIENT, amount=ETH, intent_id=intent()), 0, "ZeroAddress()"),
    ]
    for data, value, error in cases:
        await expect_revert(rpc, sender=TIPPER, to=jar, data=data, value=value, error=error)
    assert await token_balance(rpc, token, RECIPIENT) == 0


async def test_plain_transfers_to_the_contract_are_refused(rpc: Rpc, jar: str) -> None:
    await expect_revert(rpc, sender=TIPPER, to=jar, data="0x", value=ETH, error=None)
    await expect_revert(rpc, sender=TIPPER, to=jar, data="0xdeadbeef", value=ETH, error=None)
    assert await rpc.balance(jar) == 0

"""Tip latency benchmark: report to pending, and confirming block to confirmed, as members see them.

    uv run python bench/tips/run.py [--tips 30] [--database-url postgresql://postgres@127.0.0.1:5432/postgres]
                                    [--out bench/results]

A real anvil node (TipJar deployed), and one Tipline server in this process (uvicorn, the real
app with its chain watcher: 2 confirmations, the default 0.5 s poll) on a database of its own.
A tipper and a recipient in one group, each with a WebSocket open. For each tip: the intent,
the tipper's wallet transaction (anvil mines it at once: its first confirmation), then

- `pending_ms`: from the moment the tx hash is reported (POST) until *both* members' sockets
  have `tip.pending` (target ≤ 500 ms);
- `confirmed_ms`: from the moment the confirming block is mined (evm_mine) until both sockets
  have `tip.confirmed` (target ≤ 2,000 ms; mostly the watcher's poll interval).

Prints one JSON object last on stdout; writes bench/results/tips.json and tips.png. Every
process it starts (anvil) is stopped by PID; the database is dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import uvicorn
from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import (
    BENCH,
    BenchDatabase,
    free_port,
    install_sigterm_handler,
    log,
    percentile,
    rounded,
    run_facts,
    write_result,
)
from tipline.app import build_runtime, create_app
from tipline.chain.anvil import DEV_ACCOUNTS, start_anvil
from tipline.chain.deploy import deploy
from tipline.chain.rpc import Rpc
from tipline.config import Settings
from tipline.storage.migrate import upgrade_async

TARGETS = {"pending_p95_ms": 500.0, "confirmed_p95_ms": 2000.0}
PASSWORD = "a long enough passphrase 42"


async def frames_until(ws: ClientConnection, event: str, intent_id: str) -> float:
    """Read until this intent's event arrives (inside a batch or alone); the arrival time."""
    while True:
        frame = orjson.loads(await ws.recv())
        for f in frame["frames"] if frame.get("type") == "batch" else [frame]:
            if f.get("event") == event and f.get("data", {}).get("intent_id") == intent_id:
                return time.perf_counter()


def is_ready(frame: dict[str, Any]) -> bool:
    first = frame["frames"][0] if frame.get("type") == "batch" and frame.get("frames") else frame
    return bool(first.get("type") == "ready")


async def sign_up(api: httpx.AsyncClient, handle: str) -> dict[str, Any]:
    r = await api.post(
        "/auth/signup",
        json={"email": f"{handle}@example.com", "password": PASSWORD, "handle": handle, "display_name": handle},
    )
    r.raise_for_status()
    body: dict[str, Any] = r.json()
    return body


async def run(args: argparse.Namespace) -> dict[str, Any]:
    chain = start_anvil()
    rpc = Rpc(chain.url)
    db = BenchDatabase(args.database_url)
    server: uvicorn.Server | None = None
    task: asyncio.Task[None] | None = None
    try:
        jar = await deploy(rpc, "TipJar")
        url = await db.create()
        await upgrade_async(url)
        log("migrated")
        port = free_port()
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=url,
            port=port,
            public_url=f"http://127.0.0.1:{port}",
            allowed_origins=f"http://127.0.0.1:{port}",
            rate_limits=False,
            email_verification=False,
            argon2_time_cost=1,
            argon2_memory_kib=8192,
            argon2_parallelism=1,
            chain_rpc_url=chain.url,
            chain_id=chain.chain_id,
            tip_contract_address=jar,
            chain_confirmations=2,
            log_level="warning",
            # The benchmark's sockets only listen; a slow setup on a busy machine must not idle them out.
            ws_idle_timeout_s=3600,
        )
        rt = build_runtime(settings, database_url=url, jwt_key=secrets.token_bytes(64))
        server = uvicorn.Server(uvicorn.Config(create_app(rt), host="127.0.0.1", port=port, log_level="warning"))
        server.install_signals = lambda: None  # type: ignore[method-assign]
        task = asyncio.create_task(server.serve())
        log(f"starting the server on port {port}")
        async with asyncio.timeout(60):
            while not server.started:
                if task.done():  # it could not start (a taken port, a failed startup): say why
                    task.result()
                    raise SystemExit("the server stopped before it started")
                await asyncio.sleep(0.05)
        log("server started")
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=30) as api:
            tag = secrets.token_hex(3)
            tipper, recipient = await sign_up(api, f"tipper{tag}"), await sign_up(api, f"recipient{tag}")
            auth = {u: {"Authorization": f"Bearer {u_['access_token']}"} for u, u_ in (("t", tipper), ("r", recipient))}
            conn = await asyncpg.connect(url)
            try:
                # Linking by Sign-In with Ethereum is tested elsewhere; the benchmark writes the rows.
                for who, address in ((tipper, DEV_ACCOUNTS[1]), (recipient, DEV_ACCOUNTS[2])):
                    await conn.execute(
                        "INSERT INTO wallets (user_id, address, chain_id) VALUES ($1, $2, $3)",
                        who["user"]["id"],
                        address.lower(),
                        chain.chain_id,
                    )
            finally:
                await conn.close()
            r = await api.post(
                "/conversations",
                headers=auth["t"],
                json={"kind": "group", "name": "tips", "member_ids": [recipient["user"]["id"]]},
            )
            cid = r.json()["id"]
            sockets = []
            for u in (tipper, recipient):
                ws = await connect(
                    base.replace("http", "ws") + "/ws",
                    subprotocols=["tipline.v1", f"tipline.auth.{u['access_token']}"],  # type: ignore[list-item]
                    max_size=None,
                )
                async with asyncio.timeout(30):
                    # `ready` comes first, alone or as the first element of a `batch` (with the
                    # user's own presence, when both are queued in one loop turn: docs/protocol.md).
                    while not is_ready(orjson.loads(await ws.recv())):
                        pass
                sockets.append(ws)
            log("both members connected")
            pending: list[float] = []
            confirmed: list[float] = []
            for i in range(args.tips):
                m = await api.post(
                    f"/conversations/{cid}/messages",
                    headers=auth["r"],
                    json={"client_msg_id": f"m{i}-{tag}", "body": f"worth a tip {i}"},
                )
                intent = (
                    await api.post(
                        "/tips/intents",
                        headers=auth["t"],
                        json={
                            "conversation_id": cid,
                            "message_id": m.json()["message_id"],
                            "token": "ETH",
                            "amount": "0.01",
                        },
                    )
                ).json()
                call = intent["call"]
                async with asyncio.timeout(30):
                    receipt = await rpc.transact(
                        sender=DEV_ACCOUNTS[1], to=call["to"], data=call["data"], value=int(call["value"])
                    )
                log(f"tip {i + 1}: paid on chain")
                iid = intent["intent_id"]
                waits = [asyncio.create_task(frames_until(ws, "tip.pending", iid)) for ws in sockets]
                start = time.perf_counter()
                (
                    await api.post(
                        f"/tips/intents/{iid}/tx", headers=auth["t"], json={"tx_hash": receipt["transactionHash"]}
                    )
                ).raise_for_status()
                arrived = await asyncio.wait_for(asyncio.gather(*waits), 10)
                pending.append(1000 * (max(arrived) - start))
                waits = [asyncio.create_task(frames_until(ws, "tip.confirmed", iid)) for ws in sockets]
                start = time.perf_counter()
                await rpc.call("evm_mine")
                arrived = await asyncio.wait_for(asyncio.gather(*waits), 30)
                confirmed.append(1000 * (max(arrived) - start))
                log(f"tip {i + 1}/{args.tips}: pending {pending[-1]:.1f} ms, confirmed {confirmed[-1]:.1f} ms")
            for ws in sockets:
                await ws.close()
        result: dict[str, Any] = {
            "benchmark": "tips",
            "tips": args.tips,
            "poll_interval_s": settings.chain_poll_interval_s,
            "confirmations": settings.chain_confirmations,
            "pending_p50_ms": rounded(percentile(pending, 50)),
            "pending_p95_ms": rounded(percentile(pending, 95)),
            "pending_max_ms": rounded(max(pending)),
            "confirmed_p50_ms": rounded(percentile(confirmed, 50)),
            "confirmed_p95_ms": rounded(percentile(confirmed, 95)),
            "confirmed_max_ms": rounded(max(confirmed)),
            "targets": TARGETS,
            "samples": {"pending_ms": [rounded(x) for x in pending], "confirmed_ms": [rounded(x) for x in confirmed]},
            "run": run_facts(),
        }
        result["meets"] = {
            "pending_p95_ms <= 500": result["pending_p95_ms"] <= TARGETS["pending_p95_ms"],
            "confirmed_p95_ms <= 2000": result["confirmed_p95_ms"] <= TARGETS["confirmed_p95_ms"],
        }
        return result
    finally:
        if server is not None and task is not None:
            server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 10)
        await rpc.close()
        chain.stop()
        await db.drop()


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, target, title in (
        (axes[0], "pending_ms", 500, "Report → tip.pending at both members"),
        (axes[1], "confirmed_ms", 2000, "Confirming block → tip.confirmed at both"),
    ):
        values = result["samples"][key]
        ax.plot(range(1, len(values) + 1), values, marker="o", lw=1)
        ax.axhline(target, color="red", ls="--", lw=1, label=f"target {target} ms")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("tip")
        ax.set_ylabel("ms")
        ax.set_ylim(bottom=0)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tips", type=int, default=30)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args()
    install_sigterm_handler()
    result = asyncio.run(run(args))
    write_result(result, args.out, "tips")
    chart(result, args.out / "tips.png")
    print(orjson.dumps({k: v for k, v in result.items() if k != "samples"}).decode())


if __name__ == "__main__":
    main()

"""The audit log writer: one row per call, inside the caller's transaction."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from tipline.domain.admin.audit import record_audit
from tipline.domain.admin.models import audit_log
from tipline.storage.db import async_url


async def test_record_audit_commits_and_rolls_back_with_the_caller(database_url: str) -> None:
    engine = create_async_engine(async_url(database_url))
    try:
        async with engine.begin() as conn:
            await record_audit(
                conn,
                actor_id=None,
                action="user.deactivate",
                target_type="user",
                target_id="42",
                ip="203.0.113.9",
                details={"reason": "spam"},
            )
        try:
            async with engine.begin() as conn:
                await record_audit(
                    conn, actor_id=None, action="rolled.back", target_type="user", target_id=None, ip=None
                )
                raise RuntimeError("abort")
        except RuntimeError:
            pass
        async with engine.connect() as conn:
            rows = (await conn.execute(select(audit_log))).mappings().all()
        assert len(rows) == 1
        row = rows[0]
        assert (row["action"], row["target_type"], row["target_id"], row["ip"]) == (
            "user.deactivate",
            "user",
            "42",
            "203.0.113.9",
        )
        assert row["details"] == {"reason": "spam"}
        assert row["at"] is not None
    finally:
        await engine.dispose()

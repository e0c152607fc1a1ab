from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.domain.notifications.pushservice import PushService


@pytest.fixture
async def push_service() -> AsyncIterator[PushService]:
    service = PushService()
    await service.start()
    yield service
    await service.stop()

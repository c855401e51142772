"""The pushes (spec section 4): each event as it is recorded, for dashboards and relays."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from .errors import refuse
from .permissions import CanAudit
from .types import Event, Info


@strawberry.type
class Subscription:
    @strawberry.subscription(
        permission_classes=[CanAudit],
        description="Each event as it is recorded (after its commit), optionally only of some "
        "types; from `afterPosition` when given (to resume after a reconnect), else from now.",
    )
    async def event_recorded(
        self,
        info: Info,
        types: list[str] | None = None,
        after_position: int | None = None,
    ) -> AsyncGenerator[Event, None]:
        if after_position is not None and after_position < 0:
            raise refuse("after_position", "must be 0 or more")
        wanted = set(types) if types else None
        tail = info.context.tail
        assert tail is not None, "the app starts the tail before it serves"
        async for event in tail.follow(after_position):
            if wanted is None or event.type in wanted:
                yield Event.of(event)

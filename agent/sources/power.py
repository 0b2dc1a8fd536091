"""The battery as events (`power`): its level, the charger coming and going, low levels.

Read with psutil, which asks the operating system (on Linux, /sys/class/power_supply).
A machine without a battery (a desktop, a container) reports none: the source says so once
and keeps looking, since a laptop's battery can be missing from sysfs for a moment.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psutil

from agent.sources.backend import BackendUnavailable, PollingSource
from core.events import Event, EventKind
from core.sources import SourceItem

logger = logging.getLogger("festina.sources.power")


@dataclass(frozen=True)
class Battery:
    """One reading: percent charged, on the charger or not, seconds left when known."""

    percent: int
    plugged: bool
    seconds_left: int | None

    @classmethod
    def from_psutil(cls, reading: Any) -> Battery:
        seconds = reading.secsleft
        known = isinstance(seconds, int) and seconds >= 0  # psutil's sentinels are negative
        return cls(round(reading.percent), bool(reading.power_plugged), seconds if known else None)

    def describe(self) -> str:
        state = "charging" if self.plugged else "discharging"
        left = ""
        if self.seconds_left is not None and not self.plugged:
            hours, minutes = divmod(self.seconds_left // 60, 60)
            left = (
                f", about {hours} h {minutes} min left" if hours else f", about {minutes} min left"
            )
        return f"Battery at {self.percent}%, {state}{left}"


def read_battery() -> Battery | None:
    """This machine's battery now, or None where it has none."""
    try:
        reading = psutil.sensors_battery()
    except (OSError, RuntimeError) as error:  # sysfs unreadable, or a platform psutil lacks
        raise BackendUnavailable(f"cannot read the battery: {error}") from error
    return None if reading is None else Battery.from_psutil(reading)


class PowerSource(PollingSource):
    """Emits the battery's state at start, then on each change worth knowing: the charger
    plugged in or out, and each low level in `low_levels` crossed while discharging."""

    def __init__(
        self,
        *,
        poll_s: float = 60.0,
        low_levels: Sequence[int] = (20, 10, 5),
        read: Callable[[], Battery | None] = read_battery,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__("power", logger, poll_s)
        self._low_levels = sorted(set(low_levels), reverse=True)
        self._read = read
        self._clock = clock
        self._last: Battery | None = None
        self._said_none = False

    async def poll(self) -> list[SourceItem]:
        battery = await asyncio.to_thread(self._read)
        if battery is None:
            if not self._said_none:
                logger.info("power: this machine reports no battery; watching for one")
                self._said_none = True
            return []
        self._said_none = False
        change = self._change(self._last, battery)
        self._last = battery
        return [] if change is None else [self._event(battery, change)]

    def _change(self, before: Battery | None, now: Battery) -> str | None:
        if before is None:
            return "start"
        if now.plugged != before.plugged:
            return "plugged" if now.plugged else "unplugged"
        crossed = [level for level in self._low_levels if now.percent <= level < before.percent]
        return "low" if crossed and not now.plugged else None

    def _event(self, battery: Battery, change: str) -> Event:
        title = {
            "start": "Battery",
            "plugged": "Charger connected",
            "unplugged": "On battery",
            "low": "Battery low",
        }[change]
        return Event(
            time=self._clock(),
            source=self.name,
            kind=EventKind.DEVICE,
            title=title,
            text=battery.describe(),
            attributes={
                "battery_percent": battery.percent,
                "plugged": battery.plugged,
                "seconds_left": battery.seconds_left,
                "change": change,
            },
        )

"""Device and phone-like tools: calls, texts, settings, media, maps, time, battery, system.

Telephony, settings and media have no local implementation on a desktop: those calls
are recorded as dry runs for the user or a phone bridge to carry out.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path
from typing import ClassVar, Literal
from urllib.parse import quote_plus
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field

from tools.base import (
    NoArgs,
    Tool,
    ToolArgs,
    ToolContext,
    ToolError,
    ToolResult,
    recorded,
    run_first,
    run_program,
)


class CallArgs(ToolArgs):
    contact: str = Field(min_length=1, max_length=200)


class MakePhoneCall(Tool):
    name = "make_phone_call"
    description = "Call a contact or number."
    Args: ClassVar = CallArgs
    side_effect = True
    domain = "phone"

    def run(self, args: CallArgs, context: ToolContext) -> ToolResult:
        return recorded(f"call {args.contact}", args)


class SmsArgs(ToolArgs):
    contact: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1, max_length=1600)


class SendSms(Tool):
    name = "send_sms"
    description = "Send a text message."
    Args: ClassVar = SmsArgs
    side_effect = True
    domain = "phone"

    def run(self, args: SmsArgs, context: ToolContext) -> ToolResult:
        return recorded(f"text {args.contact}", args)


class SettingArgs(ToolArgs):
    setting: Literal[
        "wifi",
        "bluetooth",
        "airplane_mode",
        "do_not_disturb",
        "dark_mode",
        "location",
        "battery_saver",
    ]
    enabled: bool


class ToggleSetting(Tool):
    name = "toggle_setting"
    description = "Turn a device setting on or off."
    Args: ClassVar = SettingArgs
    side_effect = True
    domain = "phone"

    def run(self, args: SettingArgs, context: ToolContext) -> ToolResult:
        return recorded(f"turn {args.setting} {'on' if args.enabled else 'off'}", args)


class BrightnessArgs(ToolArgs):
    percent: int = Field(ge=0, le=100)


class SetBrightness(Tool):
    name = "set_brightness"
    description = "Set the screen brightness."
    Args: ClassVar = BrightnessArgs
    side_effect = True
    domain = "phone"

    def run(self, args: BrightnessArgs, context: ToolContext) -> ToolResult:
        return recorded(f"set brightness to {args.percent}%", args)


class VolumeArgs(ToolArgs):
    percent: int = Field(ge=0, le=150)


class SetVolume(Tool):
    name = "set_volume"
    description = "Set the output volume (PulseAudio/PipeWire via pactl)."
    Args: ClassVar = VolumeArgs
    side_effect = True
    domain = "phone"

    def run(self, args: VolumeArgs, context: ToolContext) -> ToolResult:
        argv = ["pactl", "set-sink-volume", "@DEFAULT_SINK@", f"{args.percent}%"]
        if context.dry_run or not run_program(argv):
            return recorded(f"set volume to {args.percent}%", args)
        return ToolResult(message=f"volume {args.percent}%")


class MusicArgs(ToolArgs):
    query: str = Field(min_length=1, max_length=300, description="song, artist or playlist")


class PlayMusic(Tool):
    name = "play_music"
    description = "Play a song, artist or playlist."
    Args: ClassVar = MusicArgs
    side_effect = True
    domain = "phone"

    def run(self, args: MusicArgs, context: ToolContext) -> ToolResult:
        return recorded(f"play {args.query!r}", args)


class RouteArgs(ToolArgs):
    destination: str = Field(min_length=1, max_length=300)
    origin: str = Field("", max_length=300)
    mode: Literal["driving", "walking", "bicycling", "transit"] = "driving"


class DirectionsUrl(Tool):
    name = "directions_url"
    description = "A maps link with directions to a destination (open it with open_url)."
    Args: ClassVar = RouteArgs
    domain = "phone"

    def run(self, args: RouteArgs, context: ToolContext) -> ToolResult:
        url = (
            f"https://www.google.com/maps/dir/?api=1&destination={quote_plus(args.destination)}"
            f"&travelmode={args.mode}"
        )
        if args.origin:
            url += f"&origin={quote_plus(args.origin)}"
        return ToolResult(output=url)


class PlaceArgs(ToolArgs):
    query: str = Field(min_length=1, max_length=300, description="e.g. 'coffee near the station'")


class FindNearby(Tool):
    name = "find_nearby"
    description = "A maps search link for places (open it with open_url)."
    Args: ClassVar = PlaceArgs
    domain = "phone"

    def run(self, args: PlaceArgs, context: ToolContext) -> ToolResult:
        return ToolResult(
            output=f"https://www.google.com/maps/search/?api=1&query={quote_plus(args.query)}"
        )


class WeatherArgs(ToolArgs):
    location: str = Field(min_length=1, max_length=200)


class GetWeather(Tool):
    name = "get_weather"
    description = "Current weather and forecast for a place (needs a weather service)."
    Args: ClassVar = WeatherArgs
    domain = "phone"

    def run(self, args: WeatherArgs, context: ToolContext) -> ToolResult:
        return recorded(f"look up the weather in {args.location}", args)


class ClockArgs(ToolArgs):
    timezone: str = Field("UTC", max_length=64, description="IANA name, e.g. 'Europe/Paris'")


class WorldClock(Tool):
    name = "world_clock"
    description = "The current date and time in a time zone."
    Args: ClassVar = ClockArgs
    domain = "phone"

    def run(self, args: ClockArgs, context: ToolContext) -> ToolResult:
        try:
            zone = ZoneInfo(args.timezone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ToolError(f"unknown time zone {args.timezone!r}") from error
        return ToolResult(output=datetime.now(zone).isoformat(timespec="seconds"))


class BatteryStatus(Tool):
    name = "battery_status"
    description = "Battery charge and whether it is charging."
    Args: ClassVar = NoArgs
    domain = "phone"

    def run(self, args: NoArgs, context: ToolContext) -> ToolResult:
        for battery in sorted(Path("/sys/class/power_supply").glob("BAT*")):
            capacity = (battery / "capacity").read_text().strip()
            status = (battery / "status").read_text().strip()
            return ToolResult(output={"percent": int(capacity), "status": status.lower()})
        raise ToolError("this device reports no battery")


class SystemInfo(Tool):
    name = "system_info"
    description = "Free disk space in the home folder, memory and load."
    Args: ClassVar = NoArgs
    domain = "phone"

    def run(self, args: NoArgs, context: ToolContext) -> ToolResult:
        disk = shutil.disk_usage(Path.home())
        info: dict[str, float] = {
            "disk_free_gb": round(disk.free / 1e9, 2),
            "disk_used_percent": round(100 * disk.used / disk.total, 1),
            "cpus": os.cpu_count() or 0,
            "load_1min": round(os.getloadavg()[0], 2),
        }
        meminfo = Path("/proc/meminfo")
        if meminfo.exists():
            fields = dict(line.split(":", 1) for line in meminfo.read_text().splitlines())
            info["memory_available_gb"] = round(int(fields["MemAvailable"].split()[0]) / 1e6, 2)
        return ToolResult(output=info)


class ScreenshotArgs(ToolArgs):
    name: str = Field("screenshot", pattern=r"^[\w-]{1,60}$")


class TakeScreenshot(Tool):
    name = "take_screenshot"
    description = "Capture the screen into the workspace's screenshots/ folder."
    Args: ClassVar = ScreenshotArgs
    side_effect = True
    domain = "phone"

    def run(self, args: ScreenshotArgs, context: ToolContext) -> ToolResult:
        path = context.path("screenshots", f"{args.name}-{datetime.now():%Y%m%d-%H%M%S}.png")
        if not context.dry_run:
            path.parent.mkdir(parents=True, exist_ok=True)
            grabbers = (["grim", str(path)], ["import", "-window", "root", str(path)])
            if run_first(grabbers) and path.exists():
                return ToolResult(output=str(path), message=f"saved {path.name}")
        return recorded("take a screenshot", args)


DEVICE_TOOLS: tuple[type[Tool], ...] = (
    MakePhoneCall,
    SendSms,
    ToggleSetting,
    SetBrightness,
    SetVolume,
    PlayMusic,
    DirectionsUrl,
    FindNearby,
    GetWeather,
    WorldClock,
    BatteryStatus,
    SystemInfo,
    TakeScreenshot,
)

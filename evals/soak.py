"""Soak: the real daemon under a steady load for minutes, sampled every few seconds.

The daemon runs as in `evals.load_test` (its own process, the HTTP source, SQLite, the
stand-in LLM keeping the slow path busy). One sender offers `rate` new events per second
(every text new: the encoder's caches fill and must stay bounded) for `minutes`; every
`every_s` seconds a sample records the daemon's resident memory, open descriptors, what
waits in its queues (`/v1/status`) and the database's size on disk. What a user would
see after a day shows as a trend here: memory or descriptors that keep growing, or
queues that never empty.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import psutil

from evals.load_test import (
    TOKEN,
    DaemonSetup,
    DaemonUnderLoad,
    free_port,
    make_stream,
    start_stand_in_llm,
    wait_until_up,
)

BATCH = 50


@dataclass(frozen=True)
class SoakSample:
    seconds: float
    sent: int
    decided: int
    rss_mb: float
    open_files: int
    waiting_to_store: int
    waiting_to_decide: int
    waiting_to_deliberate: int
    database_mb: float


@dataclass(frozen=True)
class SoakReport:
    gate: str
    rate: float
    minutes: float
    samples: list[SoakSample]

    @property
    def rss_growth(self) -> float | None:
        """RSS at the end over RSS after the first minute, minus one (0.1: 10 % more)."""
        settled = [s for s in self.samples if s.seconds >= 60.0]
        if len(settled) < 2:
            return None
        return settled[-1].rss_mb / settled[0].rss_mb - 1.0

    def table(self) -> str:
        lines = [
            f"soak: gate {self.gate}, {self.rate:g} new events/s offered for {self.minutes:g} min",
            f"{'s':>6} {'sent':>8} {'decided':>8} {'rss MB':>7} {'fds':>5} {'to store':>8} "
            f"{'to decide':>9} {'to delib.':>9} {'db MB':>7}",
        ]
        for s in self.samples:
            lines.append(
                f"{s.seconds:>6.0f} {s.sent:>8} {s.decided:>8} {s.rss_mb:>7.1f} "
                f"{s.open_files:>5} {s.waiting_to_store:>8} {s.waiting_to_decide:>9} "
                f"{s.waiting_to_deliberate:>9} {s.database_mb:>7.1f}"
            )
        growth = self.rss_growth
        lines.append(
            "RSS growth after the first minute: "
            + ("- (run shorter than two minutes)" if growth is None else f"{growth:+.1%}")
        )
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {**asdict(self), "rss_growth": self.rss_growth}


def _database_mb(home: Path) -> float:
    data = home / "data"
    return sum(path.stat().st_size for path in data.glob("festina.db*")) / 1e6


async def _soak(
    daemon: DaemonUnderLoad, rate: float, seconds: float, every_s: float
) -> list[SoakSample]:
    process = psutil.Process(daemon.process.pid)
    samples: list[SoakSample] = []
    sent = 0
    async with httpx.AsyncClient(
        base_url=daemon.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
    ) as client:

        async def send() -> None:
            nonlocal sent
            start = time.perf_counter()
            number = 0
            while (due := start + number * BATCH / rate) < start + seconds:
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                batch = make_stream(BATCH, unique_texts=True, first=number * BATCH)
                response = await client.post("/v1/events", json=batch)
                if response.status_code != 503:
                    response.raise_for_status()
                    sent += len(response.json()["accepted"])
                number += 1

        async def sample(began: float) -> None:
            status = (await client.get("/v1/status")).json()
            with process.oneshot():
                rss_mb, fds = process.memory_info().rss / 1e6, process.num_fds()
            samples.append(
                SoakSample(
                    seconds=round(time.perf_counter() - began, 1),
                    sent=sent,
                    decided=status["counts"]["decided"],
                    rss_mb=round(rss_mb, 1),
                    open_files=fds,
                    waiting_to_store=status["counts"]["waiting_to_store"] + status["queued"],
                    waiting_to_decide=status["counts"]["waiting_to_decide"],
                    waiting_to_deliberate=status["counts"]["waiting_to_deliberate"],
                    database_mb=round(_database_mb(daemon.home), 1),
                )
            )

        began = time.perf_counter()
        sender = asyncio.create_task(send())
        while not sender.done():
            await asyncio.wait([sender], timeout=every_s)
            await sample(began)
        await sender  # a sender's failure fails the soak
    return samples


def run_soak(
    workdir: Path,
    *,
    model: str,
    minutes: float,
    rate: float,
    every_s: float = 10.0,
    llm_latency_s: float = 0.5,
) -> SoakReport:
    """Offer `rate` new events/s to a fresh daemon on gate `model` for `minutes`."""
    llm, llm_url = start_stand_in_llm(llm_latency_s)
    setup = DaemonSetup(model, 0, llm_url)
    daemon = DaemonUnderLoad(workdir / "soak", setup, "http", free_port())
    try:
        asyncio.run(wait_until_up(daemon.url, daemon))
        samples = asyncio.run(_soak(daemon, rate, minutes * 60.0, every_s))
    finally:
        daemon.stop()
        llm.shutdown()
    gates = daemon.memory()["gates"]
    return SoakReport(gate=", ".join(gates), rate=rate, minutes=minutes, samples=samples)

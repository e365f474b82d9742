"""Everything one app instance holds at run time, and its start/stop sequence."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from .control import FaultController
from .db import Database
from .faults import OLD_VERSION, FaultState
from .flags import FlagStore
from .housekeeping import Housekeeping
from .instruments import InstrumentCache
from .jobs import PeriodicJob
from .leak import ConnectionLeaker
from .memleak import MemoryLeak
from .metrics import AppMetrics
from .orders import OrderService
from .settings import AppSettings
from .ticker import PriceTicker

log = logging.getLogger(__name__)

# (route template, method, success code) of every HTTP route, for metric initialisation.
ROUTE_TABLE: tuple[tuple[str, str, str], ...] = (
    ("/", "GET", "200"),
    ("/orders", "POST", "201"),
    ("/orders/{id}", "GET", "200"),
    ("/positions/{account}", "GET", "200"),
    ("/quotes", "GET", "200"),
    ("/version", "GET", "200"),
    ("/flags", "GET", "200"),
    ("/csp-report", "POST", "204"),
    ("/healthz", "GET", "200"),
    ("/metrics", "GET", "200"),
    ("/static/{name}", "GET", "200"),
)


class Runtime:
    """The live parts of one API instance, wired together."""

    def __init__(self, settings: AppSettings) -> None:
        self.settings = settings
        self.faults = FaultState()
        self.metrics = AppMetrics()
        self.db = Database(settings)
        self.instruments = InstrumentCache(self.db)
        self.ticker = PriceTicker()
        self.flags = FlagStore(settings.flags_snapshot_version, settings.flags_file)
        self.orders = OrderService(
            self.db, self.instruments, self.metrics, self.faults, self.flags, settings
        )
        self.housekeeping = Housekeeping(self.db, self.metrics, settings)
        self.leaker = ConnectionLeaker(self.db, settings.leak_interval_s)
        self.memory_leak = MemoryLeak()
        self.controller = FaultController(self)
        self.stopping = asyncio.Event()
        self._last_catalogue_try = 0.0
        s = settings
        self.jobs: dict[str, PeriodicJob] = {
            "ticker": PeriodicJob("ticker", s.tick_interval_s, self._tick, 5.0),
            "outbox-relay": PeriodicJob(
                "outbox-relay", s.relay_interval_s, self.housekeeping.publish_outbox
            ),
            "monitor": PeriodicJob("monitor", s.relay_interval_s, self.housekeeping.measure),
            "idempotency-purge": PeriodicJob("idempotency-purge", s.purge_interval_s, self._purge),
            "flags-refresh": PeriodicJob("flags-refresh", s.flags_refresh_s, self._refresh_flags),
        }

    @property
    def reported_version(self) -> str:
        """The version /version reports (the version-old fault lies)."""
        return OLD_VERSION if self.faults.on("version-old") else self.settings.version

    def refresh_build_info(self) -> None:
        """Keep spark_build_info in step with /version."""
        s = self.settings
        self.metrics.set_build(self.reported_version, s.git_sha, s.instance)

    async def start(self) -> None:
        """Open the pool, read the catalogue (bounded wait), start every job."""
        self.refresh_build_info()
        self.metrics.initialise(ROUTE_TABLE, ())
        self.flags.refresh()
        await self.db.open()
        deadline = time.monotonic() + self.settings.startup_db_wait_s
        while time.monotonic() < deadline:
            if await self._load_catalogue():
                break
            await asyncio.sleep(0.2)
        else:
            log.warning("instrument catalogue not loaded at start; will keep trying")
        for job in self.jobs.values():
            job.start()

    async def stop(self) -> None:
        """Stop jobs and leaks, close the pool; bounded."""
        self.stopping.set()
        await asyncio.gather(*(job.stop() for job in self.jobs.values()))
        await self.leaker.stop()
        await self.memory_leak.stop()
        with contextlib.suppress(Exception):
            await self.db.close()

    async def _load_catalogue(self) -> bool:
        self._last_catalogue_try = time.monotonic()
        try:
            instruments = await self.instruments.load()
        except Exception as exc:
            log.info("instrument catalogue not readable yet: %s", exc)
            return False
        self.ticker.set_instruments(instruments)
        self.metrics.add_symbols(i.symbol for i in instruments)
        return bool(instruments)

    async def _tick(self) -> None:
        if not self.instruments.loaded and time.monotonic() - self._last_catalogue_try > 1.0:
            await self._load_catalogue()
        if self.flags.enabled("kill_ws_feed"):
            return
        self.ticker.step()

    async def _purge(self) -> None:
        await self.housekeeping.purge_keys()

    async def _refresh_flags(self) -> None:
        self.flags.refresh()

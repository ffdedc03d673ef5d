"""`python -m app worker`: sends the due reminders every WORKER_POLL_SECONDS until SIGTERM or
SIGINT, which let it finish the reminder in hand (the rest of its batch is released at once),
charges the invoices of the patients on autopay (app.payments.autopay) and runs the measures'
cycle (app.measures.worker: questionnaires before appointments, safety alerts' mails) in the
same cycle.
Several workers may run side by side: they never claim the same reminder."""

import asyncio
import contextlib
import logging
import signal

from app.core.config import Settings
from app.db.database import Database, open_database
from app.mail.mailer import Mailer, mailer_for
from app.measures.worker import MeasureWorker
from app.payments.autopay import Autopay
from app.processor.client import Processor, processor_for
from app.reminders.service import ReminderSender

logger = logging.getLogger(__name__)


class Worker:
    def __init__(
        self,
        database: Database,
        mailer: Mailer,
        settings: Settings,
        *,
        batch: int,
        processor: Processor | None = None,
    ):
        self.sender = ReminderSender(database, mailer, settings, batch=batch)
        self.processor = processor or processor_for(settings)
        self.autopay = Autopay(database, mailer, settings, self.processor, batch=batch)
        self.measures = MeasureWorker(database, mailer, settings, batch=batch)
        self.batch = batch
        self.poll_seconds = settings.worker_poll_seconds
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self.sender.stopping = True
        self.measures.stopping = True
        self._stop.set()

    async def run(self) -> None:
        """Cycle until stopped: at once again after a full batch, else after the poll interval.
        A failed cycle (the database away) is logged and tried again after the interval."""
        while not self._stop.is_set():
            try:
                outcomes = await self.sender.cycle()
            except Exception as error:
                logger.warning("reminder cycle failed: %s", type(error).__name__)
                outcomes = None
            await self.charge_autopay()
            await self.run_measures()
            if outcomes is not None and outcomes["claimed"] >= self.batch:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self.poll_seconds)

    async def charge_autopay(self) -> None:
        """Autopay's cycle (app.payments.autopay); a failed one is logged and tried again."""
        try:
            outcomes = await self.autopay.cycle()
        except Exception as error:
            logger.warning("autopay cycle failed: %s", type(error).__name__)
            return
        if outcomes:
            logger.info("autopay cycle: %s", dict(sorted(outcomes.items())))

    async def run_measures(self) -> None:
        """The measures' cycle (app.measures.worker); a failed one is logged and tried again."""
        try:
            outcomes = await self.measures.cycle()
        except Exception as error:
            logger.warning("measures cycle failed: %s", type(error).__name__)
            return
        if outcomes:
            logger.info("measures cycle: %s", dict(sorted(outcomes.items())))


async def run_worker(settings: Settings, *, once: bool = False, batch: int = 50) -> None:
    async with open_database(settings) as database:
        worker = Worker(database, mailer_for(settings), settings, batch=batch)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, worker.stop)
        logger.info("reminder worker started (batch %s)", batch)
        try:
            if once:
                outcomes = await worker.sender.cycle()
                logger.info("reminder cycle: %s", dict(sorted(outcomes.items())))
                await worker.charge_autopay()
                await worker.run_measures()
            else:
                await worker.run()
        finally:
            await worker.processor.aclose()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
        logger.info("reminder worker stopped")

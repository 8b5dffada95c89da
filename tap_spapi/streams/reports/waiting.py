"""Waiting for a report to be final: getReport polls (`await_report`, requesting.py), or
the REPORT_PROCESSING_FINISHED notification that spares them.

A report the run's notifications already tell final is not polled at all (the
notification carries the document id polling would find). While the stream waits
between two polls, it reads the queue again (for REPORT_PROCESSING_FINISHED only), and
a report notified then is not polled again. With the queue off, every report is polled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tap_spapi.errors import TapSpapiError
from tap_spapi.keys import ACCOUNT_KEY
from tap_spapi.runtime.inbox import REPORT_FINISHED
from tap_spapi.streams.reports.requesting import await_report

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable

    from singer_sdk.helpers.types import Context

    from tap_spapi.runtime.inbox import Inbox
    from tap_spapi.streams.reports.requesting import ReportRequests
    from tap_spapi.wire.client import SPAPIClient


class ReportFailedError(TapSpapiError):
    """Amazon could not produce a report (FATAL), or it did not finish in time."""


def finished_payloads(inbox: Inbox | None, account: str) -> list[dict[str, Any]]:
    """The account's REPORT_PROCESSING_FINISHED payloads of this run (none when the
    queue is off: then nothing changes)."""
    if inbox is None:
        return []
    return [n.payload for n in inbox.of_type(account, REPORT_FINISHED)]


class ReportWaits:
    """One report stream's waits for its reports: DONE, CANCELLED or FATAL.

    `requests` is the stream's (what notifications told of its reports), `client` and
    `inbox` the stream's (the run's queue, None when it is off), `max_wait` the setting
    `report_wait_minutes` in seconds, `sleep` the wait between two polls.
    """

    def __init__(
        self,
        requests: ReportRequests,
        *,
        client: Callable[[Context], SPAPIClient],
        where: str,
        max_wait: float,
        inbox: Callable[[], Inbox | None],
        sleep: Callable[[float], None],
        logger: logging.Logger,
    ) -> None:
        self._requests = requests
        self._client = client
        self._where = where
        self.max_wait = max_wait
        self._inbox = inbox
        self._sleep = sleep
        self._logger = logger

    def final(self, report_id: str, context: Context) -> dict[str, Any]:
        """getReport until the report is DONE, CANCELLED or FATAL; none at all when a
        notification said so already (it carries the document id polling would find)."""
        notified = self._requests.finished(context[ACCOUNT_KEY], report_id)
        if notified is not None:
            self._logger.debug(
                "Report %s is %s (notified): not polled.",
                report_id,
                notified["processingStatus"],
            )
            return notified

        def too_long(report: dict[str, Any]) -> ReportFailedError:
            return ReportFailedError(
                f"stream '{self._where}' (getReport): report {report_id} is still "
                f"{report.get('processingStatus')} after {self.max_wait / 60:.0f} minutes "
                "(setting `report_wait_minutes`); the next run reuses it if Amazon finishes it"
            )

        return await_report(
            lambda: self._client(context).call(
                "getReport", where=self._where, path_values={"reportId": report_id}
            ),
            max_wait=self.max_wait,
            too_long=too_long,
            sleep=self._sleep,
            notified=lambda: self._notified_since(report_id, context[ACCOUNT_KEY]),
        )

    def _notified_since(self, report_id: str, account: str) -> dict[str, Any] | None:
        """The report as a REPORT_PROCESSING_FINISHED notification tells it, read from the
        queue now (one pass, between two polls); None when none came (or no queue)."""
        inbox = self._inbox()
        if inbox is None or not inbox.covers(account, REPORT_FINISHED):
            return None
        try:
            inbox.receive_more(frozenset({REPORT_FINISHED}))
        except TapSpapiError as exc:  # polling goes on: the queue only spares requests
            self._logger.info("Reading the notifications queue again failed: %s", exc)
            return None
        notified = self._requests.notified(account, again=True).get(report_id)
        if notified is not None:
            self._logger.debug(
                "Report %s is %s (notified while waiting): not polled again.",
                report_id,
                notified["processingStatus"],
            )
        return notified

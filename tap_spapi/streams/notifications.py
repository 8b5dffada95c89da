"""The `notifications` stream: every notification read from the SQS queue, once.

It syncs last of all streams (tap.py's order), after every record a notification gave
to another stream, and records the ids it emitted as processed in its state, one
partition per account (notifications.PROCESSED). The next run deletes from the queue
the messages its incoming state records so: what the target committed. Selecting this
stream is what turns the queue on (with `notifications_queue_url`); without it, the
queue is not read, since nothing would record what was processed.
"""

from __future__ import annotations

from functools import cached_property
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar

from typing_extensions import override

from tap_spapi.errors import TapSpapiError
from tap_spapi.keys import ACCOUNT_KEY, SELLER_KEY
from tap_spapi.runtime.inbox import PAYLOAD_VERSIONS, PROCESSED, Inbox, kept_processed
from tap_spapi.runtime.pools import for_each_in_parallel
from tap_spapi.streams.base.stream import SPAPIStream
from tap_spapi.wire.responses import SPAPIRequestError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk.helpers.types import Context

NOTIFICATIONS_STREAM = "notifications"
# The notification types whose subscriptions say whose a message is and what the
# notifications cover: every type the tap reads (and the setup command subscribes).
TYPES = tuple(PAYLOAD_VERSIONS)


class NotificationsStream(SPAPIStream):
    """Each notification of the run's accounts, keyed on its id (no request: the queue's)."""

    name = NOTIFICATIONS_STREAM
    operation_id = "getSubscription"
    primary_keys: ClassVar[list[str]] = [ACCOUNT_KEY, "notificationId"]
    derived_keys = ("notificationId",)
    partitioned_by_account = True
    after_a_kill = "an id is recorded as processed only with its record; the queue keeps the rest"

    def open_inbox(self) -> Inbox | None:
        """The run's inbox, or None when the queue is off (no setting, or this stream not
        selected: then nothing would record what was processed)."""
        settings = self.run.settings
        if not settings.notifications_queue_url:
            return None
        if not self.selected:
            if self.run.first_time("notifications not selected"):
                self.logger.warning(
                    "setting 'notifications_queue_url' is set but stream '%s' is not "
                    "selected: the queue is not read (select it to use notifications).",
                    self.name,
                )
            return None
        return Inbox(
            queue_url=settings.notifications_queue_url,
            region=settings.notifications_region,
            endpoint_url=settings.notifications_endpoint_url,
            accounts=list(self.run.accounts),
            types=TYPES,
            subscription_of=self._subscription_of,
            processed=self._processed_before,
            for_each=lambda action, items: for_each_in_parallel(
                action, items, workers=self.run.parallel_accounts, name="subscriptions"
            ),
        )

    @cached_property
    def _processed_before(self) -> dict[str, int]:
        """Every id the incoming state records as processed, all accounts."""
        stream_state = self.tap_state.get("bookmarks", {}).get(self.name, {})
        processed: dict[str, int] = {}
        for partition in stream_state.get("partitions") or ():
            found = partition.get(PROCESSED)
            if isinstance(found, dict):
                processed.update({k: v for k, v in found.items() if type(v) is int})
        return processed

    def _subscription_of(self, account: str, kind: str) -> str | None:
        """getSubscription's id for the account and type; None without one (404) or
        when Amazon refuses (the account's messages then wait in the queue, and its
        identifiers are polled as without notifications)."""
        try:
            answer = self.run.client(account).call(
                "getSubscription", where=self.name, path_values={"notificationType": kind}
            )
        except TapSpapiError as exc:  # a refusal, an account's login, retries spent
            if not isinstance(exc, SPAPIRequestError) or exc.status != HTTPStatus.NOT_FOUND:
                self.run.gather(
                    "getSubscription failed for {} account/type pairs: their notifications "
                    "stay in the queue and their data is polled",
                    f"{account}/{kind} ({exc})",
                )
            return None
        subscription = ((answer or {}).get("payload") or {}).get("subscriptionId")
        return str(subscription) if subscription else None

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The account's new notifications; their ids then recorded as processed."""
        inbox = self.run.inbox
        if inbox is None or context is None:
            return
        account = context[ACCOUNT_KEY]
        inbox.drain()
        if inbox.failure is not None:  # everything was polled; the run still fails
            self.run.failures.stream_stopped(
                self.name, account, inbox.failure, self.contained.ancestors
            )
            return
        seller = self.run.accounts[account].settings.selling_partner_id
        emitted = []
        for notification in inbox.news.get(account, {}).values():
            yield {
                **notification.record(),
                ACCOUNT_KEY: account,
                SELLER_KEY: seller,
            }
            emitted.append(notification.notification_id)
        state = self.get_context_state(context)
        now = self.run.started_second
        processed = {**(state.get(PROCESSED) or {}), **dict.fromkeys(emitted, now)}
        state[PROCESSED] = kept_processed(processed, now)
        self.state_manager.is_flushed = False

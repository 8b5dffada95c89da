"""Delivery of Amazon's notifications into SQS queues, as live Amazon delivers them.

Each notification goes to the queue its subscription's destination names (the ARN's
region and queue name, looked up at `StandInConfig.sqs_endpoint_url`: moto's server in
tests), its body the notification's JSON. Delivery is what users of the live API report
(live.py, #2616, #4509): at least once, a share of the notifications 2 to 10 times, the
notifications of one change in any order, and some copies held back until a newer
notification about the same record has gone out. Every choice comes from the seed and
the notification's id, so a run repeats.

Sending is synchronous: `publish` returns once SQS has every message, so a test that
touches the data reads the queue at once, without waiting.

boto3 is imported on the first send: a stand-in without an SQS endpoint never needs it.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from spapi_standin.live import notification_copies

if TYPE_CHECKING:
    from spapi_standin.config import StandInConfig

SQS_BATCH = 10  # SendMessageBatch's limit
# Made-up credentials for the local endpoint (moto accepts any).
LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@dataclass(frozen=True)
class Notice:
    """One notification for one subscription.

    `topic` names what it is about (type, seller, record): a later notice of the same
    topic releases the late copies of the earlier ones.
    """

    queue_arn: str
    topic: tuple[str, ...]
    notification_id: str
    body: str


def queue_of(arn: str) -> tuple[str, str]:
    """(region, queue name) of `arn:aws:sqs:<region>:<account>:<name>`."""
    parts = arn.split(":")
    return parts[3], parts[5]


class Publisher:
    """Sends notices to their queues, with live Amazon's duplicates and disorder."""

    def __init__(self, config: StandInConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str], Any] = {}
        self._queue_urls: dict[tuple[str, str, str], str] = {}
        self._late: dict[tuple[str, ...], list[Notice]] = {}
        self.sent = 0  # messages sent, duplicates included

    def publish(self, notices: list[Notice]) -> None:
        """Deliver `notices` (those of one change) now; a no-op without an endpoint."""
        endpoint = self.config.sqs_endpoint_url
        if endpoint is None or not notices:
            return
        messages = self._deliveries(notices)
        for start, batch in _runs(messages):
            self._send(endpoint, batch, start)

    def _deliveries(self, notices: list[Notice]) -> list[Notice]:
        """The messages to send, in order: each notice once or more, shuffled when live
        Amazon reorders, then the held-back copies of earlier notices these supersede."""
        live = self.config.live
        now: list[Notice] = []
        released: list[Notice] = []
        with self._lock:
            for notice in notices:
                rng = random.Random(f"{self.config.seed}:delivery:{notice.notification_id}")
                copies, late = notification_copies(rng, live)
                now.extend([notice] * copies)
                released.extend(self._late.pop(notice.topic, ()))
                if late:
                    self._late.setdefault(notice.topic, []).extend([notice] * late)
        if live.notification_reorder:
            ids = ",".join(notice.notification_id for notice in notices)
            random.Random(f"{self.config.seed}:order:{ids}").shuffle(now)
        return now + released

    def held_back(self) -> int:
        """Copies waiting for a newer notification about the same record."""
        with self._lock:
            return sum(len(copies) for copies in self._late.values())

    def _send(self, endpoint: str, batch: list[Notice], start: int) -> None:
        region, name = queue_of(batch[0].queue_arn)
        client = self._client(endpoint, region)
        url = self._queue_url(client, endpoint, region, name)
        entries = [
            {"Id": str(start + n), "MessageBody": notice.body} for n, notice in enumerate(batch)
        ]
        answer = client.send_message_batch(QueueUrl=url, Entries=entries)
        failed = answer.get("Failed") or []
        if failed:
            raise RuntimeError(f"SQS refused notifications for {name}: {failed}")
        with self._lock:
            self.sent += len(batch)

    def _client(self, endpoint: str, region: str) -> Any:
        with self._lock:
            client = self._clients.get((endpoint, region))
            if client is None:
                import boto3  # only a stand-in that publishes needs it

                client = boto3.client(
                    "sqs", endpoint_url=endpoint, region_name=region, **LOCAL_CREDENTIALS
                )
                self._clients[endpoint, region] = client
            return client

    def _queue_url(self, client: Any, endpoint: str, region: str, name: str) -> str:
        with self._lock:
            url = self._queue_urls.get((endpoint, region, name))
        if url is None:
            url = str(client.get_queue_url(QueueName=name)["QueueUrl"])
            with self._lock:
                self._queue_urls[endpoint, region, name] = url
        return url


def _runs(messages: list[Notice]) -> list[tuple[int, list[Notice]]]:
    """`messages` cut into batches of one queue each, at most SQS_BATCH long, in order."""
    runs: list[tuple[int, list[Notice]]] = []
    for index, message in enumerate(messages):
        last = runs[-1][1] if runs else None
        if last is None or len(last) == SQS_BATCH or last[0].queue_arn != message.queue_arn:
            runs.append((index, [message]))
        else:
            last.append(message)
    return runs

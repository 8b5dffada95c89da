"""A chain of pages asked in a thread of its own while the records are handed on.

singer-sdk's page loop (`RESTStream.request_records`) asks for page n + 1 only once every
record of page n went through the consumer. Where the consumer does real work per record
(a read-ahead stream announces each record's children to the pool), that work adds to
every round trip of a chain whose pages cannot overlap: a page's token comes with the
answer to the page before. Here one thread walks the chain (ask, parse, next token, ask)
and hands each page's records over through a queue of at most `PAGES_AHEAD` pages, so
the chain waits for nothing but Amazon and the memory held stays two pages.

The loop is singer-sdk 0.54's, step for step: the same paginator, request decorator
(retries), request counter, sync costs, and the same stop on an empty page. It uses the
SDK's private `_prepare_request`; tests/test_sdk_contract.py checks that it is there.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from singer_sdk.pagination import SinglePagePaginator

if TYPE_CHECKING:
    from collections.abc import Generator

    from singer_sdk import RESTStream
    from singer_sdk.helpers.types import Context

PAGES_AHEAD = 2
_END = object()


def records_with_pages_ahead(
    stream: RESTStream[Any], context: Context | None
) -> Generator[dict[str, Any], None, None]:
    """`stream`'s records of `context`, its pages asked by a thread of their own."""
    return start_page_walk(stream, context).records()


def start_page_walk(
    stream: RESTStream[Any], context: Context | None, pages_ahead: int = PAGES_AHEAD
) -> PageWalk:
    """Walk `stream`'s pages of `context` from now on, at most `pages_ahead` pages ahead
    of the consumer (0: no limit, for a chain whose usage plan is so slow that its pages
    are asked from the start of the run, long before the consumer gets there)."""
    pages: queue.Queue[Any] = queue.Queue(pages_ahead)
    stopped = threading.Event()
    # A daemon: a consumer that is never closed (held by a traceback) must not keep the
    # process alive with the walker blocked on a full queue.
    walker = threading.Thread(
        target=_walk,
        args=(stream, context, pages, stopped),
        name=f"{stream.name}-pages",
        daemon=True,
    )
    walker.start()
    return PageWalk(pages, stopped, walker)


@dataclass
class PageWalk:
    """A chain of pages being walked by its thread, for one consumer."""

    pages: queue.Queue[Any]
    stopped: threading.Event
    walker: threading.Thread

    def records(self) -> Generator[dict[str, Any], None, None]:
        """The records, page after page, as the walker hands them on."""
        try:
            while (page := self.pages.get()) is not _END:
                if isinstance(page, BaseException):
                    raise page
                yield from page
        finally:
            self.stopped.set()  # the consumer stopped (or failed): ask no further page
            while self.walker.is_alive():
                _drain(self.pages)
                self.walker.join(0.05)

    def stop(self) -> None:
        """No further page (a walk never consumed): the walker ends after the request in
        flight, without the caller waiting for it."""
        self.stopped.set()
        _drain(self.pages)


def _walk(
    stream: RESTStream[Any],
    context: Context | None,
    pages: queue.Queue[Any],
    stopped: threading.Event,
) -> None:
    """singer-sdk's page loop, handing each page's records to `pages`."""
    try:
        paginator = stream.get_new_paginator() or SinglePagePaginator()
        send = stream.request_decorator(stream._request)
        done = 0
        with stream.get_http_request_counter() as request_counter:
            request_counter.with_context(context)
            while not paginator.finished and not stopped.is_set():
                prepared = stream._prepare_request(context=context, page=paginator)
                response = send(prepared, context)
                request_counter.increment()
                stream.update_sync_costs(prepared, response, context)
                records = list(stream.parse_response(response))
                if not records and not paginator.continue_if_empty(response):
                    stream.log(
                        "Pagination stopped after %d pages because no records were found "
                        "in the last response",
                        done,
                    )
                    break
                pages.put(records)  # before the next token is read, as the SDK's loop
                paginator.advance(response)
                done += 1 if records else 0
        pages.put(_END)
    except BaseException as exc:  # raised in the consumer, where the SDK would have
        pages.put(exc)


def _drain(pages: queue.Queue[Any]) -> None:
    while True:
        try:
            pages.get_nowait()
        except queue.Empty:
            return

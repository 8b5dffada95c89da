"""`python -m spapi_standin` (from the repository root): serve until SIGINT or SIGTERM.

Prints exactly one line, `spapi-standin listening on http://127.0.0.1:PORT`, once the
port is bound, so scripts can wait for it.
"""

from __future__ import annotations

import argparse
import csv
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from spapi_standin.config import SIZES, StandInConfig
from spapi_standin.live import LiveBehaviours
from spapi_standin.server import StandIn

if TYPE_CHECKING:
    from types import FrameType


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="spapi-standin", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--drop-rate", type=float, default=0.0)
    parser.add_argument(
        "--rate-scale", type=float, default=1.0, help="multiply every usage-plan rate"
    )
    parser.add_argument("--no-rate-limits", action="store_true")
    parser.add_argument("--token-lifetime", type=int, default=3600, help="seconds")
    parser.add_argument(
        "--models-letter",
        action="store_true",
        help="answer as the models say, not as live Amazon does (turns off spapi_standin/live.py)",
    )
    parser.add_argument(
        "--tracking-ids-file",
        type=Path,
        help="write the Amazon Shipping labels served as a tap `tracking_ids_file` (CSV)",
    )
    return parser.parse_args(argv)


def config_from(options: argparse.Namespace) -> StandInConfig:
    """The StandInConfig the options describe."""
    return StandInConfig(
        live=LiveBehaviours.models_letter() if options.models_letter else LiveBehaviours(),
        host=options.host,
        port=options.port,
        seed=options.seed,
        size=options.size,
        latency_ms=options.latency_ms,
        error_rate=options.error_rate,
        drop_rate=options.drop_rate,
        rate_scale=options.rate_scale,
        rate_limits=not options.no_rate_limits,
        token_lifetime=options.token_lifetime,
    )


def write_tracking_ids(server: StandIn, path: Path) -> None:
    """The labels of the data set, as the tap's `tracking_ids_file` wants them.

    Amazon Shipping cannot list labels, so the tap needs their ids from the user;
    the demo gets them from here.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["tracking_id", "carrier_id"])
        writer.writeheader()
        writer.writerows(server.dataset.tracking_labels())


def main(argv: list[str] | None = None) -> None:
    """Start, announce, wait for a signal, stop."""
    options = parse_args(argv)
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        standin = StandIn(config_from(options))
        standin.start()
    except OSError as exc:  # the port is taken, most often
        sys.stdout.write(f"spapi-standin could not listen on port {options.port}: {exc.strerror}\n")
        sys.stdout.flush()
        raise SystemExit(1) from None
    with standin as server:
        if options.tracking_ids_file:
            write_tracking_ids(server, options.tracking_ids_file)
        sys.stdout.write(f"spapi-standin listening on {server.base_url}\n")
        sys.stdout.flush()
        while not stopping.wait(0.5):
            pass


if __name__ == "__main__":
    main()

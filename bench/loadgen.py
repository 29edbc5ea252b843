"""Load generator, run in its own process: `python -m bench.loadgen --url ... --ca ...`.

aiohttp client with keep-alive: `--concurrency` workers share one connection pool sized to match
(so each worker keeps one TLS connection, as the API server does with its webhook clients) and
post reviews from `bench.reviews.corpus` back to back. It reports on stdout one JSON object:
latencies (ms) of successful requests, counts of failures by kind, and (with --responses FILE)
every response's uid, allowed flag and decision id, for the fault tests to compare with the log.

A separate process keeps the generator's CPU out of the server's event loop; on a 2-core
machine the two still compete for cores, which the report says next to the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from bench.reviews import corpus


async def _worker(
    session: aiohttp.ClientSession,
    url: str,
    bodies: list[bytes],
    start: int,
    step: int,
    stop_at: float,
    limit: int,
    latencies: list[float],
    failures: Counter[str],
    responses: list[dict[str, Any]] | None,
    counter: list[int],
    timeout: aiohttp.ClientTimeout,
) -> None:
    i = start
    while time.monotonic() < stop_at and counter[0] < limit:
        counter[0] += 1
        body = bodies[i % len(bodies)]
        i += step
        began = time.perf_counter()
        try:
            async with session.post(
                url, data=body, headers={"Content-Type": "application/json"}, timeout=timeout
            ) as response:
                payload = await response.read()
                status = response.status
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            failures[f"transport:{type(exc).__name__}"] += 1
            continue
        elapsed = (time.perf_counter() - began) * 1000
        if status != 200:
            failures[f"http:{status}"] += 1
            continue
        try:
            answer = json.loads(payload)["response"]
        except (ValueError, KeyError, TypeError):
            failures["unparseable-response"] += 1
            continue
        latencies.append(elapsed)
        if responses is not None:
            audit = answer.get("auditAnnotations") or {}
            responses.append(
                {
                    "uid": answer.get("uid"),
                    "allowed": answer.get("allowed"),
                    "decision_id": audit.get("decision-id"),
                    "code": (answer.get("status") or {}).get("code"),
                    "message": (answer.get("status") or {}).get("message", ""),
                    "t": time.time(),
                }
            )


async def run(args: argparse.Namespace) -> dict[str, Any]:
    context = ssl.create_default_context(cafile=args.ca)
    bodies = list(corpus(args.corpus_size, distinct=args.distinct, guarded_only=args.guarded_only))
    connector = aiohttp.TCPConnector(limit=args.concurrency, ssl=context, keepalive_timeout=60)
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    responses: list[dict[str, Any]] | None = [] if args.responses else None
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    async with aiohttp.ClientSession(connector=connector) as session:
        # Warm-up: open the connections and fill caches before the clock starts.
        warm: list[float] = []
        if args.warmup > 0:
            await asyncio.gather(
                *(
                    _worker(
                        session,
                        args.url,
                        bodies,
                        w,
                        args.concurrency,
                        time.monotonic() + args.warmup,
                        10**12,
                        warm,
                        Counter(),
                        None,
                        [0],
                        timeout,
                    )
                    for w in range(args.concurrency)
                )
            )
        began = time.monotonic()
        counter = [0]
        await asyncio.gather(
            *(
                _worker(
                    session,
                    args.url,
                    bodies,
                    w,
                    args.concurrency,
                    began + args.duration,
                    args.requests or 10**12,
                    latencies,
                    failures,
                    responses,
                    counter,
                    timeout,
                )
                for w in range(args.concurrency)
            )
        )
        elapsed = time.monotonic() - began
    if responses is not None:
        Path(args.responses).write_text("\n".join(json.dumps(r) for r in responses))
    return {
        "concurrency": args.concurrency,
        "elapsed_s": elapsed,
        "ok": len(latencies),
        "warmup_requests": len(warm),
        "failures": dict(failures),
        "latencies_ms": latencies,
    }


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.loadgen")
    p.add_argument("--url", required=True, help="full URL, e.g. https://127.0.0.1:8443/validate")
    p.add_argument("--ca", required=True, help="CA file that signed the server's certificate")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--duration", type=float, default=10.0, help="seconds of measured load")
    p.add_argument("--requests", type=int, default=0, help="stop after this many (0: no limit)")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of unmeasured load first")
    p.add_argument("--corpus-size", type=int, default=2000)
    p.add_argument("--distinct", type=int, default=4, help="variants of each object shape")
    p.add_argument("--guarded-only", action="store_true")
    p.add_argument("--timeout", type=float, default=10.0, help="client timeout per request (s)")
    p.add_argument("--responses", help="write every response's uid/allowed/decision id here")
    return p


def main() -> int:
    args = build_parser().parse_args()
    result = asyncio.run(run(args))
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Dispatch benchmark: N queued messages sent by worker processes to a local gateway (target: ≥ 1,000
messages/s with two workers on the 2-core reference machine).

    python benchmarks/messaging/bench_dispatch.py --db sqlite --peer kannel --messages 20000
    python benchmarks/messaging/bench_dispatch.py --db postgres --peer smtp --messages 20000 --workers 2

A fresh deployment (its own SQLite file or PostgreSQL database, migrated), the peer started (``smtp``: the
aiosmtpd server of ``rumbo.messaging.peers.smtp`` in its own process; ``kannel``: bearerbox + smsbox with
fakesmsc as the SMS centre), N persons and one campaign step queued to all of them (batches of 500). Then
``--workers`` processes of ``rumbo worker`` (the django-tasks-db worker, exactly as deployed) start together;
the clock runs from the first "sent" mark to the last one (``sent_at`` in the outbox), so process start-up is
not counted; the wall time from start to drained is printed too. At the end the peer's own record is checked:
every message arrived exactly once. The CPU seconds of the workers and of the peer are printed, because on a
machine shared with other work the wall-clock rate says less than what the work costs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BENCH_DIR, backend_cpu_seconds, load_average  # noqa: E402
from deploy import Deployment  # noqa: E402


def _parse(value: object) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--peer", choices=["smtp", "kannel"], default="kannel")
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=500, help="Messages per sending task.")
    parser.add_argument("--json", default="", help="Write the figures to this file too.")
    args = parser.parse_args()

    workdir = BENCH_DIR / f"dispatch-{args.db}-{args.peer}"
    if workdir.exists():
        import shutil

        shutil.rmtree(workdir)
    from rumbo.messaging.peers.kannel import KannelPeer
    from rumbo.messaging.peers.smtp import SmtpPeerProcess

    figures: dict[str, object] = {"db": args.db, "peer": args.peer, "workers": args.workers}
    with Deployment.create(args.db, workdir, pg_prefix="rumbo_bench_messaging_dispatch") as deployment:
        deployment.settings.update(
            {"RUMBO_MESSAGING_BATCH_SIZE": str(args.batch), "RUMBO_MESSAGING_LEASE_SECONDS": "120"}
        )
        peer_args: list[str]
        if args.peer == "smtp":
            peer: SmtpPeerProcess | KannelPeer = SmtpPeerProcess(out=workdir / "smtp.jsonl").start()
            peer_args = ["--email-share", "1", "--smtp", f"127.0.0.1:{peer.port}"]  # type: ignore[union-attr]
        else:
            peer = KannelPeer(workdir=workdir / "kannel").start()
            config = peer.channel_config()
            peer_args = ["--email-share", "0", "--kannel", config["url"]]
            # "--option=value": a generated password may start with "-" (argparse would read an option)
            peer_args += [f"--kannel-user={config['username']}", f"--kannel-pass={config['password']}"]
        try:
            started = time.perf_counter()
            prepared = deployment.run_scenario("prepare", "--persons", str(args.messages), *peer_args)
            queued = deployment.run_scenario("queue")
            print(
                f"prepared {prepared['persons']:,} persons and queued {queued['queued']:,} messages "
                f"({queued['tasks']} tasks) in {time.perf_counter() - started:.1f} s",
                flush=True,
            )
            load_before = load_average()
            started = time.perf_counter()
            workers = [deployment.start_worker(f"worker-{n}") for n in range(args.workers)]
            cpu: dict[int, float] = {}
            while True:
                counts = deployment.counts()
                for worker in workers:
                    value = backend_cpu_seconds([worker.pid])
                    if value:
                        cpu[worker.pid] = value
                if counts.get("sent", 0) + counts.get("failed", 0) >= args.messages:
                    break
                if time.perf_counter() - started > 1800:
                    raise TimeoutError(counts)
                time.sleep(0.2)
            wall = time.perf_counter() - started
            peer_pids = [p.pid for p in getattr(peer, "_processes", {}).values()] or [
                getattr(getattr(peer, "process", None), "pid", 0)
            ]
            peer_cpu = backend_cpu_seconds([p for p in peer_pids if p])
            deployment.stop_workers()
            first, last = deployment.query("SELECT MIN(sent_at), MAX(sent_at) FROM messaging_message")[0]
            span = (_parse(last) - _parse(first)).total_seconds()
            per_worker: Counter[str] = Counter()
            for owner, count in deployment.query(
                "SELECT lease_owner, COUNT(*) FROM messaging_message GROUP BY lease_owner"
            ):
                per_worker[str(owner).split(":")[1] if ":" in str(owner) else str(owner)] += count
            if args.peer == "smtp":
                time.sleep(1)
                per_key = peer.deliveries()  # type: ignore[union-attr]
            else:
                deadline = time.monotonic() + 60
                while len(peer.received()) < args.messages and time.monotonic() < deadline:  # type: ignore[union-attr]
                    time.sleep(0.2)
                time.sleep(1)
                per_key = Counter(m.receiver for m in peer.received())  # type: ignore[union-attr]
            figures.update(
                messages=args.messages,
                counts=counts,
                sent_span_seconds=round(span, 2),
                per_second=round(args.messages / span) if span else 0,
                wall_seconds=round(wall, 2),
                wall_per_second=round(args.messages / wall),
                by_worker=sorted(per_worker.values(), reverse=True),
                cpu_workers=round(sum(cpu.values()), 1),
                cpu_peer=round(peer_cpu, 1),
                load_average=[load_before, load_average()],
                received=len(per_key),
                received_twice=sum(1 for c in per_key.values() if c > 1),
            )
        finally:
            peer.stop()
    print(
        f"{figures['messages']:,} messages through {args.peer} with {args.workers} workers ({args.db}): "
        f"{figures['per_second']:,}/s between the first and the last sent mark "
        f"({figures['sent_span_seconds']} s; {figures['wall_per_second']:,}/s from worker start, "
        f"{figures['wall_seconds']} s); per worker {figures['by_worker']}; "
        f"received {figures['received']:,}, twice {figures['received_twice']}; CPU workers "
        f"{figures['cpu_workers']} s, peer {figures['cpu_peer']} s; load {figures['load_average']}",
        flush=True,
    )
    print(json.dumps(figures))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rumbo.settings")
    main()

"""Throughput of the adapters against the local peers, without the outbox (``commit()`` always says yes).

    python -m rumbo.messaging.peers.measure smtp --messages 20000 --processes 1
    python -m rumbo.messaging.peers.measure smtp --messages 20000 --processes 2
    python -m rumbo.messaging.peers.measure kannel --messages 10000 --dlr

Each process runs one adapter instance over batches of ``--batch`` messages; the figure is messages the peer
accepted per second of wall time, and the peer's records are checked for duplicates and losses. Needs
Django settings (``DJANGO_SETTINGS_MODULE``, default ``rumbo.settings_test``): the adapters use Django's
email machinery and the models' choices.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def _worker(kind: str, config: dict[str, str], sender: str, start: int, count: int, batch: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rumbo.settings_test")
    import django

    django.setup()
    from rumbo.messaging.adapters import adapter_for
    from rumbo.messaging.adapters.base import LastPiece, OutboundMessage

    def _always(message: OutboundMessage, provider_id: str, last_piece: LastPiece) -> bool:
        last_piece()  # no outbox here: every message is "committed" and completed
        return True

    adapter = adapter_for(kind, config, sender)
    for first in range(start, start + count, batch):
        last = min(first + batch, start + count)
        if kind == "email":
            messages = [
                OutboundMessage(
                    n, f"measure:{n}", f"persona{n}@example.org", f"Hola {n}, ¿estás bien?", subject="Aviso"
                )
                for n in range(first, last)
            ]
        else:
            messages = [
                OutboundMessage(n, f"measure:{n}", f"+52{n:010d}", f"Mensaje {n}") for n in range(first, last)
            ]
        adapter.send_batch(messages, _always)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(kind: str, config: dict[str, str], sender: str, total: int, processes: int, batch: int) -> float:
    share = total // processes
    started = time.perf_counter()
    workers = [
        multiprocessing.Process(target=_worker, args=(kind, config, sender, 1 + i * share, share, batch))
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - started


class _Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    count = 0

    def do_GET(self) -> None:
        type(self).count += 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("target", choices=["smtp", "kannel"])
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument(
        "--dlr", action="store_true", help="Kannel: ask for delivery reports (to a local sink)"
    )
    parser.add_argument("--connections", default="", help="Kannel: parallel connections per adapter")
    args = parser.parse_args()
    total = args.messages - args.messages % args.processes
    workdir = Path(tempfile.mkdtemp(prefix="rumbo-measure-"))
    figures: dict[str, Any] = {
        "target": args.target,
        "messages": total,
        "processes": args.processes,
        "load_average_before": round(os.getloadavg()[0], 2),
    }
    peer_pids: list[int] = []

    if args.target == "smtp":
        from rumbo.messaging.peers.smtp import SmtpPeerProcess, deliveries

        with SmtpPeerProcess(out=workdir / "smtp.jsonl") as peer:
            config = {"host": "127.0.0.1", "port": str(peer.port), "use_tls": "no"}
            assert peer.process is not None
            peer_pids = [peer.process.pid]
            peer_cpu = [_cpu_seconds(pid) for pid in peer_pids]
            workers_cpu = _children_cpu()
            seconds = _run("email", config, "avisos@rumbo.example", total, args.processes, args.batch)
            workers_cpu = _children_cpu() - workers_cpu
            peer_cpu = [_cpu_seconds(pid) - before for pid, before in zip(peer_pids, peer_cpu, strict=True)]
            time.sleep(0.5)
            counts = deliveries(peer.out)
    else:
        from rumbo.messaging.peers.kannel import KannelPeer

        sink = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
        sink.daemon_threads = True
        threading.Thread(target=sink.serve_forever, daemon=True).start()
        with KannelPeer(workdir=workdir / "kannel") as kannel:
            webhook = f"http://127.0.0.1:{sink.server_address[1]}/hooks/" if args.dlr else ""
            config = kannel.channel_config(webhook_url=webhook)
            if args.connections:
                config["connections"] = args.connections
            peer_pids = kannel.pids()
            peer_cpu = [_cpu_seconds(pid) for pid in peer_pids]
            workers_cpu = _children_cpu()
            seconds = _run("sms", config, "31313", total, args.processes, args.batch)
            workers_cpu = _children_cpu() - workers_cpu
            peer_cpu = [_cpu_seconds(pid) - before for pid, before in zip(peer_pids, peer_cpu, strict=True)]
            received = kannel.wait_for_received(total, timeout=60)
            counts = Counter(message.receiver for message in received)
            figures["delivery_reports"] = _Sink.count
        sink.shutdown()

    figures.update(
        seconds=round(seconds, 2),
        per_second=round(total / seconds),
        received=sum(counts.values()),
        distinct=len(counts),
        duplicates=sum(1 for c in counts.values() if c > 1),
        adapter_cpu_ms_per_message=round(workers_cpu / total * 1000, 3),
        peer_cpu_ms_per_message=round(sum(peer_cpu) / total * 1000, 3),
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

"""The README's first command, end to end: ``rumbo serve --demo`` on a fresh SQLite data folder serves Rumbo
with the demo network, and a printed login works over real HTTP (gunicorn, static files, worker)."""

from __future__ import annotations

import http.cookiejar
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(url: str, proc: subprocess.Popen[str], timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"rumbo serve exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer in {timeout} s")


@pytest.mark.e2e
def test_serve_with_demo_data_and_log_in_with_printed_credentials(tmp_path: Path) -> None:
    port = _free_port()
    log = tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}}
    env.update({"RUMBO_DATA_DIR": str(tmp_path / "data"), "RUMBO_LOCAL_HTTP": "1", "WEB_CONCURRENCY": "2"})
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rumbo", "serve", "--demo", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{base}/healthz", proc)
        printed = log.read_text()
        password = re.search(r"(?:password|contraseña)[^:]*:\s*(\S+)", printed, re.IGNORECASE)
        user = re.search(r"^\s*(caseworker\.\S+)", printed, re.MULTILINE)
        assert password and user, printed[-3000:]

        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        login_page = opener.open(f"{base}/accounts/login/").read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page)
        assert token
        form = urllib.parse.urlencode(
            {"csrfmiddlewaretoken": token.group(1), "username": user.group(1), "password": password.group(1)}
        ).encode()
        request = urllib.request.Request(f"{base}/accounts/login/", data=form, headers={"Referer": base})
        home = opener.open(request)
        assert home.geturl() == f"{base}/", home.geturl()
        people = opener.open(f"{base}/people/?q=maria").read().decode()
        assert re.search(r'href="/people/\d+/"', people), "the demo caseworker finds demo persons"
        css = opener.open(f"{base}/static/rumbo/rumbo.css")
        assert css.status == 200
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=60)

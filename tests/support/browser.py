"""The browser tests' set-up (fixtures `environ`, `http_service` through tests/browser/conftest.py):
the HTTP service as `townsquare http` runs it (`run_http` under hypercorn, in a child process)
against the test's sandbox, Redis namespace and PostgreSQL, and Debian's chromium driven by
Playwright."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
import typing
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import async_playwright

from townsquare.core.discord import write_sandbox_info
from townsquare.core.processes import free_port

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from playwright.async_api import Page

    from townsquare.core.keyspace import Keyspace
    from townsquare.sandbox import Sandbox

__all__ = [
    "CHROMIUM",
    "CHROMIUM_FLAGS",
    "ROOT",
    "SIGNING_KEY",
    "environ",
    "http_service",
    "log_in_as",
    "logged_in_page",
]

CHROMIUM: typing.Final = "/usr/bin/chromium"
CHROMIUM_FLAGS: typing.Final = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""From the machine docs; Playwright adds `--headless` and a fresh profile directory itself."""
ROOT: typing.Final = Path(__file__).resolve().parents[2]
SIGNING_KEY: typing.Final = "browser-test-signing-key-0123456789abcdef"


@pytest.fixture
def environ(tmp_path: Path, keyspace: Keyspace, sandbox: Sandbox) -> dict[str, str]:
    write_sandbox_info(tmp_path / "sandbox.json", sandbox.info.as_json())
    port, metrics_port = free_port(), free_port()
    return {
        "TOWNSQUARE__PATHS__VAR_DIR": str(tmp_path),
        "TOWNSQUARE__REDIS__NAMESPACE": keyspace.namespace,
        "TOWNSQUARE__HTTP__JWT_SIGNING_KEY": SIGNING_KEY,
        "TOWNSQUARE__HTTP__HOST": "127.0.0.1",
        "TOWNSQUARE__HTTP__PORT": str(port),
        "TOWNSQUARE__HTTP__PUBLIC_URL": f"http://127.0.0.1:{port}",
        "TOWNSQUARE__HTTP__METRICS_PORT": str(metrics_port),
    }


@pytest.fixture
async def http_service(
    environ: dict[str, str], tmp_path: Path, redis_url: str, database_url: str, orm: None
) -> AsyncIterator[str]:
    """`run_http` under hypercorn in a child process; yields its base URL."""
    log_path = tmp_path / "http.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.support.serve_http",
            redis_url,
            database_url,
            cwd=ROOT,
            env=os.environ | environ,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    base = environ["TOWNSQUARE__HTTP__PUBLIC_URL"]
    try:
        await _wait_ready(base, process, log_path)
        yield base
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()
        sys.stdout.write(log_path.read_text(errors="replace")[-4000:])


async def _wait_ready(base: str, process: asyncio.subprocess.Process, log: Path) -> None:
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as client:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                pytest.fail(f"the HTTP service exited (its log is printed below, from {log})")
            with contextlib.suppress(aiohttp.ClientError):
                async with client.get(f"{base}/healthz") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)
    pytest.fail("the HTTP service did not answer /healthz within 60 s")


@contextlib.asynccontextmanager
async def logged_in_page(url: str, user_id: int) -> AsyncIterator[Page]:
    """Chromium on `url`, logged in through the sandbox's consent page as `user_id`."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            page = await browser.new_page()
            await log_in_as(page, url, user_id)
            yield page
        finally:
            await browser.close()


async def log_in_as(page: Page, url: str, user_id: int) -> None:
    """Open `url` logged out, consent as `user_id` on the sandbox's page, land back on `url`."""
    await page.goto(url)
    await page.wait_for_url("**/oauth2/authorize**")
    await page.click(f'button[name="user_id"][value="{user_id}"]')
    await page.wait_for_url(url)

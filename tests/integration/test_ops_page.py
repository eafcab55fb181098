"""The model-ops page in a real headless browser (Debian's chromium driven by Playwright),
served by a real serving worker on the real broker while a labelled stream flows.

Saves a screenshot under var/ and prints its path.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import urllib.request

import orjson
import pytest

from kafka_io import produce, read_topic

from .conftest import REPO, fresh_env
from .scenarios import event, points

CHROMIUM = "/usr/bin/chromium"
TOKEN = "ops-page-test-token-0123456789"
TENANTS = ("shop-1", "shop-2", "shop-3")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]


def labelled(tenant: str, prefix: str, n: int, seed: int):
    return [event(tenant, f"{prefix}-{i}", f"e{i % 6}", time.time(), p, label=p["x"] > 0)
            for i, p in enumerate(points(seed, n))]


class Stream(threading.Thread):
    """Labelled events for every tenant, a small batch at a time, until stopped."""

    def __init__(self, kafka: str, env: str) -> None:
        super().__init__(daemon=True)
        self.kafka, self.env = kafka, env
        self.stopped = threading.Event()
        self.sent = 0

    def run(self) -> None:
        batch = 0
        while not self.stopped.is_set():
            records = [r for k, t in enumerate(TENANTS)
                       for r in labelled(t, f"flow{batch}", 5, 1000 * batch + k)]
            asyncio.run(produce(self.kafka, f"{self.env}.events", records))
            self.sent += len(records)
            batch += 1
            self.stopped.wait(0.5)


@pytest.fixture(scope="module")
def serving_worker(kafka, log_dir):
    from app.settings import Settings
    from app.topics import declare_topics
    from harness.workers import FaustWorker

    from .conftest import worker_settings

    env = fresh_env()
    asyncio.run(declare_topics(Settings(broker=f"kafka://{kafka}", env=env, partitions=4)))
    common = {"api_token": TOKEN, "deadline_ms": 2000.0}
    workers = [FaustWorker(worker_settings(kafka, env, role, **common), log_dir)
               for role in ("serving", "fast")]
    for w in workers:
        w.start()
    try:
        for w in workers:
            w.wait_ready()
        yield env, workers[0]
    finally:
        for w in workers:
            w.stop()


def test_the_ops_page_lists_tenants_models_and_a_sparkline(kafka, serving_worker):
    assert os.path.exists(CHROMIUM), f"{CHROMIUM} is missing: `make browser` installs it"
    from playwright.sync_api import sync_playwright

    env, serving = serving_worker
    # 30 labelled results per tenant first: three sparkline points each, whatever flows next.
    warmup = [r for k, t in enumerate(TENANTS) for r in labelled(t, "warm", 30, k)]
    asyncio.run(produce(kafka, f"{env}.events", warmup))
    wanted = {orjson.loads(v)["request_id"] for _, v in warmup}
    asyncio.run(read_topic(kafka, f"{env}.results",
                           lambda rs: len(wanted & {r["request_id"] for r in rs}) == len(wanted),
                           timeout=120))
    stream = Stream(kafka, env)
    stream.start()
    url = f"http://127.0.0.1:{serving.web_port}/ops/"
    shot = REPO / "var" / f"ops-page-{env}.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(url)
                page.wait_for_function(
                    f"document.querySelectorAll('section.tenant').length >= {len(TENANTS)}",
                    timeout=60_000)
                page.wait_for_timeout(2500)  # one more refresh, with the stream flowing
                listed = page.eval_on_selector_all(
                    "section.tenant", "els => els.map(e => e.dataset.tenant)")
                assert sorted(listed) == sorted(TENANTS)
                for tenant in TENANTS:
                    card = page.locator(f'section.tenant[data-tenant="{tenant}"]')
                    rows = card.locator("table.models tr[data-model]")
                    models = {rows.nth(i).get_attribute("data-model"):
                              (rows.nth(i).locator("td.role").inner_text(),
                               rows.nth(i).locator("td.version").inner_text())
                              for i in range(rows.count())}
                    assert models == {"logreg": ("champion", "v1"),
                                      "hoeffding": ("challenger", "v1"),
                                      "baseline": ("canary", "v1")}
                    spark = card.locator("svg.sparkline")
                    assert int(spark.get_attribute("data-points")) >= 3
                    polyline = spark.locator("polyline").get_attribute("points")
                    assert len(polyline.split()) == int(spark.get_attribute("data-points"))
                    assert card.locator("table.decisions tr").count() > 1
                # Read-only without the token: no operator buttons are shown.
                assert page.evaluate("document.body.dataset.mode") == "read-only"
                assert not page.locator("button[data-cmd]").first.is_visible()
                page.fill("#token", "not-the-token-at-all")
                page.click("#use-token")
                page.wait_for_function("document.getElementById('mode').textContent"
                                       ".startsWith('token refused')")
                assert page.evaluate("document.body.dataset.mode") == "read-only"
                page.fill("#token", TOKEN)
                page.click("#use-token")
                page.wait_for_function("document.body.dataset.mode === 'operator'")
                assert page.locator("button[data-cmd]").first.is_visible()
                page.screenshot(path=str(shot), full_page=True)
            finally:
                browser.close()
    finally:
        stream.stopped.set()
        stream.join(30)
    assert stream.sent > 0
    print(f"\nops page screenshot: {shot}")
    assert shot.stat().st_size > 0
    with urllib.request.urlopen(url, timeout=10) as r:  # the page itself needs no token
        assert r.status == 200

"""The offline HTML map in a real headless Chromium with no network.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: JSON
messages ending in a NUL byte on file descriptors 3 and 4), so the test needs nothing from PyPI.
Every request the page makes is recorded from the protocol's Network events; the proxy points at
a closed port and host names resolve to nothing, so a request that escaped would also fail.

``make test`` installs Debian's chromium where it is missing; the test skips only where no
Chromium can be found (saying so).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from pipeline import maps
from test_maps import make_areas, make_tables

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")


def find_chromium() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


class DevTools:
    """A minimal DevTools-protocol client over Chromium's pipe."""

    def __init__(self, binary: str, profile: Path, *, width: int = 1280, height: int = 900):
        # fds 3 and 4 in the child: 3 = commands to Chromium, 4 = its answers
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def wire_pipes():
            # via fresh numbers first, in case one pipe end already sits on fd 3 or 4
            read_end, write_end = os.dup(to_child_r), os.dup(from_child_w)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        args = [binary, "--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--remote-debugging-pipe", f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                # no network: a closed proxy port and no name resolution
                "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
                "--host-resolver-rules=MAP * ~NOTFOUND", "about:blank"]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, preexec_fn=wire_pipes,
                                     close_fds=False)
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []
        self.session: str | None = None

    def close(self) -> None:
        try:
            self.send("Browser.close", session=False, timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for fd in (self._to_child, self._from_child):
            try:
                os.close(fd)
            except OSError:
                pass

    def _read_message(self, deadline: float) -> dict:
        import select

        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from Chromium")
            ready, _, _ = select.select([self._from_child], [], [], left)
            if ready:
                chunk = os.read(self._from_child, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the pipe")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, params: dict | None = None, *, session: bool = True,
             timeout: float = 30) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._to_child, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            answer = self._read_message(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            self.events.append(answer)

    def wait_for(self, method: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = self._read_message(deadline)
            self.events.append(event)
            if event.get("method") == method:
                return event

    def open_page(self) -> None:
        targets = self.send("Target.getTargets", session=False)["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.send("Target.attachToTarget",
                                 {"targetId": page["targetId"], "flatten": True},
                                 session=False)["sessionId"]
        self.send("Network.enable")
        self.send("Page.enable")

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def requests(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events
                if e.get("method") == "Network.requestWillBeSent"]

    def failures(self) -> list[dict]:
        return [e["params"] for e in self.events if e.get("method") == "Network.loadingFailed"]


@pytest.fixture
def chromium(tmp_path):
    binary = find_chromium()
    if binary is None:
        pytest.skip("no Chromium on this machine: `make test` installs it with "
                    "`apt-get install chromium chromium-driver` (needs root); cannot run the "
                    "headless-browser test here")
    browser = DevTools(binary, tmp_path / "profile")
    try:
        browser.open_page()
        yield browser
    finally:
        browser.close()


@pytest.fixture
def page_path(tmp_path) -> Path:
    areas = make_areas()
    tables = make_tables(areas)
    # one stippled (low-reliability) buurt, to see that overlay render too
    tables["buurt"].loc[tables["buurt"]["area_code"] == "BU00020101",
                        "outflow_reliability"] = 0.2
    out = tmp_path / "kaart.html"
    maps.build_interactive_map(tables, areas, measures=["outflow", "outflow_eb"], out_html=out,
                               k=3, date="1 januari 2025")
    return out


def _load(chromium: DevTools, path: Path) -> None:
    chromium.send("Page.navigate", {"url": path.as_uri()})
    chromium.wait_for("Page.loadEventFired")
    # Leaflet draws on load; give it a moment to lay out the SVG
    for _ in range(50):
        if chromium.evaluate("document.querySelectorAll('.leaflet-overlay-pane path').length"):
            break
        time.sleep(0.1)


def _hover(chromium: DevTools, code: str) -> str:
    """Move the mouse to the middle of area ``code`` on the map and return the tooltip text."""
    x, y = chromium.evaluate(f"""
        (() => {{ const map = window[Object.keys(window).find(k => /^map_[0-9a-f]+$/.test(k))];
                  let found = null;
                  map.eachLayer(l => {{ if (l.feature && l.feature.properties.area_code === "{code}"
                                            && l.feature.properties.tooltip) found = l; }});
                  const p = map.latLngToContainerPoint(found.getBounds().getCenter());
                  const box = map.getContainer().getBoundingClientRect();
                  return [box.left + p.x, box.top + p.y]; }})()""")
    chromium.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x + 1, "y": y + 1})
    chromium.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})
    for _ in range(20):
        text = chromium.evaluate(
            "(document.querySelector('.leaflet-tooltip') || {}).innerText || ''")
        if code in text:
            return text
        time.sleep(0.1)
    return text


def test_map_renders_offline_with_polygons_legend_and_tooltip(chromium, page_path, tmp_path):
    _load(chromium, page_path)

    # polygons: the 8 buurten, the 2 gemeente borders and the one stippled buurt
    n_paths = chromium.evaluate(
        "document.querySelectorAll('.leaflet-overlay-pane svg path.leaflet-interactive').length")
    assert n_paths >= 8 + 1
    filled = chromium.evaluate(
        "Array.from(document.querySelectorAll('.leaflet-overlay-pane path'))"
        ".map(p => p.getAttribute('fill')).filter(f => f && f !== 'none')")
    assert any(f.startswith("#") for f in filled), filled
    assert f"url(#{maps.HATCH_PATTERN_ID})" in filled
    assert f"url(#{maps.LOW_RELIABILITY_PATTERN_ID})" in filled

    # the legend of the layer on screen is shown, the others hidden
    legend = chromium.evaluate(
        "Array.from(document.querySelectorAll('.vk-legend-level'))"
        ".filter(el => getComputedStyle(el).display !== 'none').map(el => el.innerText)")
    assert len(legend) == 1
    assert "Uitstroom: buurten" in legend[0] and maps.WITHHELD_LABEL in legend[0]
    assert "betrouwbaarheid onder 0,50" in legend[0]

    # a tooltip: point the mouse at the middle of a published and a withheld buurt
    tips = {code: _hover(chromium, code) for code in ("BU00010101", "BU00010202")}
    published, withheld = tips["BU00010101"], tips["BU00010202"]
    assert "Buurt Westerveen 1.1" in published, tips
    assert "45,0% (95%-interval 30,0–60,0%)" in published
    assert "Betrouwbaarheid\t0,60" in published and "Kinderen (n)\t120" in published
    assert "Buurt Westerveen 2.2" in withheld, tips
    assert "niet gepubliceerd" in withheld and "outflow: numerator < 10" in withheld

    # switching the layer switches the legend and the heading
    chromium.evaluate(
        "Array.from(document.querySelectorAll('.leaflet-control-layers-base label'))"
        ".find(l => l.innerText.includes('Uitstroom (gekrompen): wijken'))"
        ".querySelector('input').click()")
    time.sleep(0.3)
    legend = chromium.evaluate(
        "Array.from(document.querySelectorAll('.vk-legend-level'))"
        ".filter(el => getComputedStyle(el).display !== 'none').map(el => el.innerText)")
    assert len(legend) == 1 and "Uitstroom (gekrompen): wijken" in legend[0]
    assert "gekrompen" in chromium.evaluate("document.getElementById('vk-heading').innerText")

    # nothing left the file: the only request is the page itself, none failed
    requests = chromium.requests()
    assert requests and requests[0] == page_path.as_uri()
    outside = [u for u in requests if u != page_path.as_uri()
               and not u.startswith(("data:", "about:", "blob:"))]
    assert outside == [], outside
    assert chromium.failures() == []

    shot = chromium.send("Page.captureScreenshot", {"format": "png"})["data"]
    assert len(shot) > 10_000


def test_a_page_that_loads_from_the_network_is_caught(chromium, tmp_path):
    # the check itself works: a page with a CDN script shows up as a request that failed
    page = tmp_path / "remote.html"
    page.write_text("<html><head><script src='https://cdn.example.org/x.js'></script></head>"
                    "<body>x</body></html>", encoding="utf-8")
    _load(chromium, page)
    assert any(u.startswith("https://cdn.example.org/") for u in chromium.requests())
    assert chromium.failures()

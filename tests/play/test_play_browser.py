"""worldsim-play in a real browser (Debian's chromium + chromedriver, via selenium): steer,
switch the prompt, fork and rewind, send malformed messages, and take the docs' screenshot."""

from __future__ import annotations

import base64
import io
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from worldsim.eval.pixel_motion import horizontal_shift

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None or CHROMEDRIVER is None,
        reason="needs Debian's chromium and chromium-driver (apt-get install chromium "
        "chromium-driver; .ci/run installs them)",
    ),
]
PLAY = str(Path(sys.executable).with_name("worldsim-play"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    cwd = tmp_path_factory.mktemp("play")
    proc = subprocess.Popen(
        [PLAY, f"port={port}", "sampling_steps=1", "max_sessions=2"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert f"http://127.0.0.1:{port}/" in line, line
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM  # type: ignore[assignment]
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.add_argument("--window-size=1100,760")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def _wait(check: Callable[[], object], timeout: float = 120.0, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _image(data_url: str) -> np.ndarray:
    from PIL import Image

    raw = base64.b64decode(data_url.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(raw)).convert("RGB"))


def _frames(driver) -> int:
    return int(driver.execute_script("return window.worldsimPlay.frames"))


def _last(driver) -> dict:
    return driver.execute_script("return window.worldsimPlay.lastFrame")


def _hold(driver, key: str, frames: int) -> tuple[float, float]:
    """Hold ``key`` for ``frames`` frames; the (learned, truth) horizontal image shift summed
    over consecutive frames of the second half, once the car has turned into the new yaw."""
    from selenium.webdriver.common.action_chains import ActionChains

    body = driver.find_element("tag name", "body")
    ActionChains(driver).key_down(key, body).perform()
    start = _frames(driver)
    _wait(lambda: _frames(driver) >= start + frames, what=f"{frames} frames")
    ActionChains(driver).key_up(key, body).perform()
    recent = driver.execute_script("return window.worldsimPlay.recent")
    done = _frames(driver)
    window = recent[len(recent) - (done - start) :][frames // 2 : frames]
    shifts = []
    for field in ("image", "truth"):
        images = np.stack([_image(m[field]) for m in window])
        shifts.append(float(horizontal_shift(images[:-1], images[1:]).sum()))
    return shifts[0], shifts[1]


def test_drive_prompt_fork_and_malformed_messages(server: str, browser, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver = browser
    driver.get(server)
    _wait(lambda: _frames(driver) >= 3, what="the first frames")
    before = _last(driver)
    assert before["truth"], "a procedural scenario shows the ground truth beside it"
    start = _frames(driver)
    _wait(lambda: _frames(driver) >= start + 15, what="15 frames of driving")
    # The docs' screenshot: the learned world beside the ground truth, after 1.5 s of driving.
    shot = tmp_path / "play.png"
    driver.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    target = os.environ.get("WORLDSIM_PLAY_SCREENSHOT")
    if target:
        shutil.copyfile(shot, target)

    # Steering, from one bookmarked moment each way: the view swings one way for left and the
    # other way for right.
    driver.find_element(By.ID, "pause").click()
    time.sleep(0.5)
    driver.find_element(By.ID, "bookmark").click()
    _wait(lambda: driver.find_elements(By.CSS_SELECTOR, "[data-bookmark='0']"), 60, "bookmark")
    driver.find_element(By.ID, "pause").click()
    learned_left, truth_left = _hold(driver, Keys.ARROW_LEFT, 16)
    driver.find_element(By.ID, "pause").click()
    time.sleep(0.5)
    driver.find_element(By.CSS_SELECTOR, "[data-bookmark='0']").click()
    _wait(lambda: "rewound" in (_last(driver).get("event") or ""), 60, "the rewind")
    driver.find_element(By.ID, "pause").click()
    learned_right, truth_right = _hold(driver, Keys.ARROW_RIGHT, 16)
    assert _last(driver)["image"] != before["image"], "frames change"
    assert truth_left > 0 > truth_right, (truth_left, truth_right)
    print(
        f"shift over the last 8 of 16 frames: learned {learned_left:+.2f}/{learned_right:+.2f} px, ",
        end="",
    )
    print(f"ground truth {truth_left:+.2f}/{truth_right:+.2f} px (left/right)")

    # The prompt switches mid-drive and the page shows it.
    driver.find_element(By.CSS_SELECTOR, "[data-preset='night']").click()
    _wait(lambda: "night" in driver.find_element(By.ID, "prompt").text, what="the shown prompt")

    # Fork and rewind: the bookmarked frame comes back.
    driver.find_element(By.ID, "pause").click()
    time.sleep(0.5)
    driver.find_element(By.ID, "bookmark").click()
    mark = _wait(lambda: driver.find_elements(By.CSS_SELECTOR, "[data-bookmark='1']"), 60)
    assert mark
    marked = _last(driver)
    driver.find_element(By.ID, "pause").click()
    start = _frames(driver)
    _wait(lambda: _frames(driver) >= start + 5, what="frames after the bookmark")
    driver.find_element(By.ID, "pause").click()
    time.sleep(0.5)
    assert _last(driver)["image"] != marked["image"]
    driver.find_element(By.CSS_SELECTOR, "[data-bookmark='1']").click()
    _wait(lambda: "rewound" in (_last(driver).get("event") or ""), 60, "the rewind")
    assert _last(driver)["image"] == marked["image"]
    assert _last(driver)["step"] == marked["step"]

    # Malformed messages get errors on the page, and the server keeps serving.
    for raw in [
        "{not json",
        '{"type": "step", "steer": NaN, "accel": 0}',
        '{"type": "warp"}',
        '{"type": "step", "steer": 0, "accel": 0, "x": 1}',
        '{"type": "prompt", "text": "' + "x" * 5000 + '"}',
        '{"type": "restart", "scenario": "no_such_place"}',
    ]:
        driver.execute_script("window.worldsimPlaySend(arguments[0])", raw)
    _wait(
        lambda: driver.execute_script("return window.worldsimPlay.errors.length") >= 6,
        60,
        "six error messages",
    )
    assert "no_such_place" in driver.find_element(By.ID, "error").text
    driver.find_element(By.ID, "pause").click()
    start = _frames(driver)
    _wait(lambda: _frames(driver) >= start + 3, what="frames after the malformed messages")

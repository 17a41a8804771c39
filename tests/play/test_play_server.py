"""The play server through FastAPI's test client: the real app, sessions and env."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from worldsim.data.video import read_video
from worldsim.play.protocol import ProtocolError, SetPrompt, Step, parse_message
from worldsim.play.server import BUSY_CLOSE_CODE, create_app
from worldsim.play.session import PlayOptions

PLAY = str(Path(sys.executable).with_name("worldsim-play"))


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    record_dir = tmp_path_factory.mktemp("recordings")
    options = PlayOptions(sampling_steps=1, record_dir=str(record_dir))
    return TestClient(create_app(options, max_sessions=2))


def _open(ws) -> dict:
    assert ws.receive_json()["type"] == "hello"
    ready = ws.receive_json()
    assert ready["type"] == "frame" and ready["event"] == "ready"
    return ready


def _send(ws, message: dict | str) -> dict:
    ws.send_text(message if isinstance(message, str) else json.dumps(message))
    return ws.receive_json()


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        ("{", "not JSON"),
        ("[1, 2]", "JSON object"),
        ('{"type": "step", "steer": NaN}', "NaN"),
        ('{"type": "step", "steer": Infinity}', "Infinity"),
        ('{"type": "step", "steer": 2}', "steer=2"),
        ('{"type": "step", "steer": "left"}', "steer='left'"),
        ('{"type": "fly"}', "type='fly'"),
        ('{"type": "step", "boost": 1}', "boost"),
        ('{"type": "prompt", "text": 3}', "text=3"),
        ('{"type": "rewind", "id": true}', "id=True"),
        ('{"type": "record", "on": "yes"}', "on='yes'"),
        ("x" * 9000, "limit"),
    ],
)
def test_malformed_messages_are_named(raw: str, names: str) -> None:
    with pytest.raises(ProtocolError, match=names):
        parse_message(raw, max_prompt_chars=10)


def test_valid_messages_parse() -> None:
    assert parse_message('{"type": "step", "steer": 1, "accel": -0.5}', 10) == Step(1.0, -0.5)
    assert parse_message('{"type": "prompt", "text": " fog "}', 10) == SetPrompt("fog")
    with pytest.raises(ProtocolError, match="over the 10 limit"):
        parse_message(json.dumps({"type": "prompt", "text": "x" * 11}), 10)


def test_drive_fork_rewind_prompt_and_record(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        ready = _open(ws)
        assert ready["truth"] is not None and ready["step"] == 0
        for _ in range(3):
            frame = _send(ws, {"type": "step", "steer": 0.5, "accel": 0.2})
        assert frame["step"] == 3 and frame["image"] != ready["image"]
        mark = _send(ws, {"type": "bookmark"})
        assert mark["bookmarked"] == 0 and mark["bookmarks"] == [3]
        for _ in range(3):
            _send(ws, {"type": "step", "steer": -1, "accel": 1})
        back = _send(ws, {"type": "rewind", "id": 0})
        assert (back["step"], back["image"], back["truth"]) == (3, mark["image"], mark["truth"])
        again = [_send(ws, {"type": "step", "steer": 0, "accel": 0})["image"] for _ in range(2)]
        _send(ws, {"type": "rewind", "id": 0})
        assert [
            _send(ws, {"type": "step", "steer": 0, "accel": 0})["image"] for _ in range(2)
        ] == again
        assert _send(ws, {"type": "rewind", "id": 5})["type"] == "error"
        assert (
            _send(ws, {"type": "prompt", "text": "driving in snow"})["prompt"] == "driving in snow"
        )
        assert _send(ws, {"type": "record", "on": True})["recording"] is True
        for _ in range(4):
            _send(ws, {"type": "step", "steer": 0, "accel": 0})
        saved = _send(ws, {"type": "record", "on": False})
        url = saved["recording_url"]
        response = client.get(url)
        assert response.status_code == 200 and response.headers["content-type"] == "video/mp4"
        assert client.get("/recordings/..%2Fmanifest.json").status_code == 404
        restarted = _send(ws, {"type": "restart", "scenario": "night_rain_curve"})
        assert restarted["scenario"] == "night_rain_curve" and restarted["bookmarks"] == []
        error = _send(ws, {"type": "restart", "scenario": "nowhere"})
        assert error["type"] == "error" and "nowhere" in error["message"]
        assert _send(ws, {"type": "step", "steer": 0, "accel": 0})["type"] == "frame"


def test_recording_is_a_real_mp4(client: TestClient, tmp_path: Path) -> None:
    with client.websocket_connect("/ws") as ws:
        _open(ws)
        _send(ws, {"type": "record", "on": True})
        for _ in range(5):
            _send(ws, {"type": "step", "steer": 0, "accel": 0.3})
        url = _send(ws, {"type": "record", "on": False})["recording_url"]
    video = tmp_path / "r.mp4"
    video.write_bytes(client.get(url).content)
    frames = read_video(video)
    assert frames.shape == (6, 64, 224, 3)  # the learned frame beside the ground truth


def test_session_limit_and_closed_tabs_free_their_session(client: TestClient) -> None:
    with client.websocket_connect("/ws") as a, client.websocket_connect("/ws") as b:
        _open(a)
        _open(b)
        assert client.get("/health").json()["sessions"] == 2
        with client.websocket_connect("/ws") as c:
            busy = c.receive_json()
            assert busy["type"] == "error" and "sessions are in use" in busy["message"]
            from starlette.websockets import WebSocketDisconnect

            with pytest.raises(WebSocketDisconnect) as info:
                c.receive_json()
            assert info.value.code == BUSY_CLOSE_CODE
        # Two tabs have their own worlds.
        assert _send(a, {"type": "step", "steer": 1, "accel": 1})["step"] == 1
        assert _send(b, {"type": "bookmark"})["step"] == 0
    assert client.get("/health").json()["sessions"] == 0
    with client.websocket_connect("/ws") as d:
        _open(d)


def test_page_and_static_files_are_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "/static/play.js" in page.text
    assert "WebSocket" in client.get("/static/play.js").text
    assert "pixelated" in client.get("/static/play.css").text


def test_cli_refuses_a_public_address_without_the_flag(tmp_path: Path) -> None:
    proc = subprocess.run(
        [PLAY, "host=0.0.0.0"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2 and "allow_remote=true" in proc.stderr
    bad = subprocess.run(
        [PLAY, "scenario=nowhere"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 2 and "nowhere" in bad.stderr and "Traceback" not in bad.stderr

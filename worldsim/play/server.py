"""The play server: static page, one WebSocket session per tab, recordings to download."""

from __future__ import annotations

import asyncio
import itertools
import logging
from importlib import resources
from typing import Any

from fastapi import FastAPI, HTTPException, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from worldsim.env.learned.model_cache import ModelCache
from worldsim.play.protocol import ProtocolError, parse_message
from worldsim.play.session import PlayOptions, PlaySession, recording_path

log = logging.getLogger("worldsim.play")
BUSY_CLOSE_CODE = 1013  # "try again later": the session limit is reached


def static_dir() -> Any:
    return resources.files("worldsim.play") / "static"


def create_app(options: PlayOptions, max_sessions: int = 4) -> FastAPI:
    """The app; each WebSocket gets its own :class:`PlaySession`, up to ``max_sessions``; the
    sessions share the networks through one :class:`ModelCache` (``app.state.models``)."""
    if max_sessions < 1:
        raise ValueError(f"max_sessions={max_sessions} must be at least 1")
    app = FastAPI(title="worldsim-play", docs_url=None, redoc_url=None)
    sessions: dict[str, PlaySession] = {}
    ids = itertools.count(1)
    models = ModelCache()
    app.state.sessions = sessions
    app.state.models = models
    static = static_dir()
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return (static / "index.html").read_text(encoding="utf-8")

    @app.get("/recordings/{name}")
    def recording(name: str) -> FileResponse:
        path = recording_path(options, name)
        if path is None:
            raise HTTPException(status_code=404, detail=f"no recording {name!r}")
        return FileResponse(path, media_type="video/mp4", filename=name)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"ok": True, "sessions": len(sessions), "max_sessions": max_sessions}

    @app.websocket("/ws")
    async def play(ws: WebSocket) -> None:
        await ws.accept()
        if len(sessions) >= max_sessions:
            await ws.send_json(
                {
                    "type": "error",
                    "message": f"all {max_sessions} sessions are in use; close a tab and reload",
                }
            )
            await ws.close(code=BUSY_CLOSE_CODE)
            return
        sid = f"s{next(ids)}"
        sessions[sid] = None  # type: ignore[assignment]  # holds the slot while it loads
        session: PlaySession | None = None
        try:
            session = await run_in_threadpool(PlaySession, options, sid, models)
            sessions[sid] = session
            await ws.send_json(session.hello())
            await ws.send_json(session.frame_message(event="ready"))
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    text = message.get("bytes") or b""
                kind = None
                try:
                    command = parse_message(text, options.max_prompt_chars)
                    kind = type(command).__name__.lower()
                    replies = await run_in_threadpool(session.handle, command)
                except (ProtocolError, ValueError, RuntimeError) as exc:
                    await ws.send_json({"type": "error", "message": str(exc), "reply": kind})
                    continue
                for reply in replies:
                    await ws.send_json({**reply, "reply": kind})
        except WebSocketDisconnect:
            pass
        except Exception as exc:  # keep serving the other tabs; tell this one why it ended
            log.exception("session %s failed", sid)
            try:
                await ws.send_json({"type": "error", "message": f"session ended: {exc}"})
                await ws.close()
            except Exception:
                pass
        finally:
            sessions.pop(sid, None)
            if session is not None:
                await asyncio.get_running_loop().run_in_executor(None, session.close)

    return app

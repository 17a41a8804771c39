"""Every fenced ``bash`` and ``python`` block of README.md and docs/*.md runs as written.

Blocks run in order within a page, in one temporary directory per page, so later blocks use
what earlier ones wrote or defined (python blocks share one namespace). CLI runs shrink to
seconds through ``WORLDSIM_SMOKE=1`` (``worldsim/cli/_smoke.py``); the blocks themselves are
never edited. A block that cannot run here is preceded by a marker with its reason:

    <!-- docs-test: skip (needs the nuScenes dataset) -->

Markdown is parsed with markdown-it-py (the CommonMark parser), not by hand.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\s*\((?P<reason>[^)]+)\)\s*-->")
LANGS = ("bash", "python")


@dataclass
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    skip: str | None  # the reason, when marked

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    tokens = MarkdownIt().parse(page.read_text(encoding="utf-8"))
    out = []
    for i, token in enumerate(tokens):
        lang = token.info.split()[0] if token.type == "fence" and token.info else ""
        if lang not in LANGS:
            continue
        before = tokens[i - 1] if i else None
        marker = SKIP.search(before.content) if before and before.type == "html_block" else None
        line = token.map[0] + 1 if token.map else 0
        out.append(Block(page, line, lang, token.content, marker and marker["reason"]))
    return out


def test_every_block_runs_or_is_marked_with_a_reason() -> None:
    """The list of skipped blocks, printed for the record; each skip names its reason."""
    all_blocks = [b for page in PAGES for b in blocks(page)]
    assert len(all_blocks) > 30
    skipped = [b for b in all_blocks if b.skip]
    for b in skipped:
        assert len(b.skip.strip()) > 10, f"{b.where}: give a real reason"
        print(f"skipped {b.where} ({b.lang}): {b.skip}")
    assert len(skipped) < len(all_blocks) / 2


def _workdir(tmp: Path) -> dict[str, str]:
    """A fresh directory that looks like a checkout to the blocks (``.venv``, repo files)."""
    (tmp / ".venv").symlink_to(Path(sys.prefix))
    for name in ("envs", "conf", "Makefile", "benchmarks"):
        (tmp / name).symlink_to(REPO / name)
    env = dict(os.environ)
    env["WORLDSIM_SMOKE"] = "1"
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MPLBACKEND"] = "Agg"
    return env


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_page_blocks_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = _workdir(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WORLDSIM_SMOKE", "1")
    namespace: dict[str, object] = {"__name__": "__docs__"}
    ran = 0
    for block in blocks(page):
        if block.skip:
            continue
        if block.lang == "bash":
            proc = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", block.code],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            assert proc.returncode == 0, (
                f"{block.where} failed ({proc.returncode}):\n{block.code}\n"
                f"--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"
            )
        else:
            try:
                exec(compile(block.code, block.where, "exec"), namespace)  # noqa: S102
            except Exception as exc:
                raise AssertionError(f"{block.where} failed: {exc!r}\n{block.code}") from exc
        ran += 1
    if not any(not b.skip for b in blocks(page)):
        pytest.skip(f"{page.name} has no block that runs here")
    assert ran

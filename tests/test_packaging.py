"""A wheel built from the repo installs into a fresh venv and runs from another directory."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import time
import urllib.request
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run(cmd: list[str], cwd: Path) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.mark.slow
def test_wheel_installs_and_runs_from_another_directory(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(dist),
            str(REPO),
        ],
        cwd=tmp_path,
    )
    (wheel,) = dist.glob("worldsim-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "worldsim/conf/data_cli.yaml" in names
    assert "worldsim/conf/source/procedural.yaml" in names
    assert "worldsim/scenario_library/hard_braking.yaml" in names
    for name in ("model.safetensors", "model.json", "heads.safetensors", "heads.json"):
        assert f"worldsim/assets/pretrained/{name}" in names

    # A fresh venv gets the wheel; its third-party dependencies are borrowed from the test
    # environment through a .pth path entry (which does not pick up the editable checkout).
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    site = run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp_path
    ).strip()
    deps = sysconfig.get_paths()["purelib"]
    (Path(site) / "borrowed_deps.pth").write_text(deps + "\n")
    run([str(py), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)], cwd=tmp_path)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = run(
        [
            str(py),
            "-c",
            "import worldsim, worldsim.paths as p; "
            "from worldsim.env.scenarios import load_scenario; "
            "print(worldsim.__file__); print(p.config_dir()); "
            "print(load_scenario('hard_braking').source_path)",
        ],
        cwd=elsewhere,
    )
    module_file, conf, scenario = where.split()
    for path in (module_file, conf, scenario):
        assert path.startswith(str(env_dir)), path

    # The bundled model: the learned env with no argument, from another directory.
    shape = run(
        [
            str(py),
            "-c",
            "import gymnasium as gym, worldsim; env = gym.make('worldsim/DrivingWorld-v0'); "
            "obs, _ = env.reset(seed=0); obs, *_ = env.step(env.action_space.sample()); "
            "print(obs.shape, worldsim.load_world_model().metadata['checkpoint'])",
        ],
        cwd=elsewhere,
    )
    assert "(64, 112, 3)" in shape and str(env_dir) in shape, shape

    script = env_dir / "bin" / "worldsim-data"
    run(
        [str(script), "out=store", "episodes=2", "frames=6", "workers=1", "progress=false"],
        cwd=elsewhere,
    )
    assert (elsewhere / "store" / "manifest.json").is_file()
    assert len(list((elsewhere / "store" / "episodes").iterdir())) == 2

    # worldsim-play from the wheel: it serves its page (shipped in the package) from anywhere.
    assert "worldsim/play/static/index.html" in names and "worldsim/play/static/play.js" in names
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    play = subprocess.Popen(
        [str(env_dir / "bin" / "worldsim-play"), f"port={port}"],
        cwd=elsewhere,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert play.stdout is not None
        assert f"http://127.0.0.1:{port}/" in play.stdout.readline()
        page = ""
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    page = r.read().decode()
                break
            except OSError:
                time.sleep(0.2)
        assert "/static/play.js" in page
    finally:
        play.terminate()
        play.wait(timeout=30)

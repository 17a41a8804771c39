"""Episodes whose look and caption switch mid-way: source, store, clips and labels."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from worldsim.data.captions import SWITCH_KEY, caption_switch, window_captions
from worldsim.data.clips import ClipDataset
from worldsim.data.episode import Episode
from worldsim.data.labels import UNKNOWN, ConditionLabels
from worldsim.data.sources.procedural import ProceduralSource
from worldsim.data.store import EpisodeStore
from worldsim.data.store.writer import write_store
from worldsim.sim.conditions import TIMES_OF_DAY, WEATHERS, Conditions, sample_look_change
from worldsim.sim.world import World

FRAMES = 16


@pytest.fixture(scope="module")
def switch_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three procedural episodes, each with a mid-way switch of look."""
    root = tmp_path_factory.mktemp("switch") / "store"
    source = ProceduralSource(episodes=3, frames=FRAMES, seed=4, switch_prob=1.0)
    write_store(source, root, workers=1, val_fraction=0.34, progress=False)
    return root


def mean_colour(frame_HWC: np.ndarray) -> np.ndarray:
    return frame_HWC.reshape(-1, 3).astype(np.float64).mean(axis=0)


def test_every_episode_records_its_switch_and_its_look_changes_there() -> None:
    source = ProceduralSource(episodes=3, frames=FRAMES, seed=4, switch_prob=1.0)
    for key in source.keys():
        episode = source.load(key)
        switch = caption_switch(episode.extra, episode.num_frames, key)
        assert switch is not None
        assert FRAMES // 4 <= switch.frame < 3 * FRAMES // 4
        assert switch.caption != episode.caption
        before = {k: episode.conditions[k] for k in ("time_of_day", "weather")}
        assert switch.conditions != before
        assert switch.conditions["time_of_day"] in TIMES_OF_DAY
        assert switch.conditions["weather"] in WEATHERS
        f = switch.frame
        frames = episode.frames_THWC.astype(np.float64)
        jump = np.abs(frames[f] - frames[f - 1]).mean()
        steady = np.abs(frames[f - 1] - frames[f - 2]).mean()
        assert jump > 2 * steady, (key, jump, steady)  # the look changes at the switch frame


def test_switch_prob_zero_keeps_episodes_identical_to_before() -> None:
    plain = ProceduralSource(episodes=2, frames=8, seed=5)
    other = ProceduralSource(episodes=2, frames=8, seed=5, switch_prob=0.0)
    for key in plain.keys():
        a, b = plain.load(key), other.load(key)
        assert SWITCH_KEY not in a.extra
        np.testing.assert_array_equal(a.frames_THWC, b.frames_THWC)
    # A switched episode shares its road, traffic and drive with the plain one until it switches.
    switched = ProceduralSource(episodes=2, frames=8, seed=5, switch_prob=1.0).load(key)
    frame = switched.extra[SWITCH_KEY]["frame"]
    np.testing.assert_array_equal(switched.frames_THWC[:frame], a.frames_THWC[:frame])
    np.testing.assert_array_equal(switched.ego_motion_T2, a.ego_motion_T2)


def test_store_gives_the_caption_of_each_frame(switch_store: Path) -> None:
    store = EpisodeStore(switch_store)
    for key in store.keys():
        switch = store.caption_switch(key)
        assert switch is not None
        assert store.caption_at(key, 0) == store.caption(key)
        assert store.caption_at(key, switch.frame - 1) == store.caption(key)
        assert store.caption_at(key, switch.frame) == switch.caption
        assert store.caption_at(key, FRAMES - 1) == switch.caption


def test_clips_carry_first_and_last_caption_and_where_it_switches(switch_store: Path) -> None:
    store = EpisodeStore(switch_store)
    data = ClipDataset(switch_store, split=None, clip_len=6, stride=1)
    seen_switch = 0
    for i in range(len(data)):
        item = data[i]
        switch = store.caption_switch(item["key"])
        start = int(item["start"])
        assert item["caption_first"] == store.caption_at(item["key"], start)
        assert item["caption"] == store.caption_at(item["key"], start + 5)
        if start < switch.frame <= start + 5:
            seen_switch += 1
            assert item["switch_at"] == switch.frame - start
            assert item["caption_first"] != item["caption"]
        else:
            assert item["switch_at"] == 0
    assert seen_switch == 5 * len(store.keys())  # 5 windows of 6 frames hold each switch


def test_clip_labels_follow_the_switch(switch_store: Path) -> None:
    store = EpisodeStore(switch_store)
    labels = ConditionLabels(ClipDataset(switch_store, split=None, clip_len=4), switch_store)
    key = store.keys()[0]
    switch = store.caption_switch(key)
    before = labels.labels(key)
    after = (
        TIMES_OF_DAY.index(switch.conditions["time_of_day"]),
        WEATHERS.index(switch.conditions["weather"]),
    )
    assert labels.clip_labels(key, 0, switch.frame) == before
    assert labels.clip_labels(key, switch.frame, 4) == after
    across = labels.clip_labels(key, switch.frame - 1, 2)
    for b, a, got in zip(before, after, across, strict=True):
        assert got == (b if a == b else UNKNOWN)


def test_window_captions_without_a_switch() -> None:
    assert window_captions("day", None, 3, 5) == ("day", "day", 0)


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        ({"frame": 3, "caption": "x"}, "exactly the keys"),
        ({"frame": 0, "caption": "x", "conditions": {}}, "must be an int in 1..9"),
        ({"frame": 10, "caption": "x", "conditions": {}}, "must be an int in 1..9"),
        ({"frame": True, "caption": "x", "conditions": {}}, "must be an int"),
        ({"frame": 2, "caption": 5, "conditions": {}}, "'caption' must be a str"),
        ("frame 2", "must be a dict"),
    ],
)
def test_a_malformed_switch_is_refused_with_the_fix(entry: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Episode(
            key="ep",
            frames_THWC=np.zeros((10, 8, 8, 3), np.uint8),
            ego_motion_T2=np.zeros((10, 2), np.float32),
            ego_state_TK=np.zeros((10, 1), np.float32),
            ego_state_fields=("speed",),
            caption="day",
            source="test",
            dt=0.1,
            extra={SWITCH_KEY: entry},
        )


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_switch_prob_outside_zero_one_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match=f"switch_prob={bad} must be a share in"):
        ProceduralSource(episodes=1, frames=8, switch_prob=bad)


def test_a_switch_needs_another_look() -> None:
    with pytest.raises(ValueError, match="needs another look"):
        ProceduralSource(
            episodes=1, frames=8, switch_prob=0.5, time_of_day=["day"], weather=["clear"]
        )
    conditions = Conditions("day", "clear", 2, "straight", "light")
    with pytest.raises(ValueError, match="no other look"):
        sample_look_change(np.random.default_rng(0), conditions, ("day",), ("clear",))
    new = sample_look_change(np.random.default_rng(0), conditions, ("day", "night"), ("clear",))
    assert new.time_of_day == "night" and new.weather == "clear"


def test_change_look_refuses_a_new_road() -> None:
    world = World(seed=1, conditions=Conditions("day", "clear", 2, "straight", "light"))
    with pytest.raises(ValueError, match="only time_of_day and weather"):
        world.change_look(world.conditions.replace(lanes=3))
    world.change_look(world.conditions.replace(time_of_day="night"))
    assert world.conditions.time_of_day == "night"


def test_uniform_look_change_draws_every_other_look_alike() -> None:
    conditions = Conditions("dusk", "snow", 2, "straight", "light")
    rng = np.random.default_rng(0)
    draws = [sample_look_change(rng, conditions, how="uniform") for _ in range(2200)]
    looks = Counter((c.time_of_day, c.weather) for c in draws)
    others = {(t, w) for t in TIMES_OF_DAY for w in WEATHERS} - {("dusk", "snow")}
    assert set(looks) == others  # every other look, never the same one
    assert max(looks.values()) < 1.3 * min(looks.values())  # 200 each, give or take
    both = sum(n for (t, w), n in looks.items() if t != "dusk" and w != "snow")
    assert both / len(draws) == pytest.approx(6 / 11, abs=0.04)
    # the default draws each kind of change a third of the time: changes of both are rarer
    kind = [sample_look_change(rng, conditions) for _ in range(2200)]
    both_kind = sum(c.time_of_day != "dusk" and c.weather != "snow" for c in kind)
    assert both_kind / len(kind) == pytest.approx(1 / 3, abs=0.04)


def test_uniform_look_change_keeps_to_the_allowed_looks() -> None:
    conditions = Conditions("day", "clear", 2, "straight", "light")
    rng = np.random.default_rng(1)
    for _ in range(50):
        new = sample_look_change(rng, conditions, ("day", "night"), ("clear",), how="uniform")
        assert (new.time_of_day, new.weather) == ("night", "clear")


def test_an_unknown_look_change_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match=r"look_change='both' is unknown; choose one of"):
        ProceduralSource(episodes=1, frames=8, switch_prob=1.0, look_change="both")
    conditions = Conditions("day", "clear", 2, "straight", "light")
    with pytest.raises(ValueError, match=r"how='x' is unknown"):
        sample_look_change(np.random.default_rng(0), conditions, how="x")


def test_uniform_switch_episodes_record_the_drawn_look() -> None:
    source = ProceduralSource(
        episodes=6, frames=8, switch_prob=1.0, look_change="uniform", height=32, width=56
    )
    for key in source.keys():
        episode = source.load(key)
        switch = episode.extra[SWITCH_KEY]
        new = switch["conditions"]
        old = episode.conditions
        assert (new["time_of_day"], new["weather"]) != (old["time_of_day"], old["weather"])
        assert new["weather"] in switch["caption"] and new["time_of_day"] in switch["caption"]

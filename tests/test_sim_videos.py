"""The simulator's videos follow their prompt (lib/sim/media.py): scene, colours and motion come from the words."""
from __future__ import annotations

import io
import itertools
from functools import cache

import av
import numpy as np
import pytest

from lib.sim.media import render_video

WIDTH, HEIGHT = 320, 180


@cache
def frames(prompt: str, seed: int = 3, seconds: float = 2) -> np.ndarray:
    """Every decoded frame as (frames, height, width, 3) floats in 0..255."""
    mp4, _ = render_video(prompt, seconds, WIDTH, HEIGHT, seed)
    with av.open(io.BytesIO(mp4)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]).astype(float)


def mean_colour(video: np.ndarray, rows: slice = slice(None)) -> np.ndarray:
    return video[:, rows].reshape(-1, 3).mean(axis=0)


def motion(video: np.ndarray) -> float:
    """How much changes from one frame to the next, on average."""
    return float(np.mean(np.abs(np.diff(video, axis=0))))


SKY, BOTTOM = slice(HEIGHT // 4, HEIGHT // 2), slice(HEIGHT * 3 // 4, HEIGHT)  # the sky's lower half; the ground


@pytest.mark.parametrize("thing", ["car driving through the city", "balloon rising over a field", "boat on the sea"])
def test_the_colour_word_paints_the_thing(thing):
    red, blue, green = (mean_colour(frames(f"a {colour} {thing}")) for colour in ("red", "blue", "green"))
    assert red[0] - red[2] > blue[0] - blue[2] + 1  # redder than the blue one
    assert blue[2] - blue[1] > green[2] - green[1] + 1  # bluer than the green one
    assert green[1] - green[0] > red[1] - red[0] + 1


def test_a_sunset_sky_is_orange_a_noon_sky_blue_and_the_sea_blue_below_both():
    sunset, noon = frames("ocean waves at sunset"), frames("ocean waves at noon")
    sky_at_sunset, sky_at_noon = mean_colour(sunset, SKY), mean_colour(noon, SKY)
    assert sky_at_sunset[0] > sky_at_sunset[2] + 40 and sky_at_sunset[0] > sky_at_sunset[1] + 40  # orange
    assert sky_at_noon[2] > sky_at_noon[0] + 60  # blue
    for video in (sunset, noon):
        sea = mean_colour(video, BOTTOM)
        assert sea[2] > sea[0] + 40 and sea[2] > sea[1] + 20


@pytest.mark.parametrize("prompt, check", [
    ("a pine forest", lambda ground: ground[1] > ground[0] + 30 and ground[1] > ground[2] + 30),
    ("a snowy mountain in winter", lambda ground: ground.min() > 200),
    ("a desert of sand dunes", lambda ground: ground[0] > ground[2] + 60),
    ("a city street at night", lambda ground: ground.max() < 60),
])
def test_the_setting_shows_in_the_ground(prompt, check):
    assert check(mean_colour(frames(prompt), BOTTOM))


def test_night_is_darker_than_day():
    assert mean_colour(frames("a city at night")).mean() < mean_colour(frames("a city at noon")).mean() / 2


def test_motion_words_set_how_much_moves():
    racing, parked = frames("a red car racing fast through the city"), frames("a red car parked, still, in the city")
    assert motion(racing) > 2 * motion(parked)
    calm, rushing = frames("calm sea"), frames("waves rushing in on the sea")
    assert motion(rushing) > 2 * motion(calm)


def test_a_red_car_drives_across_the_picture():
    video = frames("a red car driving", seconds=2)

    def car_x(frame):  # the middle of the red pixels, or None while the car is off the picture
        red = (frame[..., 0] > 150) & (frame[..., 1] < 80) & (frame[..., 2] < 80)
        return np.nonzero(red)[1].mean() if red.sum() > 50 else None

    places = [car_x(frame) for frame in video]
    steps = np.array([after - before for before, after in itertools.pairwise(places)
                      if before is not None and after is not None and abs(after - before) < WIDTH / 4])  # not a wrap
    assert len(steps) > len(video) / 2 and np.all(steps >= 0) and steps.sum() > WIDTH / 4  # left to right


def test_rain_and_snow_fall():
    for prompt in ("rain over the city", "snow falling on a field"):
        assert motion(frames(prompt)) > motion(frames("a city street, still" if "city" in prompt else "a still field"))


def test_chinese_words_choose_the_scene_and_colour():
    red, blue = mean_colour(frames("红色的汽车在城市里")), mean_colour(frames("蓝色的汽车在城市里"))  # a red/blue car in the city
    assert red[0] - red[2] > blue[0] - blue[2] + 1
    road = mean_colour(frames("红色的汽车在城市里"), BOTTOM)
    assert road.max() - road.min() < 15 and road.max() < 120  # grey asphalt, not a field
    assert mean_colour(frames("海上日落"), SKY)[0] > mean_colour(frames("海"), SKY)[0] + 20  # sunset over the sea


def test_one_prompt_and_seed_make_one_video_and_another_seed_another():
    first, _ = render_video("a blue boat on the sea at sunset", 1, WIDTH, HEIGHT, seed=8)
    assert first == render_video("a blue boat on the sea at sunset", 1, WIDTH, HEIGHT, seed=8)[0]
    assert np.mean(np.abs(frames("a blue boat on the sea at sunset", 8, 1)[0]
                          - frames("a blue boat on the sea at sunset", 9, 1)[0])) > 3

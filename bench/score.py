"""Score mixdown: the time from a score's last part arriving to its muxed MP4 being playable, for a 16 s 1080p video.

The inputs are what the worker holds when a score's last part is archived: a 16 s 1920x1080 video of the
simulator with its own sound (native audio), the two timed-sound parts that cover it (WAVs of ~8.5 s from the
simulator's render_timeline, overlapping by a second) and a 10 s music bed. Timed: `lib.media.mixdown.render`
(read every sound, stitch, extend and duck the music, mix, normalise, write the WAV, the peaks and the MP4, decode
the MP4's sound to check it), then opening the MP4 and decoding its first video frame and its first audio frame,
the moment a player could start. Baseline, measured in the same run on the same video: a plain stream-copy remux
(every packet of both streams copied into a new MP4 with +faststart) with the same playable check. Each figure is
the median of a few runs, taken in turn.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import av

from lib.core.score import Mix
from lib.media import mixdown, video
from lib.sim import media

PROMPT = "a red car driving through the city at night"
EFFECTS = ([(1.0, 3.0, "car horn honking"), (4.5, 7.0, "footsteps on concrete")],
           [(1.5, 4.0, "glass breaking"), (5.0, 8.0, "police siren")])
PART_SECONDS = 8.5
MUSIC_SECONDS = 10.0


@dataclass(frozen=True)
class Result:
    seconds: float
    width: int
    height: int
    runs: int
    baseline: float  # median seconds: stream-copy remux to playable
    score: float  # median seconds: render to playable
    render: float  # median seconds of render alone
    rendered: mixdown.Rendered

    @property
    def ratio(self) -> float:
        return self.score / self.baseline


def _playable(path: Path) -> None:
    """Open the MP4 and decode its first video frame and its first audio frame, as a player does to start."""
    wanted = {"video", "audio"}
    with av.open(str(path)) as container:
        for packet in container.demux():
            if packet.stream.type in wanted and packet.decode():
                wanted.discard(packet.stream.type)
            if not wanted:
                return
    raise RuntimeError(f"{path.name} has no {' or '.join(sorted(wanted))} to play")


def _remux(source: Path, out: Path) -> None:
    """Every packet of every stream copied into a new MP4, as it is."""
    with av.open(str(source)) as inside, av.open(str(out), "w", format="mp4",
                                                  options={"movflags": "+faststart"}) as outside:
        streams = {stream.index: outside.add_stream_from_template(stream) for stream in inside.streams
                   if stream.type in ("video", "audio")}
        for packet in inside.demux():
            if packet.size and packet.stream.index in streams:
                packet.stream = streams[packet.stream.index]
                outside.mux(packet)


def inputs(folder: Path, seconds: float, resolution: str) -> tuple[Path, list[tuple[float, Path]], list[float], Path]:
    """The video, the effects parts with their starts, the crossfade centres and the music bed, written to `folder`."""
    width, height = media.video_size(resolution, "16:9")
    source = folder / "video.mp4"
    source.write_bytes(media.render_video(PROMPT, seconds, width, height, 7, ambience=True)[0])
    second_start = max(0.0, seconds - PART_SECONDS)
    parts = []
    for index, (start, events) in enumerate(zip((0.0, second_start), EFFECTS)):
        length = min(PART_SECONDS, seconds)
        path = folder / f"part{index + 1}.wav"
        path.write_bytes(media.encode_wav(media.render_timeline(
            [(begin, min(end, length), prompt) for begin, end, prompt in events if begin < length], length, index)))
        parts.append((start, path))
    cuts = [(second_start + min(PART_SECONDS, seconds)) / 2]  # the middle of the parts' overlap
    music = folder / "music.mp3"
    music.write_bytes(media.encode_mp3(media.render_sound("calm piano music", MUSIC_SECONDS, 3)))
    return source, parts, cuts, music


def run(runs: int = 5, seconds: float = 16.0, resolution: str = "1080p") -> Result:
    with tempfile.TemporaryDirectory(prefix="cue-bench-score-") as name:
        folder = Path(name)
        source, parts, cuts, music = inputs(folder, seconds, resolution)
        facts = video.probe(source)
        baseline, score, render = [], [], []
        for number in range(runs):
            began = time.perf_counter()
            copy = folder / f"copy-{number}.mp4"
            _remux(source, copy)
            _playable(copy)
            baseline.append(time.perf_counter() - began)
            outputs = [folder / f"score-{number}{suffix}" for suffix in (".mp4", ".wav", "-peaks.json")]
            began = time.perf_counter()
            rendered = mixdown.render(source, facts, parts, cuts, music, Mix(), *outputs)
            render.append(time.perf_counter() - began)
            _playable(outputs[0])
            score.append(time.perf_counter() - began)
    return Result(facts.duration, facts.width, facts.height, runs, statistics.median(baseline),
                  statistics.median(score), statistics.median(render), rendered)


def markdown(result: Result) -> list[str]:
    size = f"{result.seconds:g} s {result.width}x{result.height}"
    rendered = result.rendered
    return [f"### Score mixdown: last part to playable MP4 ({size} video, median of {result.runs} runs)", "",
            "| from the last part arriving to … | median (s) | × baseline |", "|---|---:|---:|",
            f"| a plain stream-copy remux of the video being playable (baseline) | {result.baseline:.3f} | 1.00 |",
            f"| the score's MP4 being playable (render, then its first video and audio frames) | {result.score:.3f} | "
            f"{result.ratio:.2f} |", "",
            f"Of which `mixdown.render`: {result.render:.3f} s (three layers: the video's own sound, two effects parts "
            f"of {min(PART_SECONDS, result.seconds):g} s, a {MUSIC_SECONDS:g} s music bed, ducked). "
            f"The mix: {rendered.loudness:.1f} LUFS (target {rendered.target:g}), true peak "
            f"{rendered.true_peak:.1f} dBTP, picture {rendered.video_codec} copied, sound {rendered.sound_seconds:g} s "
            f"for {rendered.video_seconds:g} s of picture."]


if __name__ == "__main__":
    print("\n".join(markdown(run())))

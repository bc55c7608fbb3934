// A page of History's list as one component (lib/ui/tasks.library_rows): the groups' header lines, a row per
// take with a mini waveform drawn from its stored peaks, and ONE shared <audio> playing the signed link of the
// row whose play button was pressed. All text is set with textContent: prompts are the person's (or an
// import's), never parsed as HTML. The chosen takes go back as the "chosen" state, a star toggle as "star".
const lists = new WeakMap(); // root element -> {signature, sent, audio, playing}
const WAVE_WIDTH = 160;
const WAVE_HEIGHT = 28;
const KEPT_PEAKS = 200; // peaks files kept fetched: a page redrawn after a star or a choice fetches none again
const fetched = new Map(); // signed peaks link -> promise of its peaks

function peaksAt(link) {
  if (!fetched.has(link)) {
    if (fetched.size >= KEPT_PEAKS) fetched.clear();
    fetched.set(link, fetch(link, { credentials: "same-origin" })
      .then((answer) => (answer.ok ? answer.json() : {}))
      .then((stored) => (Array.isArray(stored.peaks) ? stored.peaks : []))
      .catch(() => []));
  }
  return fetched.get(link);
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function same(a, b) {
  return a.length === b.length && a.every((value, index) => value === b[index]);
}

function chosenIn(root) {
  return [...root.querySelectorAll("input.cue-list-pick:checked")].map((box) => box.value);
}

async function drawWave(canvas, link) {
  // The stored peaks are min, max pairs per bin: one bar per pixel column, the largest magnitude in it.
  const context = canvas.getContext("2d");
  const middle = WAVE_HEIGHT / 2;
  context.fillStyle = "#9aa5b1";
  context.fillRect(0, middle, WAVE_WIDTH, 1);
  if (!link) return;
  const peaks = await peaksAt(link);
  if (!peaks.length) return;
  const step = peaks.length / WAVE_WIDTH;
  context.clearRect(0, 0, WAVE_WIDTH, WAVE_HEIGHT);
  for (let x = 0; x < WAVE_WIDTH; x += 1) {
    let loudest = 0;
    for (let i = Math.floor(x * step); i < Math.max(Math.floor((x + 1) * step), Math.floor(x * step) + 1); i += 1) {
      const value = Math.abs(Number(peaks[i]) || 0);
      if (value > loudest) loudest = value;
    }
    const half = Math.max(0.5, Math.min(loudest, 1) * middle);
    context.fillRect(x, middle - half, 1, half * 2);
  }
  canvas.dataset.drawn = "1";
}

function playButton(take, entry) {
  const play = element("button", "cue-list-play", "▶");
  play.type = "button";
  play.setAttribute("aria-label", "Play");
  play.addEventListener("click", () => {
    const { audio } = entry;
    if (entry.playing === take.id && !audio.paused) { audio.pause(); return; }
    if (entry.playing !== take.id) {
      audio.src = take.sound.src;
      entry.playing = take.id;
    }
    audio.play().catch(() => {});
  });
  return play;
}

function row(take, entry, sendChosen) {
  const line = element("div", "cue-list-row");
  line.dataset.take = take.id;
  const pick = element("input", "cue-list-pick");
  pick.type = "checkbox";
  pick.value = take.id;
  pick.disabled = !take.choosable;
  const label = [take.prompt, take.vendor, take.facts, take.starred ? "★" : "", take.kept ? "kept" : "", take.state];
  pick.setAttribute("aria-label", label.filter(Boolean).join(" · "));
  pick.addEventListener("change", sendChosen);
  line.append(pick);
  const sound = element("div", "cue-list-sound");
  if (take.sound) {
    sound.append(playButton(take, entry));
    const wave = element("div", "cue-list-wave");
    const canvas = element("canvas");
    canvas.width = WAVE_WIDTH;
    canvas.height = WAVE_HEIGHT;
    const cursor = element("div", "cue-list-cursor");
    wave.append(canvas, cursor);
    wave.addEventListener("click", (event) => {
      // A click on the playing row's waveform seeks there.
      const { audio } = entry;
      if (entry.playing !== take.id || !audio.duration) return;
      const box = wave.getBoundingClientRect();
      audio.currentTime = Math.min(Math.max((event.clientX - box.left) / box.width, 0), 1) * audio.duration;
    });
    sound.append(wave);
    drawWave(canvas, take.sound.peaks).catch(() => {});
  }
  line.append(sound);
  const text = element("div", "cue-list-text");
  text.append(element("span", "cue-list-prompt", take.prompt));
  text.append(element("span", "cue-list-facts", [take.vendor, take.facts].filter(Boolean).join(" · ")));
  line.append(text);
  const star = element("button", `cue-list-star${take.starred ? " cue-on" : ""}`, take.starred ? "★" : "☆");
  star.type = "button";
  star.setAttribute("aria-label", take.starred ? "Unstar" : "Star");
  star.setAttribute("aria-pressed", String(Boolean(take.starred)));
  star.disabled = !take.choosable;
  star.addEventListener("click", () => entry.trigger("star", take.id));
  line.append(star);
  line.append(element("span", "cue-list-kept", take.kept ? "Kept" : ""));
  line.append(element("span", `cue-list-state cue-${take.color}`, take.state));
  return line;
}

function follow(entry, root) {
  // The playing row's button and cursor follow the shared player.
  const { audio } = entry;
  const shown = () => {
    root.querySelectorAll(".cue-list-row").forEach((line) => {
      const mine = line.dataset.take === entry.playing;
      const play = line.querySelector(".cue-list-play");
      const cursor = line.querySelector(".cue-list-cursor");
      const playing = mine && !audio.paused;
      if (play) {
        play.textContent = playing ? "❚❚" : "▶";
        play.setAttribute("aria-label", playing ? "Pause" : "Play");
      }
      if (cursor) {
        const at = mine && audio.duration ? audio.currentTime / audio.duration : 0;
        cursor.style.left = `${Math.min(Math.max(at, 0), 1) * 100}%`;
        cursor.hidden = !mine;
        line.dataset.currentTime = mine ? audio.currentTime.toFixed(3) : "0";
      }
    });
  };
  ["play", "pause", "timeupdate", "seeked", "ended"].forEach((name) => audio.addEventListener(name, shown));
  entry.shown = shown;
}

export default function ({ data, parentElement, setStateValue, setTriggerValue }) {
  const groups = Array.isArray(data.groups) ? data.groups : [];
  const chosen = Array.isArray(data.chosen) ? data.chosen : [];
  const signature = JSON.stringify(groups);
  let root = parentElement.querySelector(".cue-list");
  if (!root) {
    root = element("div", "cue-list");
    root.dataset.testid = "cue-library-list";
    // The page's own media element, outside any shadow root, shared by every row.
    const audio = element("audio");
    audio.preload = "none";
    audio.hidden = true;
    parentElement.append(root, audio);
    const entry = { signature: null, sent: chosen, echoes: [], audio, playing: null };
    lists.set(root, entry);
    follow(entry, root);
  }
  const entry = lists.get(root);
  entry.trigger = setTriggerValue;
  entry.setState = setStateValue;
  const sendChosen = () => {
    entry.sent = chosenIn(root);
    entry.echoes.push(JSON.stringify(entry.sent));
    entry.setState("chosen", entry.sent);
  };
  if (entry.signature !== signature) {
    entry.signature = signature;
    const still = groups.some((group) => (group.takes || []).some((take) => take.id === entry.playing));
    if (!still && entry.playing) { entry.audio.pause(); entry.audio.removeAttribute("src"); entry.playing = null; }
    const nodes = [];
    groups.forEach((group) => {
      nodes.push(element("div", "cue-list-header", group.header));
      (group.takes || []).forEach((take) => nodes.push(row(take, entry, sendChosen)));
    });
    root.replaceChildren(...nodes);
    entry.shown();
  }
  // A choice this browser sent earlier, coming back from a run that began before its later clicks, is stale: the
  // boxes keep what was ticked since. Any other choice is the studio's (hidden or deleted takes are no longer
  // chosen): the boxes and the component's state follow it.
  const stale = entry.echoes.includes(JSON.stringify(chosen));
  if (!stale && !same(chosen, entry.sent)) {
    entry.sent = chosen;
    entry.echoes = [];
    entry.setState("chosen", chosen);
  }
  root.querySelectorAll("input.cue-list-pick").forEach((box) => { box.checked = entry.sent.includes(box.value); });
  root.dataset.ready = "1";
}

// The waveform player (lib/ui/waveform.py): wavesurfer.js drawn from the stored peaks, playing the signed link in
// a media element (the browser fetches the audio itself; nothing of it crosses the websocket). Timed events are
// lanes under the waveform on the same time axis; the spectrogram is drawn on request from the same link. In video
// mode the media element is a visible <video> above the waveform: picture, sound and lanes on one time axis.
const instances = new WeakMap(); // root element -> {wave, signature}

function clock(seconds) {
  const whole = Math.max(0, seconds || 0);
  return `${Math.floor(whole / 60)}:${(whole % 60).toFixed(1).padStart(4, "0")}`;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text; // prompts are the person's text: never parsed as HTML
  return node;
}

async function build(root, data) {
  const [{ default: WaveSurfer }, { default: Regions }] = await Promise.all([
    import(`${data.lib}/wavesurfer.esm.js`), import(`${data.lib}/regions.esm.js`)]);
  const stored = await (await fetch(data.peaks, { credentials: "same-origin" })).json();
  const duration = Number(stored.duration) || data.duration || 0;
  const bar = element("div", "cue-bar");
  const play = element("button", "cue-play", "▶");
  play.type = "button";
  play.setAttribute("aria-label", "Play");
  bar.append(play);
  const time = element("span", "cue-time", `${clock(0)} / ${clock(duration)}`);
  if (!data.compact) bar.append(time);
  const waveBox = element("div", "cue-wave");
  // The page's own media element, in the document like any player's (its events reach page listeners).
  const media = element(data.video ? "video" : "audio", data.video ? "cue-video" : undefined);
  media.preload = "metadata";
  media.hidden = !data.video;
  if (data.video) {
    media.playsInline = true;
    media.addEventListener("click", () => wave.playPause()); // the picture plays and pauses like the button
  }
  root.append(media);
  const regions = Regions.create();
  const wave = WaveSurfer.create({
    container: waveBox, media, url: data.src, peaks: [Float32Array.from(stored.peaks || [])], duration,
    height: data.compact ? 40 : 96, waveColor: "#9aa5b1", progressColor: "#ff4b4b", cursorColor: "#262730",
    cursorWidth: 2, normalize: false, dragToSeek: true, plugins: data.events.length ? [regions] : [],
  });
  root.dataset.currentTime = "0";
  const shown = () => {
    const now = wave.getCurrentTime();
    root.dataset.currentTime = now.toFixed(3);
    time.textContent = `${clock(now)} / ${clock(duration)}`;
  };
  wave.on("timeupdate", shown);
  wave.on("interaction", shown);
  wave.on("play", () => { play.textContent = "❚❚"; play.setAttribute("aria-label", "Pause"); });
  wave.on("pause", () => { play.textContent = "▶"; play.setAttribute("aria-label", "Play"); });
  play.addEventListener("click", () => wave.playPause());
  root.append(bar, waveBox);
  if (data.events.length) {
    // Laid out by the studio (lib/core/timeline.lane_layout), as in the timeline editor: one lane per event.
    const box = element("div", "cue-lanes");
    box.style.height = `${(Math.max(...data.events.map((event) => event.lane)) + 1) * 22}px`;
    data.events.forEach((event) => {
      const span = duration || 1;
      const [first, last] = event.draw;
      const left = Math.min(Math.max(first / span, 0), 1);
      const right = Math.min(Math.max(last / span, 0), 1);
      const item = element("div", `cue-event${event.invalid ? " cue-outside" : ""}`, event.label);
      item.title = `${event.from}–${event.to} s: ${event.prompt}`;
      item.dataset.from = event.from;
      item.dataset.to = event.to;
      Object.assign(item.style, { left: `${left * 100}%`, width: `${Math.max(right - left, 0.005) * 100}%`,
        top: `${event.lane * 22}px` });
      box.append(item);
      regions.addRegion({ start: Math.max(first, 0), end: Math.min(last, span), drag: false,
        resize: false, color: "rgba(255, 75, 75, 0.08)" });
    });
    root.append(box);
  }
  if (!data.compact) {
    const toggle = element("button", "cue-toggle", "Spectrogram");
    toggle.type = "button";
    bar.append(toggle);
    toggle.addEventListener("click", () => spectrogram(root, data, WaveSurfer, toggle));
  }
  root.dataset.ready = "1";
  return wave;
}

async function spectrogram(root, data, WaveSurfer, toggle) {
  const shown = root.querySelector(".cue-spectrogram");
  if (shown) { shown.hidden = !shown.hidden; return; }
  const box = element("div", "cue-spectrogram");
  root.append(box);
  toggle.disabled = true;
  // A second, silent instance decodes the audio (fetched by the browser from the signed link) for the plugin.
  const { default: Spectrogram } = await import(`${data.lib}/spectrogram.esm.js`);
  const plugin = Spectrogram.create({ height: 128, labels: true, useWebWorker: false });
  const decoder = WaveSurfer.create({ container: box, url: data.src, height: 12, interact: false,
    waveColor: "#d0d4da", progressColor: "#d0d4da", cursorWidth: 0, plugins: [plugin] });
  plugin.on("ready", () => { box.dataset.ready = "1"; toggle.disabled = false; });
  decoder.on("error", () => { box.textContent = "The spectrogram could not be drawn."; toggle.disabled = false; });
  instances.get(root).extra = decoder;
}

// Without its script or its peaks the result still plays: the browser's own player on the same signed link.
function plainPlayer(root, data) {
  const media = element(data.video ? "video" : "audio", "cue-plain");
  media.controls = true;
  media.preload = "metadata";
  media.src = data.src;
  root.replaceChildren(element("div", "cue-note", "The waveform could not be drawn; it plays here without it."),
    media);
  root.dataset.ready = "plain";
}

export default function ({ data, parentElement }) {
  const signature = JSON.stringify(data);
  let root = parentElement.querySelector(".cue-player");
  const current = root && instances.get(root);
  if (!current || current.signature !== signature) {
    if (current) current.dispose();
    root?.remove();
    root = element("div", `cue-player${data.compact ? " cue-compact" : ""}`);
    root.dataset.testid = "cue-waveform";
    root.dataset.src = data.src; // the signed link it plays (already in the page's data): for tests and tools
    parentElement.append(root);
    const entry = { signature, wave: null, extra: null, dispose() {
      this.gone = true;
      this.wave?.destroy();
      this.extra?.destroy();
    } };
    instances.set(root, entry);
    build(root, data).then((wave) => { if (entry.gone) wave.destroy(); else entry.wave = wave; })
      .catch(() => { if (!entry.gone) plainPlayer(root, data); });
  }
  const mine = root;
  // A rerun with the same data mounts again right after this cleanup: keep playing unless the player is gone.
  return () => setTimeout(() => {
    const entry = instances.get(mine);
    if (entry && (!mine.isConnected || !parentElement.contains(mine))) entry.dispose();
  }, 0);
}

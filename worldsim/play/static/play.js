// worldsim-play: drive the learned world. One step is requested at a time, at most at the
// env's rate; the server answers each with the next frame.
"use strict";

const held = { left: false, right: false, up: false, down: false };
const KEYS = {
  ArrowLeft: "left", a: "left", A: "left",
  ArrowRight: "right", d: "right", D: "right",
  ArrowUp: "up", w: "up", W: "up",
  ArrowDown: "down", s: "down", S: "down",
};
const $ = (id) => document.getElementById(id);
const state = {
  socket: null, rateHz: 10, paused: false, waiting: false, lastSent: 0,
  frames: 0, lastFrame: null, recent: [], errors: [], bookmarks: [],
};
window.worldsimPlay = state; // read by the browser test

function action() {
  const steer = (held.left ? 1 : 0) - (held.right ? 1 : 0); // > 0 turns left
  const accel = (held.up ? 1 : 0) - (held.down ? 1 : 0);
  return { steer, accel };
}

function send(message) {
  if (state.socket && state.socket.readyState === WebSocket.OPEN) {
    state.socket.send(typeof message === "string" ? message : JSON.stringify(message));
  }
}

function requestStep() {
  if (state.paused || state.waiting || !state.socket) return;
  const wait = 1000 / state.rateHz - (performance.now() - state.lastSent);
  if (wait > 0) { setTimeout(requestStep, wait); return; }
  state.waiting = true;
  state.lastSent = performance.now();
  send({ type: "step", ...action() });
}

function showFrame(msg) {
  $("frame").src = msg.image;
  $("truth-view").hidden = !msg.truth;
  if (msg.truth) $("truth").src = msg.truth;
  $("speed").textContent = msg.speed.toFixed(2);
  $("yaw").textContent = msg.yaw_rate.toFixed(3);
  $("step").textContent = msg.step;
  $("fps").textContent = msg.fps.toFixed(1);
  $("prompt").textContent = msg.prompt;
  $("scenario").textContent = msg.scenario;
  if (msg.event) $("event").textContent = msg.event;
  $("record").classList.toggle("on", msg.recording);
  $("record").textContent = msg.recording ? "stop recording" : "record";
  if (msg.recording_url) {
    $("download").href = msg.recording_url;
    $("download").download = msg.recording_url.split("/").pop();
    $("download").hidden = false;
  }
  renderBookmarks(msg.bookmarks);
  state.frames += 1;
  state.lastFrame = msg;
  state.recent.push(msg);
  if (state.recent.length > 64) state.recent.shift();
}

function renderBookmarks(steps) {
  const box = $("bookmarks");
  if (JSON.stringify(steps) === JSON.stringify(state.bookmarks)) return;
  state.bookmarks = steps;
  box.replaceChildren(...steps.map((step, id) => {
    const b = document.createElement("button");
    b.textContent = `↺ ${id} (step ${step})`;
    b.dataset.bookmark = id;
    b.addEventListener("click", () => send({ type: "rewind", id }));
    return b;
  }));
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws`);
  state.socket = socket;
  socket.onopen = () => { $("status").textContent = "loading the world model…"; };
  socket.onclose = () => { $("status").textContent = "disconnected (reload to start again)"; };
  socket.onmessage = (event) => {
    const msg = JSON.parse(event.data);
    if (msg.type === "hello") {
      state.rateHz = msg.rate_hz;
      $("status").textContent = `session ${msg.session}`;
      $("prompt-text").maxLength = msg.max_prompt_chars;
      $("scenarios").replaceChildren(...msg.scenarios.map((name) => new Option(name, name)));
      $("presets").replaceChildren(...Object.entries(msg.presets).map(([name, text]) => {
        const b = document.createElement("button");
        b.textContent = name;
        b.dataset.preset = name;
        b.addEventListener("click", () => send({ type: "prompt", text }));
        return b;
      }));
    } else if (msg.type === "frame") {
      showFrame(msg);
      $("error").textContent = "";
      if (msg.scenario && msg.reply !== "step") $("scenarios").value = msg.scenario;
      if (msg.reply === "step" || msg.reply === undefined) { state.waiting = false; }
      requestStep();
    } else if (msg.type === "error") {
      state.errors.push(msg.message);
      $("error").textContent = msg.message;
      if (msg.reply === "step") state.waiting = false;
      requestStep();
    }
  };
}

function setHeld(name, value) {
  held[name] = value;
  document.querySelectorAll(`[data-key="${name}"]`).forEach((b) => b.classList.toggle("held", value));
}

document.addEventListener("keydown", (e) => {
  if (e.target.tagName === "INPUT") return;
  if (e.key === " ") { $("pause").click(); e.preventDefault(); return; }
  const name = KEYS[e.key];
  if (name) { setHeld(name, true); e.preventDefault(); }
});
document.addEventListener("keyup", (e) => {
  const name = KEYS[e.key];
  if (name) setHeld(name, false);
});
document.querySelectorAll("[data-key]").forEach((b) => {
  const name = b.dataset.key;
  b.addEventListener("pointerdown", (e) => { setHeld(name, true); b.setPointerCapture(e.pointerId); });
  b.addEventListener("pointerup", () => setHeld(name, false));
  b.addEventListener("pointercancel", () => setHeld(name, false));
});
$("pause").addEventListener("click", () => {
  state.paused = !state.paused;
  $("pause").classList.toggle("on", state.paused);
  if (!state.paused) requestStep();
});
$("prompt-form").addEventListener("submit", (e) => {
  e.preventDefault();
  send({ type: "prompt", text: $("prompt-text").value });
});
$("restart").addEventListener("click", () => send({ type: "restart", scenario: $("scenarios").value }));
$("bookmark").addEventListener("click", () => send({ type: "bookmark" }));
$("record").addEventListener("click", () => send({ type: "record", on: !state.lastFrame.recording }));
window.worldsimPlaySend = send; // lets a test send raw (even malformed) messages
connect();

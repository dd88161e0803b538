// The drawing page: draw on the pad (pointer events: mouse, pen, touch) or drop a photo;
// the image goes to POST /predict, debounced while drawing, and the answer is shown as the
// predicted class, one bar per class, and the 28x28 image the network received.
"use strict";

const DEBOUNCE_MS = 150; // wait this long after the last stroke move before asking
const STROKE_WIDTH = 18; // on a 280 px pad: about MNIST's 2-3 px once scaled to 28

const pad = document.getElementById("pad");
const ctx = pad.getContext("2d");
const dropzone = document.getElementById("dropzone");
const fileInput = document.getElementById("file");
const predictionEl = document.getElementById("prediction");
const errorEl = document.getElementById("error");
const barsEl = document.getElementById("bars");
const seenEl = document.getElementById("seen");
const idleEl = document.getElementById("idle");

let drawing = false;
let hasInk = false;
let timer = null;
let latestRequest = 0; // answers to older requests than this are dropped
let classNames = []; // from GET /info
let idleText = ""; // what to do first, shown until the first answer

function clearPad() {
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, pad.width, pad.height);
  hasInk = false;
}

function padPoint(event) {
  const rect = pad.getBoundingClientRect();
  return [
    (event.clientX - rect.left) * (pad.width / rect.width),
    (event.clientY - rect.top) * (pad.height / rect.height),
  ];
}

pad.addEventListener("pointerdown", (event) => {
  drawing = true;
  pad.setPointerCapture(event.pointerId);
  const [x, y] = padPoint(event);
  ctx.beginPath();
  ctx.moveTo(x, y);
  ctx.lineTo(x, y); // a click alone leaves a dot
  ctx.stroke();
  hasInk = true;
});

pad.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  const [x, y] = padPoint(event);
  ctx.lineTo(x, y);
  ctx.stroke();
  schedulePrediction();
});

function endStroke() {
  if (!drawing) return;
  drawing = false;
  window.clearTimeout(timer);
  predictPad();
}
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);

function schedulePrediction() {
  window.clearTimeout(timer);
  timer = window.setTimeout(predictPad, DEBOUNCE_MS);
}

function predictPad() {
  if (!hasInk) return;
  pad.toBlob((blob) => predict(blob, "image/png"), "image/png");
}

async function predict(body, contentType) {
  const request = ++latestRequest;
  let answer;
  try {
    const response = await fetch("predict", { method: "POST", headers: { "Content-Type": contentType }, body });
    answer = await response.json();
  } catch (err) {
    answer = { error: `the server did not answer (${err})` };
  }
  if (request !== latestRequest) return;
  if (answer.error) {
    showError(answer.error);
  } else {
    showAnswer(answer);
  }
}

function showError(message) {
  errorEl.textContent = message;
  predictionEl.textContent = "?";
}

function showAnswer(answer) {
  errorEl.textContent = "";
  idleEl.textContent = "";
  predictionEl.textContent = answer.predicted;
  seenEl.src = answer.input;
  drawBars(answer.classes, answer.probabilities, answer.index);
}

function drawBars(classes, probabilities, top) {
  barsEl.replaceChildren(
    ...classes.map((name, i) => {
      const row = document.createElement("div");
      row.className = i === top ? "bar top" : "bar";
      row.dataset.probability = probabilities[i];
      const label = document.createElement("span");
      label.className = "label";
      label.textContent = name;
      const track = document.createElement("span");
      track.className = "track";
      const fill = document.createElement("span");
      fill.className = "fill";
      fill.style.width = `${(100 * probabilities[i]).toFixed(1)}%`;
      track.append(fill);
      const value = document.createElement("span");
      value.className = "value";
      value.textContent = `${(100 * probabilities[i]).toFixed(1)}%`;
      row.append(label, track, value);
      return row;
    }),
  );
}

function resetAnswer() {
  latestRequest++;
  predictionEl.textContent = "–";
  idleEl.textContent = idleText;
  errorEl.textContent = "";
  seenEl.removeAttribute("src");
  drawBars(classNames, classNames.map(() => 0), -1);
}

document.getElementById("clear").addEventListener("click", () => {
  clearPad();
  resetAnswer();
});

// A photo is sent as it is (full resolution) and shown on the pad, fitted, centred and upright:
// a phone photo's EXIF orientation is applied, as the server applies it before predicting.
async function usePhoto(file) {
  if (!file) return;
  predict(file, file.type || "application/octet-stream");
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch (err) {
    return; // not an image the browser decodes: the server's answer says what is wrong
  }
  clearPad();
  const scale = Math.min(pad.width / bitmap.width, pad.height / bitmap.height);
  const w = bitmap.width * scale;
  const h = bitmap.height * scale;
  ctx.drawImage(bitmap, (pad.width - w) / 2, (pad.height - h) / 2, w, h);
  bitmap.close();
}

fileInput.addEventListener("change", () => usePhoto(fileInput.files[0]));
dropzone.addEventListener("dragover", (event) => {
  event.preventDefault();
  dropzone.classList.add("dragging");
});
dropzone.addEventListener("dragleave", () => dropzone.classList.remove("dragging"));
dropzone.addEventListener("drop", (event) => {
  event.preventDefault();
  dropzone.classList.remove("dragging");
  usePhoto(event.dataTransfer.files[0]);
});

// The page speaks of what the model reads: digits for MNIST-like models, else its own classes.
function describeModel(info) {
  const [channels, height, width] = info.input_shape;
  const examples = info.classes.slice(0, 3).join(", ");
  const title = info.handwriting ? "Draw a digit" : `Show ${info.model} a picture`;
  document.title = `scratchnet: ${info.handwriting ? "draw a digit" : info.model}`;
  document.getElementById("title").textContent = title;
  document.getElementById("seen-title").textContent = `What it saw (${width}×${height})`;
  document.getElementById("hint").textContent = info.handwriting
    ? "Draw with the mouse or a finger, or drop a photo of one digit on the pad."
    : `Drop a photo (${examples}, …) on the pad, or draw one in white on black.`;
  idleText = info.handwriting
    ? "Nothing yet: draw a digit on the black pad and the prediction appears here, with all ten probabilities."
    : `Nothing yet: drop a picture of one of the ${info.classes.length} classes below and the prediction ` +
      `appears here (the model was trained on ${info.dataset}, ${channels === 1 ? "gray" : "colour"} ` +
      `${width}×${height} images).`;
}

async function loadInfo() {
  const modelEl = document.getElementById("model");
  try {
    const info = await (await fetch("info")).json();
    classNames = info.classes;
    describeModel(info);
    modelEl.textContent = `model: ${info.model} · classes: ${info.classes.join(" ")}`;
    resetAnswer();
  } catch (err) {
    modelEl.textContent = `could not reach the server (${err})`;
  }
}

// The network's structure from GET /structure: one row per layer call, nested ones indented.
async function loadStructure() {
  const details = document.getElementById("structure");
  try {
    const response = await fetch("structure");
    if (!response.ok) throw new Error((await response.json()).error);
    const structure = await response.json();
    const body = details.querySelector("tbody");
    for (const layer of structure.layers.slice(1)) { // the first row is the model itself
      const row = body.insertRow();
      row.insertCell().textContent = layer.layer;
      row.cells[0].style.paddingLeft = `${layer.depth - 0.5}rem`;
      row.insertCell().textContent = layer.output_shape.join("×");
      row.insertCell().textContent = layer.parameters ? layer.parameters.toLocaleString("en") : "";
    }
    details.querySelector("summary").textContent +=
      ` (${structure.total_parameters.toLocaleString("en")} parameters)`;
  } catch (err) {
    details.hidden = true; // a model that does not show its layers: nothing to open
  }
}

ctx.lineWidth = STROKE_WIDTH;
ctx.lineCap = "round";
ctx.lineJoin = "round";
ctx.strokeStyle = "#fff";
clearPad();
loadInfo();
loadStructure();

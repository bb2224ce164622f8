// The physician's review page: four pictures rendered by the node (one pixel per voxel,
// stretched to their physical aspect), the findings with their figures, and every
// correction sent as one step of /api/jobs/{id}/review/steps. No framework, no CDN.
"use strict";

const job = document.body.dataset.job;
const base = "/api/jobs/" + job + "/review";
const PLANES = ["axial", "coronal", "sagittal", "mip"];
const SCALE_MM = 0.75; // picture pixels per mm of patient
let state = null;
let selected = null;
let cursor = [0, 0, 0]; // [z, y, x]
let version = 0;
let addingOrgan = null; // the organ the next click on a picture adds

function status(text) {
  document.getElementById("status").textContent = text;
}

function mode() {
  return document.querySelector("input[name=mode]:checked").value;
}

function sliceOf(plane) {
  return { axial: cursor[0], coronal: cursor[1], sagittal: cursor[2], mip: 0 }[plane];
}

function pixelMm(plane) {
  const [z, y, x] = state.spacing_zyx_mm;
  return { axial: [y, x], coronal: [z, x], sagittal: [z, y], mip: [z, x] }[plane];
}

function pictureSize(plane) {
  const [nz, ny, nx] = state.shape_zyx;
  return { axial: [ny, nx], coronal: [nz, nx], sagittal: [nz, ny], mip: [nz, nx] }[plane];
}

function drawPictures() {
  const low = document.getElementById("window-low").value;
  const high = document.getElementById("window-high").value;
  for (const plane of PLANES) {
    const img = document.getElementById("pic-" + plane);
    const [rows, cols] = pictureSize(plane);
    const [rowMm, colMm] = pixelMm(plane);
    img.style.width = Math.round(cols * colMm * SCALE_MM) + "px";
    img.style.height = Math.round(rows * rowMm * SCALE_MM) + "px";
    const query = new URLSearchParams({ plane: plane, index: sliceOf(plane), low: low,
                                        high: high, v: version });
    if (selected) query.set("selected", selected);
    img.src = base + "/picture.png?" + query.toString();
    if (plane !== "mip") document.getElementById("slice-" + plane).value = sliceOf(plane);
  }
}

function pixelOf(img, event) {
  const [rows, cols] = pictureSize(img.dataset.plane);
  const row = Math.min(rows - 1, Math.floor(event.offsetY / img.clientHeight * rows));
  const col = Math.min(cols - 1, Math.floor(event.offsetX / img.clientWidth * cols));
  return [row, col];
}

function moveCursor(plane, row, col) {
  const nz = state.shape_zyx[0];
  const z = state.head_first ? row : nz - 1 - row;
  if (plane === "axial") cursor = [cursor[0], row, col];
  else if (plane === "coronal") cursor = [z, cursor[1], col];
  else if (plane === "sagittal") cursor = [z, col, cursor[2]];
  else cursor = [z, cursor[1], col];
}

async function clickPicture(event) {
  const img = event.currentTarget;
  const plane = img.dataset.plane;
  const [row, col] = pixelOf(img, event);
  const action = mode();
  if (action === "navigate") {
    moveCursor(plane, row, col);
    drawPictures();
    return;
  }
  if (addingOrgan) {
    const name = addingOrgan;
    addingOrgan = null;
    await step({ action: "add_organ", name: name,
                 at: { plane: plane, index: sliceOf(plane), row: row, col: col } });
    return;
  }
  if (action !== "add_lesion" && !selected) {
    status("select the finding to correct first");
    return;
  }
  const at = { plane: plane, index: sliceOf(plane), row: row, col: col };
  await step({ action: action, finding: action === "add_lesion" ? null : selected, at: at });
}

async function step(payload) {
  status("working\u2026");
  try {
    const answer = await nodePost(base + "/steps", payload);
    show(answer);
    const last = answer.last_step;
    status(last ? last.action.replace("_", " ") + ": " + last.detail + " (" +
                  Math.round(last.seconds * 1000) + " ms)" : "done");
  } catch (error) {
    status("refused: " + error.message);
  }
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  return td;
}

function findingRows() {
  const body = document.querySelector("#findings tbody");
  body.replaceChildren();
  for (const f of state.findings) {
    const tr = document.createElement("tr");
    tr.dataset.key = f.key;
    tr.className = (f.key === selected ? "selected " : "") + f.status;
    const swatch = document.createElement("td");
    const box = document.createElement("span");
    box.className = "swatch";
    box.style.background = f.colour;
    swatch.appendChild(box);
    const g = f.figures || {};
    const name = f.kind === "lesion" ? (g.label || f.key) + (f.added ? " (added)" : "") : f.name;
    tr.append(swatch, cell(name), cell(f.status), cell(g.volume_ml), cell(g.mean),
              cell(g.maximum), cell(g.peak), cell(g.sul_peak), cell(g.site),
              cell(g.deauville_aid), cell(f.clicks));
    tr.addEventListener("click", () => select(f));
    body.appendChild(tr);
  }
}

function select(finding) {
  selected = finding.key;
  document.getElementById("selected-name").textContent =
    finding.kind === "lesion" ? "lesion " + finding.key : finding.name;
  if (finding.centre_zyx) cursor = finding.centre_zyx.slice();
  findingRows();
  drawPictures();
}

function otherRows() {
  const missing = document.getElementById("not-found");
  missing.replaceChildren();
  for (const [name, reason] of Object.entries(state.not_found)) {
    const li = document.createElement("li");
    li.textContent = name + ": " + reason + " ";
    const add = document.createElement("button");
    add.type = "button";
    add.className = "add-organ";
    add.dataset.organ = name;
    add.textContent = "add with a click";
    add.addEventListener("click", () => {
      addingOrgan = name;
      status("click on the " + name + " in any picture");
    });
    li.appendChild(add);
    missing.appendChild(li);
  }
  const refs = document.querySelector("#references tbody");
  refs.replaceChildren();
  for (const r of state.references) {
    const tr = document.createElement("tr");
    tr.append(cell(r.label), cell(r.site), cell(r.mean), cell(r.sd), cell(r.sul_mean),
              cell(r.note));
    refs.appendChild(tr);
  }
  document.getElementById("burden").textContent = "Lesions: " + state.lesion_count +
    (state.total_mtv_ml !== null ? "; total MTV " + state.total_mtv_ml.toFixed(1) + " ml" : "") +
    (state.total_tlg !== null ? "; total TLG " + state.total_tlg.toFixed(1) : "") +
    (state.dmax_mm !== null ? "; Dmax " + state.dmax_mm.toFixed(0) + " mm" : "") +
    " (" + state.unit + ")";
  const steps = document.getElementById("steps");
  steps.replaceChildren();
  for (const s of state.steps) {
    const li = document.createElement("li");
    li.textContent = s.action + " " + s.finding + ": " + s.detail;
    steps.appendChild(li);
  }
  document.getElementById("warming").textContent = state.crops_embedded > 0
    ? "ready" : "preparing the network\u2026";
}

function show(answer) {
  const first = state === null;
  state = answer;
  version += 1;
  if (first) {
    document.getElementById("window-low").value = state.window[0];
    document.getElementById("window-high").value = state.window[1];
    cursor = state.shape_zyx.map((n) => Math.floor(n / 2));
    for (const plane of ["axial", "coronal", "sagittal"]) {
      const slider = document.getElementById("slice-" + plane);
      slider.max = { axial: state.shape_zyx[0], coronal: state.shape_zyx[1],
                     sagittal: state.shape_zyx[2] }[plane] - 1;
    }
  }
  findingRows();
  otherRows();
  drawPictures();
}

function relabelChoices() {
  const select = document.getElementById("relabel-to");
  const names = ["lesion", "brain", "heart", "liver", "spleen", "kidney_left", "kidney_right",
                 "urinary_bladder", "lung_left", "lung_right", "aorta"];
  for (const name of names) {
    const option = document.createElement("option");
    option.value = option.textContent = name;
    select.appendChild(option);
  }
}

async function start() {
  const session = await nodeJson("/api/session");
  csrfToken = session.csrf_token;
  relabelChoices();
  status("opening the study\u2026");
  try {
    show(await nodePost(base));
    status("");
  } catch (error) {
    status("could not open the study: " + error.message);
    return;
  }
  for (const plane of PLANES) {
    document.getElementById("pic-" + plane).addEventListener("click", clickPicture);
  }
  for (const plane of ["axial", "coronal", "sagittal"]) {
    document.getElementById("slice-" + plane).addEventListener("input", (event) => {
      cursor[{ axial: 0, coronal: 1, sagittal: 2 }[plane]] = Number(event.target.value);
      drawPictures();
    });
  }
  for (const id of ["window-low", "window-high"]) {
    document.getElementById(id).addEventListener("change", drawPictures);
  }
  document.getElementById("undo").addEventListener("click", () => step({ action: "undo" }));
  document.getElementById("accept").addEventListener("click",
    () => step({ action: "accept", finding: selected }));
  document.getElementById("reject").addEventListener("click",
    () => step({ action: "reject", finding: selected }));
  document.getElementById("relabel").addEventListener("click", () => step({
    action: "relabel", finding: selected,
    name: document.getElementById("relabel-to").value }));
  document.getElementById("verify").addEventListener("click", async () => {
    try {
      const done = await nodePost("/api/jobs/" + job + "/verify");
      status("verified" + (done.corrected ? " with your corrections" : "") + ": " +
             done.transfers + " transfer(s) queued");
      document.getElementById("verify").disabled = true;
    } catch (error) {
      status("refused: " + error.message);
    }
  });
  const poll = setInterval(async () => {
    if (state && state.crops_embedded !== 0) { clearInterval(poll); return; }
    try { state = Object.assign(state, await nodeJson(base)); otherRows(); } catch (error) { /* next */ }
  }, 2000);
}

document.addEventListener("DOMContentLoaded", start);

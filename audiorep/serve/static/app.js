"use strict";

// The page of `audiorep serve`: upload a file, follow its job through server-sent events,
// then draw what the job computed. Everything comes from this server; nothing is loaded
// from elsewhere.
(() => {
  const $ = (id) => document.getElementById(id);
  const STAGES = {
    uploading: "Uploading",
    checking: "Checking the format",
    queued: "Waiting for a free worker",
    starting: "Starting",
    decoding: "Decoding",
    autocorrelogram: "Computing the autocorrelogram",
    encoding: "Encoding",
    "decoding back": "Decoding back",
    predicting: "Predicting the class",
    cancelling: "Cancelling",
    done: "Done",
    failed: "Failed",
    cancelled: "Cancelled",
  };
  const PLOT_CONFIG = { responsive: true, displaylogo: false };
  const FONT = { family: "system-ui, sans-serif", size: 12 };

  let maxBytes = null;
  let current = null; // {file, xhr, id, events}

  function formatBytes(n) {
    if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 1)} MB`;
    if (n >= 1e3) return `${(n / 1e3).toFixed(n >= 1e4 ? 0 : 1)} kB`;
    return `${n} B`;
  }

  function setState(state) {
    document.body.dataset.state = state;
  }

  function showMessage(text) {
    $("message").textContent = text;
    $("message").hidden = false;
  }

  function setProgress(stage, fraction, detail) {
    const percent = Math.round(100 * Math.max(0, Math.min(1, fraction)));
    $("bar").style.width = `${percent}%`;
    document.querySelector(".progress").setAttribute("aria-valuenow", String(percent));
    const name = STAGES[stage] || stage;
    if (detail) $("stage").textContent = `${name} (${detail})`;
    else if (stage === "failed" || stage === "cancelled") $("stage").textContent = name;
    else $("stage").textContent = `${name}: ${percent} %`;
    $("stage").dataset.stage = stage;
  }

  function finish(state, message) {
    setState(state);
    $("cancel").disabled = true;
    if (current && current.events) current.events.close();
    if (message) showMessage(message);
  }

  function errorOf(xhr) {
    const body = xhr.response;
    if (body && typeof body === "object" && body.error) return body.error;
    return `the server answered ${xhr.status} ${xhr.statusText || ""}`.trim();
  }

  function reset() {
    if (current && current.events) current.events.close();
    current = null;
    $("message").hidden = true;
    $("results").hidden = true;
    $("prediction-card").hidden = true;
    for (const id of ["waveform", "autocorrelogram", "spectrogram"]) {
      if (window.Plotly) Plotly.purge($(id));
    }
    for (const id of ["audio-original", "audio-decoded"]) {
      $(id).removeAttribute("src");
      $(id).load();
    }
    delete document.body.dataset.plots;
    delete document.body.dataset.job;
  }

  function start(file) {
    reset();
    $("job").hidden = false;
    $("job-name").textContent = file.name;
    $("cancel").disabled = false;
    if (maxBytes !== null && file.size > maxBytes) {
      setProgress("failed", 0);
      finish("failed", `${file.name}: the file is larger than the ${formatBytes(maxBytes)} this server accepts`);
      return;
    }
    const form = new FormData();
    form.append("file", file, file.name);
    const xhr = new XMLHttpRequest();
    current = { file, xhr, id: null, events: null };
    setState("uploading");
    setProgress("uploading", 0, "0 %");
    xhr.open("POST", "/api/jobs");
    xhr.responseType = "json";
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) setProgress("uploading", e.loaded / e.total, `${Math.round((100 * e.loaded) / e.total)} %`);
    };
    xhr.upload.onload = () => setProgress("checking", 0, "the upload is complete");
    xhr.onload = () => {
      if (xhr.status === 201 && xhr.response && xhr.response.id) {
        current.xhr = null;
        follow(xhr.response.id);
      } else {
        setProgress("failed", 0);
        finish("failed", errorOf(xhr));
      }
    };
    xhr.onerror = () => {
      setProgress("failed", 0);
      finish("failed", "the upload failed: the connection to the server was lost");
    };
    xhr.onabort = () => {
      setProgress("cancelled", 0);
      finish("cancelled", "Upload cancelled.");
    };
    xhr.send(form);
  }

  function follow(id) {
    current.id = id;
    document.body.dataset.job = id;
    setState("running");
    const events = new EventSource(`/api/jobs/${id}/events`);
    current.events = events;
    events.onmessage = (e) => {
      const status = JSON.parse(e.data);
      setProgress(status.stage, status.progress);
      if (status.state === "done") {
        finish("done");
        showResults(id).catch((err) => showMessage(`could not show the results: ${err.message}`));
      } else if (status.state === "failed") {
        finish("failed", status.error);
      } else if (status.state === "cancelled") {
        finish("cancelled", "Job cancelled; its files are deleted.");
      }
    };
    events.onerror = async () => {
      // The stream broke while the job was not finished: ask once how it stands.
      if (!current || current.id !== id || document.body.dataset.state !== "running") return;
      try {
        const response = await fetch(`/api/jobs/${id}`);
        if (response.status === 404) finish("failed", "the job is gone (it expired, or the server restarted)");
      } catch (err) {
        finish("failed", "the connection to the server was lost");
      }
    };
  }

  async function cancel() {
    if (!current) return;
    $("cancel").disabled = true;
    if (current.xhr) {
      current.xhr.abort();
      return;
    }
    if (!current.id) return;
    setProgress("cancelling", parseFloat($("bar").style.width) / 100 || 0);
    const response = await fetch(`/api/jobs/${current.id}`, { method: "DELETE" });
    const status = await response.json();
    if (status.state === "cancelled") {
      setProgress("cancelled", status.progress);
      finish("cancelled", "Job cancelled; its files are deleted.");
    }
  }

  async function getJSON(url) {
    const response = await fetch(url);
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || `${response.status}`);
    return body;
  }

  function envelope(w, name, color) {
    return [
      { x: w.t, y: w.max, type: "scatter", mode: "lines", line: { width: 0.8, color }, name, legendgroup: name },
      { x: w.t, y: w.min, type: "scatter", mode: "lines", line: { width: 0.8, color }, fill: "tonexty",
        fillcolor: color.replace("rgb", "rgba").replace(")", ",0.35)"), name, legendgroup: name, showlegend: false },
    ];
  }

  async function showResults(id) {
    const base = `/api/jobs/${id}`;
    const [analysis, acg] = await Promise.all([getJSON(`${base}/analysis.json`), getJSON(`${base}/autocorrelogram.json`)]);
    $("results").hidden = false;
    $("original-size").textContent =
      `${formatBytes(analysis.original_bytes)}, ${analysis.original_kbps.toFixed(1)} kbit/s ` +
      `(${analysis.format}, ${analysis.sr} Hz, ${analysis.duration.toFixed(2)} s)`;
    $("arep-size").textContent =
      `${formatBytes(analysis.arep_bytes)}, ${analysis.arep_kbps.toFixed(2)} kbit/s ` +
      `(${analysis.compression.toFixed(0)} times smaller)`;
    $("audio-original").src = `${base}/original`;
    $("audio-decoded").src = `${base}/decoded.wav`;
    $("download").href = `${base}/result.arep`;
    if (analysis.prediction) {
      const list = $("prediction");
      list.replaceChildren();
      for (const p of analysis.prediction) {
        const item = document.createElement("li");
        item.textContent = p.label;
        const prob = document.createElement("span");
        prob.className = "probability";
        prob.textContent = `${(100 * p.probability).toFixed(1)} %`;
        item.appendChild(prob);
        list.appendChild(item);
      }
      $("prediction-card").hidden = false;
    }

    const margin = { l: 60, r: 20, t: 10, b: 45 };
    await Plotly.newPlot($("waveform"),
      [...envelope(analysis.waveform, "original", "rgb(47,111,223)"),
       ...envelope(analysis.decoded_waveform, "after the codec", "rgb(230,126,34)")],
      { margin, font: FONT, xaxis: { title: { text: "Time (s)" } }, yaxis: { title: { text: "Amplitude" } },
        legend: { orientation: "h", y: 1.12 } }, PLOT_CONFIG);
    await Plotly.newPlot($("autocorrelogram"),
      [{ type: "surface", x: acg.delays_ms, y: acg.times, z: acg.z, colorscale: "Viridis",
         colorbar: { title: { text: "Correlation" } } }],
      { margin: { l: 0, r: 0, t: 10, b: 0 }, font: FONT,
        scene: { xaxis: { title: { text: "Lag (ms)" } }, yaxis: { title: { text: "Time (s)" } },
                 zaxis: { title: { text: "Correlation" } }, aspectratio: { x: 1.2, y: 1.4, z: 0.7 },
                 camera: { eye: { x: 1.45, y: -1.45, z: 0.85 } } } },
      PLOT_CONFIG);
    await Plotly.newPlot($("spectrogram"),
      [{ type: "heatmap", x: analysis.mel.times, z: analysis.mel.db, colorscale: "Electric",
         colorbar: { title: { text: "dB" } } }],
      { margin, font: FONT, xaxis: { title: { text: "Time (s)" } }, yaxis: { title: { text: "Mel band" } } },
      PLOT_CONFIG);
    document.body.dataset.plots = "ready";
  }

  function pick(files) {
    if (files && files.length) start(files[0]);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const drop = $("drop");
    $("file").addEventListener("change", (e) => {
      pick(e.target.files);
      e.target.value = "";
    });
    drop.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        $("file").click();
      }
    });
    for (const name of ["dragenter", "dragover"]) {
      drop.addEventListener(name, (e) => {
        e.preventDefault();
        drop.classList.add("over");
      });
    }
    for (const name of ["dragleave", "drop"]) {
      drop.addEventListener(name, () => drop.classList.remove("over"));
    }
    drop.addEventListener("drop", (e) => {
      e.preventDefault();
      pick(e.dataTransfer.files);
    });
    $("cancel").addEventListener("click", () => {
      cancel().catch((err) => showMessage(`could not cancel: ${err.message}`));
    });
    fetch("/api/health")
      .then((r) => r.json())
      .then((h) => {
        maxBytes = h.max_upload_bytes;
        $("limits").textContent = `WAV, FLAC, Ogg/Vorbis, Opus or MP3, up to ${formatBytes(maxBytes)}.` +
          (h.model ? ` The model knows ${h.model.labels.length} classes.` : "");
      })
      .catch(() => showMessage("the server does not answer"));
  });
})();

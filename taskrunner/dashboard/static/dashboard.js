// The dashboard's scripts. Values go into the page as text nodes only.
"use strict";

function el(name, text, cls) {
  var node = document.createElement(name);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

// Job lists: a box that ticks every row, and the count of ticked rows.
(function () {
  var bulk = document.getElementById("bulk");
  if (!bulk) return;
  var all = document.querySelector("input.pick-all");
  var boxes = function () { return document.querySelectorAll('input[name="id"][form="bulk"]'); };
  var picked = bulk.querySelector(".picked");
  function count() {
    var n = 0;
    boxes().forEach(function (box) { if (box.checked) n++; });
    picked.textContent = n ? n + " selected:" : "tick jobs, then:";
    bulk.querySelectorAll("button").forEach(function (button) { button.disabled = n === 0; });
  }
  if (all) {
    all.addEventListener("change", function () {
      boxes().forEach(function (box) { box.checked = all.checked; });
      count();
    });
  }
  boxes().forEach(function (box) { box.addEventListener("change", count); });
  count();
})();

// The overview's live parts: queue counts and the per-minute chart, refreshed from
// /api/stats every few seconds.
(function () {
  var POLL_MS = 4000;
  var SVG = "http://www.w3.org/2000/svg";
  var STATES = ["waiting", "queued", "scheduled", "running", "succeeded", "failed", "cancelled"];
  var table = document.getElementById("queues");
  if (!table) return;
  var base = document.body.getAttribute("data-base") || "";
  var url = table.getAttribute("data-stats-url");
  var csrf = table.getAttribute("data-csrf");

  function queueAction(queue, verb, label) {
    var form = el("form", null, "inline");
    form.method = "post";
    form.action = base + "/queues/" + encodeURIComponent(queue) + "/" + verb;
    [["csrf", csrf], ["next", "/"]].forEach(function (field) {
      var input = el("input");
      input.type = "hidden";
      input.name = field[0];
      input.value = field[1];
      form.appendChild(input);
    });
    var button = el("button", label, verb);
    button.setAttribute("data-queue", queue);
    form.appendChild(button);
    return form;
  }
  function seconds(value) {
    if (value === null || value === undefined) return "-";
    if (value < 1) return Math.round(value * 1000) + "ms";
    if (value < 120) return value.toFixed(1) + "s";
    return (value / 60).toFixed(1) + "m";
  }
  function jobsUrl(queue, state) {
    var query = new URLSearchParams({ queue: queue, state: state });
    return base + "/jobs?" + query.toString();
  }

  function drawQueues(queues) {
    var body = table.tBodies[0];
    var names = Object.keys(queues).sort();
    var rows = [];
    names.forEach(function (name) {
      var queue = queues[name];
      var tr = el("tr");
      var th = el("th", name);
      th.setAttribute("scope", "row");
      if (queue.paused) {
        th.appendChild(document.createTextNode(" "));
        th.appendChild(el("span", "paused", "state state-paused"));
      }
      tr.appendChild(th);
      STATES.forEach(function (state) {
        var td = el("td", null, "num");
        var a = el("a", queue.counts[state] || 0);
        a.href = jobsUrl(name, state);
        td.appendChild(a);
        tr.appendChild(td);
      });
      var perMinute = queue.throughput_per_second === null ? "-" : (queue.throughput_per_second * 60).toFixed(1);
      var failing = queue.failure_rate === null ? "-" : Math.round(queue.failure_rate * 100) + "%";
      [perMinute, failing, seconds(queue.runtime_p50), seconds(queue.runtime_p95), seconds(queue.oldest_queued_age)]
        .forEach(function (text) { tr.appendChild(el("td", text, "num")); });
      var actions = el("td", null, "actions");
      actions.appendChild(queue.paused ? queueAction(name, "resume", "Resume") : queueAction(name, "pause", "Pause"));
      if (queue.counts.failed) actions.appendChild(queueAction(name, "retry-failed", "Retry failed"));
      tr.appendChild(actions);
      rows.push(tr);
    });
    if (!rows.length) {
      var empty = el("td", "No queues yet: nothing was enqueued.", "empty");
      empty.colSpan = STATES.length + 7;
      rows.push(el("tr"));
      rows[0].appendChild(empty);
    }
    body.replaceChildren.apply(body, rows);
  }

  function svg(name, attrs, text) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined) node.textContent = String(text);
    return node;
  }
  function drawChart(series) {
    var chart = document.getElementById("chart");
    if (!chart) return;
    var nodes = [];
    var W = Math.max(Math.round(chart.getBoundingClientRect().width) || 720, 300);
    var H = 180, left = 36, bottom = 20, top = 10;
    chart.setAttribute("viewBox", "0 0 " + W + " " + H);
    if (!series) {
      nodes.push(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "this backend records no activity"));
      chart.replaceChildren.apply(chart, nodes);
      return;
    }
    var n = series.minutes.length;
    var max = 1;
    for (var i = 0; i < n; i++) max = Math.max(max, series.succeeded[i] + series.failed[i]);
    var plotH = H - bottom - top, slot = (W - left) / n, bar = Math.max(slot - 2, 1);
    nodes.push(svg("line", { x1: left, y1: H - bottom, x2: W, y2: H - bottom, class: "axis" }));
    nodes.push(svg("line", { x1: left, y1: top, x2: W, y2: top, class: "axis" }));
    nodes.push(svg("text", { x: left - 6, y: top + 4, "text-anchor": "end" }, max));
    nodes.push(svg("text", { x: left - 6, y: H - bottom + 4, "text-anchor": "end" }, 0));
    nodes.push(svg("text", { x: left, y: H - 4 }, "60 min ago"));
    nodes.push(svg("text", { x: W, y: H - 4, "text-anchor": "end" }, "now"));
    for (var j = 0; j < n; j++) {
      var ok = series.succeeded[j], bad = series.failed[j];
      var x = left + j * slot + 1;
      var okH = plotH * ok / max, badH = plotH * bad / max;
      var group = svg("g", {});
      var time = new Date(series.minutes[j] * 1000).toISOString().slice(11, 16);
      group.appendChild(svg("title", {}, time + " UTC: " + ok + " succeeded, " + bad + " failed"));
      group.appendChild(svg("rect", { x: x, y: H - bottom - okH, width: bar, height: okH, fill: "#2f9e62" }));
      group.appendChild(svg("rect", { x: x, y: H - bottom - okH - badH, width: bar, height: badH, fill: "#d64545" }));
      nodes.push(group);
    }
    chart.replaceChildren.apply(chart, nodes);
  }

  function refresh() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        drawQueues(data.queues);
        drawChart(data.series);
        document.getElementById("updated").textContent =
          "updated " + new Date().toLocaleTimeString();
      })
      .catch(function (error) {
        document.getElementById("updated").textContent = "update failed: " + error.message;
      });
  }
  refresh();
  setInterval(refresh, POLL_MS);
})();

// Live pages: a job's page follows the job (its progress bar moves; on a new state or
// attempt the page reloads) and a batch's page its counts, until they end.
function poll(url, every, onData, status) {
  var timer = null;
  function tick() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        if (onData(data) === false) { clearInterval(timer); return; }
        status.textContent = "live: updated " + new Date().toLocaleTimeString();
      })
      .catch(function (error) { status.textContent = "live: update failed: " + error.message; });
  }
  timer = setInterval(tick, every);
}

(function () {
  var live = document.getElementById("live");
  if (!live) return;
  var state = live.getAttribute("data-state");
  var attempts = live.getAttribute("data-attempts");
  function drawProgress(progress) {
    var bar = document.getElementById("progress");
    var text = document.getElementById("progress-text");
    if (!bar || !progress) return;
    bar.hidden = false;
    if (progress.total) {
      bar.max = progress.total;
      bar.value = Math.min(progress.done, progress.total);
    } else {
      bar.removeAttribute("value");
    }
    var words = String(progress.done);
    if (progress.total !== null) words += " of " + progress.total;
    if (progress.message) words += " " + progress.message;
    text.textContent = words;
  }
  poll(live.getAttribute("data-job-url"), 2000, function (job) {
    if (job.state !== state || String(job.attempts.length) !== attempts) {
      window.location.reload();
      return false;
    }
    drawProgress(job.progress);
  }, live);
})();

(function () {
  var live = document.getElementById("live-batch");
  if (!live) return;
  poll(live.getAttribute("data-batch-url"), 2000, function (batch) {
    if (batch.ended) {
      window.location.reload();
      return false;
    }
    var bar = document.querySelector("p.batch-progress progress");
    bar.max = Math.max(batch.total, 1);
    bar.value = batch.settled;
    document.getElementById("batch-settled").textContent =
      batch.settled + " of " + batch.total + " members ended";
    Object.keys(batch.counts).forEach(function (state) {
      var cell = document.querySelector('td[data-state="' + state + '"] a');
      if (cell) cell.textContent = batch.counts[state];
    });
  }, live);
})();

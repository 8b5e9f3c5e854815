// The dashboard's scripts: live counts and charts, ticking jobs for bulk actions, and pages
// that follow a running job or batch. Values go into the page as text nodes only.
"use strict";

var BASE = document.body.getAttribute("data-base") || "";
var ZONE = document.body.getAttribute("data-zone") || "UTC";
var SVG = "http://www.w3.org/2000/svg";
var STATES = ["waiting", "queued", "scheduled", "running", "succeeded", "failed", "cancelled"];

function el(name, text, cls) {
  var node = document.createElement(name);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function svg(name, attrs, text) {
  var node = document.createElementNS(SVG, name);
  Object.keys(attrs).forEach(function (key) { node.setAttribute(key, attrs[key]); });
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function seconds(value) {
  if (value === null || value === undefined) return "-";
  if (value < 1) return Math.round(value * 1000) + "ms";
  if (value < 120) return value.toFixed(1) + "s";
  return (value / 60).toFixed(1) + "m";
}

// "14:05 Europe/Paris": a minute of the charts, in the dashboard's time zone.
function clock(epochSeconds) {
  var date = new Date(epochSeconds * 1000);
  var options = { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: ZONE };
  try {
    return date.toLocaleTimeString("en-GB", options) + " " + ZONE;
  } catch (error) {
    return date.toISOString().slice(11, 16) + " UTC";
  }
}

// Read `url` now and every `every` ms; `onData` returning false stops it.
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
        status.textContent = (status.getAttribute("data-prefix") || "") + "updated " + clock(Date.now() / 1000);
      })
      .catch(function (error) { status.textContent = "update failed: " + error.message; });
  }
  tick();
  timer = setInterval(tick, every);
}

// Bars per minute: `layers` [{values, cls, label}] stacked bottom up; `format` shows a value.
function drawBars(chart, minutes, layers, format) {
  var nodes = [];
  var W = Math.max(Math.round(chart.getBoundingClientRect().width) || 720, 300);
  var H = 180, left = 44, bottom = 20, top = 10;
  chart.setAttribute("viewBox", "0 0 " + W + " " + H);
  var n = minutes.length, max = 0;
  for (var i = 0; i < n; i++) {
    var sum = 0;
    layers.forEach(function (layer) { sum += layer.values[i] || 0; });
    max = Math.max(max, sum);
  }
  if (!max) max = format === seconds ? 0.001 : 1;
  var plotH = H - bottom - top, slot = (W - left) / n, bar = Math.max(slot - 2, 1);
  nodes.push(svg("line", { x1: left, y1: H - bottom, x2: W, y2: H - bottom, class: "axis" }));
  nodes.push(svg("line", { x1: left, y1: top, x2: W, y2: top, class: "axis" }));
  nodes.push(svg("text", { x: left - 6, y: top + 4, "text-anchor": "end" }, format(max)));
  nodes.push(svg("text", { x: left - 6, y: H - bottom + 4, "text-anchor": "end" }, format(0)));
  nodes.push(svg("text", { x: left, y: H - 4 }, clock(minutes[0])));
  nodes.push(svg("text", { x: W, y: H - 4, "text-anchor": "end" }, "now"));
  for (var j = 0; j < n; j++) {
    var group = svg("g", {}), y = H - bottom, words = [];
    layers.forEach(function (layer) {
      var value = layer.values[j];
      words.push((value === null ? "-" : format(value)) + " " + layer.label);
      var height = plotH * (value || 0) / max;
      y -= height;
      group.appendChild(svg("rect", { x: left + j * slot + 1, y: y, width: bar, height: height, class: layer.cls }));
    });
    group.insertBefore(svg("title", {}, clock(minutes[j]) + ": " + words.join(", ")), group.firstChild);
    nodes.push(group);
  }
  chart.replaceChildren.apply(chart, nodes);
}

function noActivity(chart) {
  chart.replaceChildren(svg("text", { x: 360, y: 90, "text-anchor": "middle" }, "this backend records no activity"));
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

// The overview: queue counts and the chart of every queue, from /api/stats.
(function () {
  var table = document.getElementById("queues");
  if (!table) return;
  var csrf = table.getAttribute("data-csrf");

  function queueAction(queue, verb, label) {
    var form = el("form", null, "inline");
    form.method = "post";
    form.action = BASE + "/queues/" + encodeURIComponent(queue) + "/" + verb;
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
  function link(text, href) {
    var a = el("a", text);
    a.href = href;
    return a;
  }

  function drawQueues(queues) {
    var body = table.tBodies[0];
    var rows = Object.keys(queues).sort().map(function (name) {
      var queue = queues[name];
      var tr = el("tr");
      var th = el("th");
      th.setAttribute("scope", "row");
      th.appendChild(link(name, BASE + "/queues/" + encodeURIComponent(name)));
      if (queue.paused) {
        th.appendChild(document.createTextNode(" "));
        th.appendChild(el("span", "paused", "state state-paused"));
      }
      tr.appendChild(th);
      STATES.forEach(function (state) {
        var td = el("td", null, "num");
        var query = new URLSearchParams({ queue: name, state: state });
        td.appendChild(link(queue.counts[state] || 0, BASE + "/jobs?" + query.toString()));
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
      return tr;
    });
    if (!rows.length) {
      var empty = el("td", "No queues yet: nothing was enqueued.", "empty");
      empty.colSpan = STATES.length + 7;
      rows.push(el("tr"));
      rows[0].appendChild(empty);
    }
    body.replaceChildren.apply(body, rows);
  }

  poll(table.getAttribute("data-stats-url"), 4000, function (data) {
    drawQueues(data.queues);
    var chart = document.getElementById("chart");
    if (!data.series) return noActivity(chart);
    drawBars(chart, data.series.minutes, [
      { values: data.series.succeeded, cls: "ok", label: "succeeded" },
      { values: data.series.failed, cls: "bad", label: "failed" },
    ], String);
  }, document.getElementById("updated"));
})();

// A queue's page: its three charts, from /api/queues/QUEUE.
(function () {
  var charts = document.getElementById("queue-charts");
  if (!charts) return;
  var labels = {
    succeeded: "succeeded", failed: "failed or retried",
    runtime_p50: "median runtime", wait_p50: "median wait before start",
  };
  var durations = { runtime_p50: true, wait_p50: true };
  poll(charts.getAttribute("data-series-url"), 4000, function (data) {
    charts.querySelectorAll("svg.chart").forEach(function (chart) {
      if (!data.series) return noActivity(chart);
      var name = chart.getAttribute("data-series");
      var layer = { values: data.series[name], cls: chart.getAttribute("data-kind"), label: labels[name] };
      drawBars(chart, data.series.minutes, [layer], durations[name] ? seconds : String);
    });
  }, document.getElementById("updated"));
})();

// A job's page follows the job: its progress bar moves, and the page reloads on a new
// state or attempt, until the job ends.
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
  live.setAttribute("data-prefix", "live: ");
  poll(live.getAttribute("data-job-url"), 2000, function (job) {
    if (job.state !== state || String(job.attempts.length) !== attempts) {
      window.location.reload();
      return false;
    }
    drawProgress(job.progress);
  }, live);
})();

// A batch's page follows its counts until it ends, then reloads once.
(function () {
  var live = document.getElementById("live-batch");
  if (!live) return;
  live.setAttribute("data-prefix", "live: ");
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

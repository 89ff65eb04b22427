// The console's only script. Everything works without it (forms post normally); with it,
// the queue updates itself and the reply editor counts SMS segments as you type.
(function () {
  "use strict";

  // Live queue: the server pushes the re-rendered rows over server-sent events whenever
  // escalations change; the browser reconnects by itself after a drop.
  var queue = document.getElementById("queue");
  if (queue && queue.dataset.live && window.EventSource) {
    var status = document.getElementById("live-status");
    var source = new EventSource(queue.dataset.live);
    source.addEventListener("queue", function (e) {
      queue.innerHTML = e.data;
      if (status) status.textContent = "Live: updated " + new Date().toLocaleTimeString();
    });
    source.addEventListener("open", function () {
      if (status) status.textContent = "Live";
    });
    source.addEventListener("error", function () {
      if (status) status.textContent = "Reconnecting…";
    });
  }

  // Segment count: GSM-7 is 160 septets in one part and 153 per part when split, extension
  // characters take two; any other character makes the text UCS-2, 70 in one part, 67 per
  // part. The tables come from the server (the same ones the sender uses).
  var box = document.getElementById("body"), out = document.getElementById("segments");
  if (box && out && out.dataset.basic) {
    var basic = out.dataset.basic, ext = out.dataset.extension;
    var parts = function (widths, single, part) {
      var total = widths.reduce(function (a, b) { return a + b; }, 0);
      if (total === 0) return [0, 0];
      if (total <= single) return [total, 1];
      var n = 1, used = 0;
      widths.forEach(function (w) { if (used + w > part) { n++; used = 0; } used += w; });
      return [total, n];
    };
    var count = function () {
      var chars = Array.from(box.value);
      var gsm = chars.every(function (c) { return basic.indexOf(c) >= 0 || ext.indexOf(c) >= 0; });
      var r = gsm ? parts(chars.map(function (c) { return basic.indexOf(c) >= 0 ? 1 : 2; }), 160, 153)
                  : parts(chars.map(function (c) { return c.length; }), 70, 67);
      out.textContent = (gsm ? "GSM-7" : "UCS-2") + ": " + r[0] + (gsm ? " septets" : " UTF-16 units") +
        ", " + r[1] + " segment" + (r[1] === 1 ? "" : "s");
    };
    box.addEventListener("input", count);
    count();
  }
})();

// Renders the live price stream; no inline script, so CSP script-src 'self' holds.
"use strict";
(function () {
  const rows = new Map();
  function row(symbol) {
    if (!rows.has(symbol)) {
      const tr = document.createElement("tr");
      for (let i = 0; i < 3; i++) tr.appendChild(document.createElement("td"));
      tr.cells[0].textContent = symbol;
      document.querySelector("#prices tbody").appendChild(tr);
      rows.set(symbol, tr);
    }
    return rows.get(symbol);
  }
  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(scheme + "//" + location.host + "/ws/prices");
    ws.onmessage = function (event) {
      const msg = JSON.parse(event.data);
      if (msg.type !== "price") return;
      const tr = row(msg.symbol);
      tr.cells[1].textContent = msg.bid;
      tr.cells[2].textContent = msg.ask;
    };
    ws.onclose = function () { setTimeout(connect, 2000); };
  }
  document.addEventListener("DOMContentLoaded", connect);
})();

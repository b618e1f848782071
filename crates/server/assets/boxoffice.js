// The box-office counter: sends one sale as JSON (CSRF token in a header, a fresh
// Idempotency-Key per attempt so a retried click never sells twice), then shows
// the total, the change and the tickets. Texts and paths come from the page.
(function () {
  "use strict";
  var cfgEl = document.getElementById("boxoffice-config");
  if (!cfgEl) return;
  var cfg = JSON.parse(cfgEl.textContent);
  var form = document.getElementById("sale");
  var byId = function (id) { return document.getElementById(id); };
  var category = byId("category"), tariff = byId("tariff"), error = byId("sale-error");
  var result = byId("result"), sellButton = byId("sell");

  function value(name) {
    var checked = form.querySelector("input[name=" + name + "]:checked");
    return checked ? checked.value : "";
  }
  function fillTariffs() {
    var c = cfg.categories.filter(function (x) { return String(x.id) === category.value; })[0];
    tariff.textContent = "";
    (c ? c.tariffs : []).forEach(function (t) {
      var o = document.createElement("option");
      o.value = t.id; o.textContent = t.label; tariff.appendChild(o);
    });
  }
  function showParts() {
    var kind = value("kind"), pay = value("payment");
    form.querySelectorAll("[data-kind]").forEach(function (el) {
      el.hidden = el.getAttribute("data-kind").split(" ").indexOf(kind) < 0;
    });
    form.querySelectorAll("[data-pay]").forEach(function (el) { el.hidden = el.getAttribute("data-pay") !== pay; });
  }
  function key() {
    var b = new Uint8Array(16); crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return ("0" + x.toString(16)).slice(-2); }).join("");
  }
  var pendingKey = null;
  form.addEventListener("change", function (e) {
    if (e.target === category) fillTariffs();
    pendingKey = null;
    showParts();
  });
  form.addEventListener("input", function () { pendingKey = null; });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    error.hidden = true;
    if (!pendingKey) pendingKey = key();
    var body = {
      event: cfg.event, kind: value("kind"), seats: byId("seats").value,
      category: Number(category.value), quantity: Number(byId("quantity").value),
      tariff: Number(tariff.value), payment: value("payment"), given: byId("given").value,
      card_reference: byId("card_reference").value, buyer: byId("buyer").value
    };
    sellButton.disabled = true;
    sellButton.textContent = cfg.texts.working;
    fetch(cfg.sell, {
      method: "POST", credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": cfg.csrf, "idempotency-key": pendingKey, "accept-language": cfg.lang },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (j) { return { ok: r.ok, body: j }; });
    }).then(function (r) {
      if (!r.ok) throw r.body;
      pendingKey = null;
      show(r.body);
    }).catch(function (p) {
      error.textContent = (p && p.code === "cash_insufficient") ? cfg.texts.cash_short + " " + (p.detail || "")
        : cfg.texts.error + ": " + ((p && (p.message || p.detail)) || "");
      error.hidden = false;
      error.focus && error.focus();
    }).then(function () {
      sellButton.disabled = false;
      sellButton.textContent = sellButton.getAttribute("data-label") || sellButton.textContent;
    });
  });
  sellButton.setAttribute("data-label", sellButton.textContent);

  function show(sale) {
    byId("r-order").textContent = "#" + sale.order_id;
    byId("r-total").textContent = sale.total;
    byId("r-change").textContent = sale.change;
    byId("r-print").href = sale.pdf;
    var list = byId("r-tickets");
    list.textContent = "";
    sale.tickets.forEach(function (t) {
      var f = document.createElement("figure");
      f.innerHTML = t.qr_svg; // server-made SVG of the signed ticket
      var c = document.createElement("figcaption");
      c.textContent = t.place + " · " + t.category + " · " + t.price;
      f.appendChild(c); list.appendChild(f);
    });
    list.hidden = true;
    result.hidden = false;
    result.focus();
  }
  byId("r-hand").addEventListener("click", function () { byId("r-tickets").hidden = false; });
  byId("r-next").addEventListener("click", function () {
    result.hidden = true; form.reset(); fillTariffs(); showParts(); byId("seats").focus();
  });
  fillTariffs();
  showParts();
})();

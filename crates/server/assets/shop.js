// The fan shop on a game's page (templates/event.html): the seat map drawn as SVG
// from the venue's seats, seats chosen by tap, click or keyboard, "best available
// N together" in a price category or standing area, and the cart with its hold's
// countdown. Plain JavaScript, no build step, served from the binary; every text
// comes from the server's JSON block (web/i18n.rs).
//
// What the browser keeps:
//   localStorage  sturmfest:customer:<tenant>          a random id for per-fan limits
//   localStorage  sturmfest:admission:<tenant>:<event> set by the waiting page
//   sessionStorage sturmfest:hold:<tenant>:<event>     the current hold, so a reload
//                                                      keeps the cart and its countdown
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("shop-config").textContent);
  var T = config.texts;
  var api = "/api/v1/" + encodeURIComponent(config.tenant);
  var eventPath = api + "/events/" + config.event;
  var customerKey = "sturmfest:customer:" + config.tenant;
  var admissionKey = "sturmfest:admission:" + config.tenant + ":" + config.event;
  var holdKey = "sturmfest:hold:" + config.tenant + ":" + config.event;
  var SVG = "http://www.w3.org/2000/svg";
  // Seat states are polled with jitter so a crowd does not refresh in lockstep.
  var POLL_MIN_MS = 4000;
  var POLL_SPREAD_MS = 3000;
  var ZOOM_MAX = 4;

  function $(id) { return document.getElementById(id); }
  function show(id, visible) { $(id).hidden = !visible; }
  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (_, k) { return values[k] !== undefined ? String(values[k]) : ""; });
  }
  function store(kind) {
    return {
      get: function (key) { try { return kind.getItem(key); } catch (e) { return null; } },
      set: function (key, value) { try { kind.setItem(key, value); } catch (e) { /* private mode */ } },
      remove: function (key) { try { kind.removeItem(key); } catch (e) { /* as above */ } }
    };
  }
  var local = store(window.localStorage);
  var session = store(window.sessionStorage);

  function randomHex(bytes) {
    var b = new Uint8Array(bytes);
    if (window.crypto && crypto.getRandomValues) crypto.getRandomValues(b);
    else for (var i = 0; i < bytes; i++) b[i] = Math.floor(Math.random() * 256);
    return Array.prototype.map.call(b, function (x) { return ("0" + x.toString(16)).slice(-2); }).join("");
  }

  function customer() {
    var id = local.get(customerKey);
    if (!id) { id = "web-" + randomHex(12); local.set(customerKey, id); }
    return id;
  }

  // One call: {status, body, retryAfter, etag}; a network failure is status 0.
  async function call(method, path, body, headers) {
    var init = { method: method, headers: { "Accept": "application/json" }, cache: "no-store" };
    Object.keys(headers || {}).forEach(function (k) { init.headers[k] = headers[k]; });
    if (method !== "GET") init.headers["Idempotency-Key"] = randomHex(16);
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    try {
      var response = await fetch(path, init);
      var json = null;
      if (response.status !== 304) { try { json = await response.json(); } catch (e) { json = null; } }
      var retry = parseInt(response.headers.get("Retry-After") || "", 10);
      return { status: response.status, body: json || {}, retryAfter: isNaN(retry) ? null : retry, etag: response.headers.get("ETag") };
    } catch (e) {
      return { status: 0, body: {}, retryAfter: null, etag: null };
    }
  }

  // The shop's words for the problems a fan can meet; anything else gets the
  // generic text (the server's own detail is English and for developers).
  function problemText(reply) {
    if (reply.status === 0) return T.offline;
    if (reply.status === 503 || reply.status === 429) return T.busy;
    var known = T.problems[reply.body.code];
    return known || T.error;
  }

  function showMessage(text, kind) {
    var box = $("shop-message");
    box.textContent = text || "";
    box.className = kind === "ok" ? "ok" : "notice";
    box.hidden = !text;
  }

  var locale = config.lang === "de" ? "de-DE" : "en-GB";
  var money = new Intl.NumberFormat(locale, { style: "currency", currency: "EUR", minimumFractionDigits: 2 });
  function euros(cents) { return money.format(cents / 100); }
  var clockFormat = new Intl.DateTimeFormat(locale, { timeZone: "Europe/Berlin", hour: "2-digit", minute: "2-digit" });

  // ----- the seat map -----

  var map = null;           // the seat map as the API sends it
  var circles = [];         // seat id -> <circle>
  var rowsOf = [];          // row index -> seat ids, left to right
  var rowIndexOf = [];      // seat id -> row index
  var selected = [];        // seat ids in the order chosen
  var cursor = -1;          // the seat the keyboard is on
  var zoom = 1;
  var etag = null;

  function categoryOf(seat) { return seat.category === null ? null : config.categories[seat.category]; }

  function seatLabel(seat) {
    var block = config.blocks[seat.block] || "";
    return fill(T.seat_label, { block: block, row: seat.row, seat: seat.seat });
  }

  function seatDescription(seat) {
    var category = categoryOf(seat);
    var state = T["state_" + seat.state] || seat.state;
    var price = category && category.tariffs.length ? ", " + euros(category.tariffs[0].price_cents) : "";
    var chosen = selected.indexOf(seat.id) >= 0 ? ", " + T.state_selected : "";
    return seatLabel(seat) + " · " + (category ? category.name : "") + price + " · " + state + chosen;
  }

  function draw(seatMap) {
    map = seatMap;
    var svg = $("seat-map");
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    if (!map.seats.length) { show("map-section", false); return; }
    var minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
    map.seats.forEach(function (s) {
      minX = Math.min(minX, s.x); maxX = Math.max(maxX, s.x);
      minY = Math.min(minY, s.y); maxY = Math.max(maxY, s.y);
    });
    var pad = 14;
    svg.setAttribute("viewBox", [minX - pad, minY - pad - 10, maxX - minX + 2 * pad, maxY - minY + 2 * pad + 10].join(" "));
    var blocks = {};
    var rowKey = {};
    map.seats.forEach(function (s) {
      var g = blocks[s.block];
      if (!g) {
        g = document.createElementNS(SVG, "g");
        g.setAttribute("class", "block");
        blocks[s.block] = g;
        svg.appendChild(g);
        var label = document.createElementNS(SVG, "text");
        label.setAttribute("x", s.x);
        label.setAttribute("y", s.y - 8);
        label.setAttribute("class", "block-label");
        label.textContent = config.blocks[s.block] || "";
        g.appendChild(label);
      }
      var c = document.createElementNS(SVG, "circle");
      c.setAttribute("cx", s.x);
      c.setAttribute("cy", s.y);
      c.setAttribute("r", 4);
      c.setAttribute("data-seat", s.id);
      g.appendChild(c);
      circles[s.id] = c;
      var key = s.block + "/" + s.row;
      if (rowKey[key] === undefined) { rowKey[key] = rowsOf.length; rowsOf.push([]); }
      rowIndexOf[s.id] = rowKey[key];
      rowsOf[rowKey[key]].push(s.id);
    });
    rowsOf.forEach(function (row) { row.sort(function (a, b) { return map.seats[a].x - map.seats[b].x; }); });
    paint();
    if (currentHold()) renderCart();
  }

  function paint() {
    map.seats.forEach(function (s) {
      var cls = "seat " + (s.category === null ? "not_for_sale" : s.state);
      if (s.category !== null) cls += " cat" + (s.category % 6);
      if (selected.indexOf(s.id) >= 0) cls += " selected";
      if (s.id === cursor) cls += " cursor";
      circles[s.id].setAttribute("class", cls);
    });
    var names = selected.map(function (id) { return seatLabel(map.seats[id]); });
    $("selection").textContent = selected.length ? fill(T.selected_n, { n: selected.length }) + ": " + names.join(" · ") : T.selected_none;
    $("hold-selected").disabled = selected.length === 0 || !!currentHold();
  }

  function toggle(id) {
    var seat = map.seats[id];
    var at = selected.indexOf(id);
    if (at >= 0) { selected.splice(at, 1); }
    else if (seat.state !== "free" || seat.category === null) { announce(seatDescription(seat)); return; }
    else if (selected.length >= config.order_tickets_max) { showMessage(fill(T.too_many_seats, { n: config.order_tickets_max })); return; }
    else { selected.push(id); showMessage(""); }
    paint();
    announce(seatDescription(seat));
  }

  function announce(text) { $("map-status").textContent = text; }

  function moveCursor(id) {
    cursor = id;
    paint();
    announce(seatDescription(map.seats[id]));
    var c = circles[id];
    if (c && c.scrollIntoView) c.scrollIntoView({ block: "nearest", inline: "nearest" });
  }

  $("seat-map").addEventListener("click", function (ev) {
    var id = ev.target.getAttribute && ev.target.getAttribute("data-seat");
    if (id === null || id === undefined || !map) return;
    cursor = Number(id);
    toggle(Number(id));
  });

  // The map is one stop in the tab order; arrow keys walk the seats (left/right
  // along the row, up/down to the nearest seat of the neighbouring row), Enter or
  // Space chooses, and a live region reads out where the cursor is.
  $("seat-map").addEventListener("keydown", function (ev) {
    if (!map || !map.seats.length) return;
    if (cursor < 0) { moveCursor(rowsOf[0][0]); ev.preventDefault(); return; }
    var row = rowIndexOf[cursor];
    var seats = rowsOf[row];
    var at = seats.indexOf(cursor);
    var next = null;
    if (ev.key === "ArrowRight") next = seats[Math.min(at + 1, seats.length - 1)];
    else if (ev.key === "ArrowLeft") next = seats[Math.max(at - 1, 0)];
    else if (ev.key === "ArrowUp" || ev.key === "ArrowDown") {
      var other = rowsOf[row + (ev.key === "ArrowUp" ? -1 : 1)];
      if (other) {
        var x = map.seats[cursor].x;
        next = other.reduce(function (best, id) { return Math.abs(map.seats[id].x - x) < Math.abs(map.seats[best].x - x) ? id : best; }, other[0]);
      }
    } else if (ev.key === "Enter" || ev.key === " ") { toggle(cursor); ev.preventDefault(); return; }
    else if (ev.key === "+" || ev.key === "-") { setZoom(zoom * (ev.key === "+" ? 1.5 : 1 / 1.5)); ev.preventDefault(); return; }
    else return;
    ev.preventDefault();
    if (next !== null && next !== undefined) moveCursor(next);
  });
  $("seat-map").addEventListener("focus", function () {
    if (map && cursor >= 0) announce(seatDescription(map.seats[cursor]));
    else announce(T.map_keys);
  });

  function setZoom(value) {
    zoom = Math.max(1, Math.min(ZOOM_MAX, value));
    $("seat-map").style.width = (zoom * 100) + "%";
    $("zoom-out").disabled = zoom <= 1;
    $("zoom-in").disabled = zoom >= ZOOM_MAX;
  }
  $("zoom-in").addEventListener("click", function () { setZoom(zoom * 1.5); });
  $("zoom-out").addEventListener("click", function () { setZoom(zoom / 1.5); });

  var STATE_OF = { f: "free", h: "held", s: "sold", n: "not_for_sale" };

  // The whole map once; then only the states (one character a seat), and only
  // when they changed (If-None-Match: an unchanged map costs the server a 304).
  async function loadSeats() {
    var reply = await call("GET", eventPath + "/seats");
    if (reply.status === 200 && reply.body.seats) {
      draw(reply.body);
      areas(reply.body.areas);
      return true;
    }
    return false;
  }

  async function refreshStates() {
    var reply = await call("GET", eventPath + "/seats?view=states", undefined, etag ? { "If-None-Match": etag } : {});
    if (reply.status !== 200 || typeof reply.body.states !== "string" || !map) return;
    etag = reply.etag;
    var states = reply.body.states;
    map.seats.forEach(function (s) { s.state = STATE_OF[states.charAt(s.id)] || s.state; });
    // A seat someone else took since it was chosen leaves the selection.
    selected = selected.filter(function (id) { return map.seats[id].state === "free"; });
    paint();
  }

  function areas(list) {
    (list || []).forEach(function (a) {
      var cell = document.querySelector('[data-area="' + a.id + '"]');
      if (cell) cell.textContent = a.free;
    });
  }

  async function refreshSeats() {
    if (!map) await loadSeats();
    else await refreshStates();
    setTimeout(refreshSeats, POLL_MIN_MS + Math.random() * POLL_SPREAD_MS);
  }

  // ----- holds and the cart -----

  function currentHold() {
    try {
      var hold = JSON.parse(session.get(holdKey) || "null");
      if (hold && Date.parse(hold.expires_at) > Date.now()) return hold;
    } catch (e) { /* unreadable: no cart */ }
    session.remove(holdKey);
    return null;
  }

  async function hold(selection, tariff) {
    var body = { customer: customer(), tariff: tariff, selection: selection };
    var admission = local.get(admissionKey);
    if (config.has_room) {
      if (!admission) { showMessage(T.queue_first); show("queue-link", true); return; }
      body.admission = admission;
    }
    var buttons = document.querySelectorAll("#shop button");
    Array.prototype.forEach.call(buttons, function (b) { b.disabled = true; });
    var reply = await call("POST", eventPath + "/holds", body);
    Array.prototype.forEach.call(buttons, function (b) { b.disabled = false; });
    if (reply.status === 201) {
      session.set(holdKey, JSON.stringify(reply.body));
      selected = [];
      showMessage(T.held, "ok");
      renderCart();
      refreshSoon();
    } else {
      if (reply.body.code === "admission_invalid" || reply.body.code === "not_admitted" || reply.body.code === "admission_required") show("queue-link", true);
      showMessage(problemText(reply));
      refreshSoon();
    }
    if (map) paint();
  }

  var soon = null;
  function refreshSoon() { clearTimeout(soon); soon = setTimeout(refreshStates, 50); }

  $("hold-selected").addEventListener("click", function () {
    hold({ type: "seats", seats: selected.slice() }, Number($("tariff").value));
  });

  $("best-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var category = config.categories[Number($("best-category").value)];
    var quantity = Number($("best-quantity").value);
    var selection = category.area === null
      ? { type: "best_available", category: category.id, block: null, quantity: quantity }
      : { type: "standing", area: category.area, quantity: quantity };
    hold(selection, Number($("best-tariff").value));
  });

  function fillTariffs(select, category) {
    while (select.firstChild) select.removeChild(select.firstChild);
    category.tariffs.forEach(function (t, i) {
      var o = document.createElement("option");
      o.value = i;
      o.textContent = t.name + " · " + euros(t.price_cents);
      select.appendChild(o);
    });
  }
  $("best-category").addEventListener("change", function () {
    fillTariffs($("best-tariff"), config.categories[Number(this.value)]);
  });

  var ticking = null;
  function renderCart() {
    var h = currentHold();
    show("cart", !!h);
    clearInterval(ticking);
    if (!h) { if (map) paint(); return; }
    var list = $("cart-places");
    while (list.firstChild) list.removeChild(list.firstChild);
    h.places.forEach(function (p) {
      var li = document.createElement("li");
      // The map's labels are in the page's language; the API's are German.
      li.textContent = p.seat !== null && map && map.seats[p.seat] ? seatLabel(map.seats[p.seat]) : p.label;
      list.appendChild(li);
    });
    $("cart-total").textContent = euros(h.total_cents);
    $("cart-until").textContent = fill(T.held_until, { time: clockFormat.format(new Date(h.expires_at)) + T.time_suffix });
    function tick() {
      var left = Math.max(0, Math.floor((Date.parse(h.expires_at) - Date.now()) / 1000));
      $("countdown").textContent = Math.floor(left / 60) + ":" + ("0" + (left % 60)).slice(-2);
      $("countdown-bar").value = left;
      if (left <= 0) {
        clearInterval(ticking);
        session.remove(holdKey);
        show("cart", false);
        showMessage(T.hold_expired);
        refreshSoon();
      }
    }
    $("countdown-bar").max = Math.max(1, Math.round((Date.parse(h.expires_at) - Date.now()) / 1000));
    tick();
    ticking = setInterval(tick, 1000);
    if (map) paint();
  }

  $("release").addEventListener("click", async function () {
    var h = currentHold();
    if (!h) { renderCart(); return; }
    var reply = await call("DELETE", api + "/holds/" + encodeURIComponent(h.hold));
    if (reply.status === 200 || reply.status === 404 || reply.status === 410) {
      session.remove(holdKey);
      showMessage(T.released, "ok");
      renderCart();
      refreshSoon();
    } else {
      showMessage(problemText(reply));
    }
  });

  // ----- checkout -----

  // Checked here so the fan hears at once what to fix; the server checks again.
  function plausibleEmail(text) { return /^[^\s@]+@[^\s@]+\.[^\s@.]+$/.test(text); }

  function fieldError(input, errorId, bad) {
    show(errorId, bad);
    if (bad) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
  }

  // A message goes as soon as its field is right, so it never contradicts the input.
  $("buyer-name").addEventListener("input", function () {
    if (this.value.trim() !== "") fieldError(this, "buyer-name-error", false);
  });
  $("buyer-email").addEventListener("input", function () {
    if (plausibleEmail(this.value.trim())) fieldError(this, "buyer-email-error", false);
  });

  $("checkout").addEventListener("submit", async function (ev) {
    ev.preventDefault();
    var h = currentHold();
    if (!h) { renderCart(); return; }
    var name = $("buyer-name"), email = $("buyer-email");
    var nameBad = name.value.trim() === "", emailBad = !plausibleEmail(email.value.trim());
    fieldError(name, "buyer-name-error", nameBad);
    fieldError(email, "buyer-email-error", emailBad);
    if (nameBad) { name.focus(); return; }
    if (emailBad) { email.focus(); return; }
    var body = { buyer: { name: name.value.trim(), email: email.value.trim() }, lang: config.lang };
    var admission = local.get(admissionKey);
    if (admission) body.admission = admission;
    $("pay").disabled = true;
    showMessage(T.paying, "ok");
    var reply = await call("POST", api + "/holds/" + encodeURIComponent(h.hold) + "/payments", body);
    if (reply.status === 201 && reply.body.redirect_url) {
      // The hold stays in sessionStorage: coming back from the provider keeps the cart.
      window.location.assign(reply.body.redirect_url);
      return;
    }
    $("pay").disabled = false;
    if (reply.body.code === "hold_ended" || reply.body.code === "hold_already_confirmed") {
      session.remove(holdKey);
      renderCart();
      refreshSoon();
    }
    showMessage(problemText(reply));
  });

  // ----- start -----

  fillTariffs($("best-tariff"), config.categories[Number($("best-category").value)]);
  var firstSeated = config.categories.filter(function (c) { return c.area === null; })[0];
  if (firstSeated) fillTariffs($("tariff"), firstSeated);
  setZoom(1);
  renderCart();
  show("shop", true);
  refreshSeats();
})();

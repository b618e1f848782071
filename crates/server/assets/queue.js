// The waiting page's script (templates/queue.html): confirm an e-mail address,
// solve the proof of work with pow.js, join, then poll the status with jitter.
// Plain JavaScript, no build step, served from the binary. Every text comes from
// the server's JSON block, so the translations live in one place (web/i18n.rs).
//
// What the browser keeps, in localStorage only (the room sets no cookies):
//   sturmfest:identity:<tenant>        {identity, expires_at, email}
//   sturmfest:queue:<tenant>:<event>   the signed queue place (kind 1)
//   sturmfest:admission:<tenant>:<event> the signed admission (kind 2), once admitted
// The place survives a refresh; on another device the same e-mail address gives
// the same identity, and the server hands back the same place without new work.
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("queue-config").textContent);
  var T = config.texts;
  var api = "/api/v1/" + encodeURIComponent(config.tenant);
  var eventPath = api + "/events/" + config.event;
  var identityKey = "sturmfest:identity:" + config.tenant;
  var queueKey = "sturmfest:queue:" + config.tenant + ":" + config.event;
  var admissionKey = "sturmfest:admission:" + config.tenant + ":" + config.event;

  // Polls are spread out so a crowd that loaded the page at 14:00:00 does not
  // poll in lockstep: a base of 2-4 s, stretched while the tab is hidden and
  // replaced by the server's Retry-After when it sheds load.
  var POLL_MIN_MS = 2000;
  var POLL_SPREAD_MS = 2000;
  var HIDDEN_FACTOR = 4;
  var BACKOFF_MAX_MS = 60000;

  function $(id) { return document.getElementById(id); }
  function show(id, visible) { $(id).hidden = !visible; }
  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (_, k) { return values[k] !== undefined ? String(values[k]) : ""; });
  }

  var storage = {
    get: function (key) { try { return localStorage.getItem(key); } catch (e) { return null; } },
    set: function (key, value) { try { localStorage.setItem(key, value); } catch (e) { /* private mode: the page still works until reload */ } },
    remove: function (key) { try { localStorage.removeItem(key); } catch (e) { /* as above */ } }
  };

  // Every POST carries an Idempotency-Key; randomUUID exists only in secure
  // contexts, getRandomValues everywhere.
  function idempotencyKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var bytes = new Uint8Array(16);
    if (window.crypto && crypto.getRandomValues) crypto.getRandomValues(bytes);
    else for (var i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  // One call: {status, body, retryAfter (s or null)}; a network failure is status 0.
  async function call(method, path, body) {
    var init = { method: method, headers: { "Accept": "application/json" }, cache: "no-store" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.headers["Idempotency-Key"] = idempotencyKey();
      init.body = JSON.stringify(body);
    }
    try {
      var response = await fetch(path, init);
      var json = null;
      try { json = await response.json(); } catch (e) { json = null; }
      var retry = parseInt(response.headers.get("Retry-After") || "", 10);
      return { status: response.status, body: json || {}, retryAfter: isNaN(retry) ? null : retry };
    } catch (e) {
      return { status: 0, body: {}, retryAfter: null };
    }
  }

  function showError(text) {
    $("error").textContent = text || "";
    show("error", !!text);
  }

  // A problem+json reply in the page's words; the server's own detail is English.
  function problemText(reply, fallback) {
    if (reply.status === 0) return T.offline;
    if (reply.body.code === "mail_unavailable") return T.mail_unavailable;
    if (reply.body.code === "sold_out") return T.phase_sold_out;
    if (reply.body.code === "room_not_open") return T.phase_not_yet_open;
    if (reply.status === 429) return fill(T.too_many, { s: reply.retryAfter || 60 });
    if (reply.status === 503) return T.busy;
    return fallback || T.error;
  }

  // The same spelling as the server's first paint (web/format.rs): Berlin time,
  // "Di., 01.12.2026, 15:00 Uhr" / "Tue, 1 Dec 2026, 15:00".
  var locale = config.lang === "de" ? "de-DE" : "en-GB";
  var dateFormat = new Intl.DateTimeFormat(locale, config.lang === "de"
    ? { timeZone: "Europe/Berlin", weekday: "short", day: "2-digit", month: "2-digit", year: "numeric", hour: "2-digit", minute: "2-digit" }
    : { timeZone: "Europe/Berlin", weekday: "short", day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" });
  var clockFormat = new Intl.DateTimeFormat(locale, { timeZone: "Europe/Berlin", hour: "2-digit", minute: "2-digit", second: "2-digit" });
  function dateTime(iso) { return dateFormat.format(new Date(iso)) + T.time_suffix; }

  function estimateText(secs) {
    if (secs === null || secs === undefined) return T.estimate_unknown;
    if (secs < 60) return T.estimate_less;
    var minutes = Math.ceil(secs / 60);
    return minutes === 1 ? T.estimate_one : fill(T.estimate_minutes, { n: minutes });
  }

  // ----- step 1: identity -----

  function storedIdentity() {
    try {
      var held = JSON.parse(storage.get(identityKey) || "null");
      if (held && held.identity && Date.parse(held.expires_at) > Date.now() + 60000) return held;
    } catch (e) { /* unreadable: ask again */ }
    storage.remove(identityKey);
    return null;
  }

  function askForEmail() {
    show("join-step", false);
    show("identity-step", true);
    show("email-form", true);
    show("code-form", false);
  }

  $("email-form").addEventListener("submit", async function (ev) {
    ev.preventDefault();
    var email = $("email").value.trim();
    var button = ev.submitter || this.querySelector("button");
    button.disabled = true;
    var reply = await call("POST", api + "/identity", { email: email });
    button.disabled = false;
    if (reply.status === 202) {
      showError("");
      $("code-sent").textContent = fill(T.code_sent, { email: email });
      show("email-form", false);
      show("code-form", true);
      $("code").focus();
    } else {
      showError(problemText(reply, T.email_invalid));
    }
  });

  // The mail prints the code as "373 710" for reading; the spaces are dropped.
  $("code-form").addEventListener("submit", async function (ev) {
    ev.preventDefault();
    var email = $("email").value.trim();
    var button = this.querySelector("button[type=submit]");
    button.disabled = true;
    var reply = await call("POST", api + "/identity/confirm", { email: email, code: $("code").value.replace(/\s+/g, "") });
    button.disabled = false;
    if (reply.status === 200) {
      showError("");
      storage.set(identityKey, JSON.stringify({ identity: reply.body.identity, expires_at: reply.body.expires_at, email: email }));
      show("identity-step", false);
      join();
    } else {
      showError(problemText(reply, T.code_wrong));
    }
  });

  $("other-email").addEventListener("click", function () {
    $("code").value = "";
    askForEmail();
    $("email").focus();
  });

  $("forget").addEventListener("click", function () {
    storage.remove(identityKey);
    askForEmail();
    $("email").focus();
  });

  // ----- step 2: join -----

  var joining = false;

  async function join() {
    var held = storedIdentity();
    if (!held) return askForEmail();
    if (joining) return;
    joining = true;
    show("identity-step", false);
    show("join-step", true);
    $("identity-held").textContent = fill(T.identity_held, { email: held.email || "" });
    $("join").disabled = true;
    try {
      // A place held already (refresh on a new device) comes back without work.
      var reply = await call("POST", eventPath + "/queue", { identity: held.identity });
      if (reply.status === 422 && reply.body.code === "pow_required") {
        reply = await solveAndJoin(held.identity);
      }
      if (reply.status === 200 || reply.status === 201) {
        showError("");
        storage.set(queueKey, reply.body.token);
        show("join-step", false);
        render(reply.body.status);
        schedulePoll(0);
      } else if (reply.status === 401) {
        storage.remove(identityKey);
        showError(T.error);
        askForEmail();
      } else {
        showError(problemText(reply));
      }
    } finally {
      joining = false;
      $("join").disabled = false;
      show("pow", false);
    }
  }

  async function solveAndJoin(identity) {
    var got = await call("GET", eventPath + "/queue/challenge");
    if (got.status !== 200) return got;
    show("pow", true);
    $("pow-bar").value = 0;
    var counter = await solvePow(got.body.challenge, got.body.difficulty, function (p) {
      // The expected count is a mean, not a bound: creep towards full, never past it.
      $("pow-bar").value = Math.min(95, 100 * (1 - Math.exp(-p.attempts / p.expected)));
    });
    $("pow-bar").value = 100;
    return call("POST", eventPath + "/queue", { identity: identity, pow: { challenge: got.body.challenge, counter: counter } });
  }

  $("join").addEventListener("click", join);

  // ----- step 3: status -----

  var pollTimer = null;
  var backoffMs = 0;

  function schedulePoll(delayMs) {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(poll, delayMs);
  }

  function nextDelay() {
    var delay = POLL_MIN_MS + Math.random() * POLL_SPREAD_MS;
    return document.hidden ? delay * HIDDEN_FACTOR : delay;
  }

  async function poll() {
    var token = storage.get(queueKey);
    if (!token) return;
    var reply = await call("GET", eventPath + "/queue/status?token=" + encodeURIComponent(token));
    if (reply.status === 200) {
      backoffMs = 0;
      // After the draw the server hands out a place that carries the rank:
      // later polls with it cost the server next to nothing.
      if (reply.body.token) storage.set(queueKey, reply.body.token);
      render(reply.body);
      // Sold out is final; everything else may still change.
      if (reply.body.phase !== "sold_out") schedulePoll(nextDelay());
      return;
    }
    if (reply.status === 401 || reply.status === 404) {
      // Not a place of this room (a reset room, a foreign token): queue afresh.
      storage.remove(queueKey);
      return join();
    }
    // Overload or no connection: wait what the server asks, else back off
    // exponentially from the base, with jitter either way.
    backoffMs = reply.retryAfter ? reply.retryAfter * 1000 : Math.min(BACKOFF_MAX_MS, Math.max(POLL_MIN_MS, backoffMs * 2));
    showError(reply.status === 0 ? T.offline : T.busy);
    schedulePoll(backoffMs + Math.random() * POLL_SPREAD_MS);
  }

  function render(s) {
    showError("");
    var phase = $("phase");
    phase.textContent = T["phase_" + s.phase] || T.phase_admitting;
    phase.className = "status " + s.phase;
    var paused = s.phase === "paused";
    $("notice").textContent = paused && s.message ? s.message : "";
    show("notice", paused && !!s.message);
    $("resume").textContent = paused && s.resume_at ? T.resume_at + " " + dateTime(s.resume_at) : "";
    show("resume", paused && !!s.resume_at);

    // Once sold out the phase says it all, except to those who bought.
    var soldOut = s.phase === "sold_out";
    var placeText = soldOut && s.place !== "done" ? "" : T["place_" + s.place] || "";
    $("place").textContent = placeText;
    show("place", !!placeText);

    var waiting = s.place === "waiting";
    show("figures", waiting);
    if (waiting) {
      $("position").textContent = s.position;
      $("estimate").textContent = estimateText(s.estimate_secs);
      $("rate").textContent = fill(T.rate_per_minute, { n: s.admissions_per_minute });
      $("waiting").textContent = s.waiting;
    }

    // The shop link only while checkout is open: the brake freezes the window.
    var admitted = s.place === "admitted" && !!s.admission && s.phase === "admitting";
    show("admitted", admitted);
    if (admitted) {
      storage.set(admissionKey, s.admission);
      $("admitted-until").textContent = clockFormat.format(new Date(s.admitted_until)) + T.time_suffix;
      $("shop").href = config.shop + "?admission=" + encodeURIComponent(s.admission) + "&lang=" + config.lang;
      $("admission").textContent = s.admission;
    }

    (s.categories || []).forEach(function (c) {
      var cell = document.querySelector('[data-category="' + Number(c.id) + '"]');
      if (cell) cell.textContent = c.free;
    });
  }

  // ----- start -----

  if (storage.get(queueKey)) {
    schedulePoll(0);
  } else if (storedIdentity()) {
    join();
  } else {
    askForEmail();
  }
})();

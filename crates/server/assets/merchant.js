// The merchant till (web/merchant.rs): enrols an Ed25519 key made with WebCrypto,
// signs every device call as crates/server/src/vouchers/device.rs does, redeems
// online as the device and, when the node does not answer, offline against the
// card's balance certificate within the same limits as the Rust device; the journal
// is kept in IndexedDB and synced once when the node answers again.
"use strict";
(() => {
  const cfg = JSON.parse(document.getElementById("merchant-config").textContent);
  const t = cfg.texts;
  const enc = new TextEncoder();
  const tenantBytes = enc.encode(cfg.tenant);
  const api = (path) => `/api/v1/${cfg.tenant}/vouchers${path}`;
  const timeoutMs = 5000;
  const windowSecs = 8 * 3600;
  const $ = (id) => document.getElementById(id);

  // ----- bytes -----
  const concat = (...parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  };
  const u32 = (n) => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, n); return b; };
  const u64 = (n) => { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, BigInt(n)); return b; };
  const i64 = (n) => { const b = new Uint8Array(8); new DataView(b.buffer).setBigInt64(0, BigInt(n)); return b; };
  const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  const b64url = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const unb64url = (text) => {
    if (!/^[A-Za-z0-9_-]*$/.test(text)) return null;
    const bin = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  };
  const sha256 = async (bytes) => new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const randomId = () => {
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[15] |= 1; // never zero
    return hex(b);
  };

  // ----- money -----
  const euros = (cents) => {
    const sign = cents < 0 ? "-" : "";
    const abs = Math.abs(cents);
    const whole = String(Math.floor(abs / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, cfg.lang === "de" ? "." : ",");
    const part = String(abs % 100).padStart(2, "0");
    return cfg.lang === "de" ? `${sign}${whole},${part}\u00a0€` : `${sign}€${whole}.${part}`;
  };
  const parseCents = (text) => {
    const m = /^\s*(\d{1,7})(?:[.,](\d{1,2}))?\s*(?:€)?\s*$/.exec(text);
    if (!m) return null;
    return Number(m[1]) * 100 + Number((m[2] || "0").padEnd(2, "0"));
  };
  const fill = (text, values) => text.replace(/\{(\w+)\}/g, (_, k) => (k in values ? values[k] : `{${k}}`));
  const normCode = (code) => code.toUpperCase().replace(/[^0-9A-Z]/g, "");

  // ----- storage: one record, CryptoKeys included (they are structured-cloneable) -----
  let st = { device: null, allowance: null, journal: [], synced: 0, nextSeq: 1, certs: {}, lastSync: null };
  const openDb = () => new Promise((ok, fail) => {
    const r = indexedDB.open(`sturmfest-merchant-${cfg.tenant}`, 1);
    r.onupgradeneeded = () => r.result.createObjectStore("kv");
    r.onsuccess = () => ok(r.result);
    r.onerror = () => fail(r.error);
  });
  const dbp = openDb();
  const load = async () => {
    const db = await dbp;
    return new Promise((ok, fail) => {
      const r = db.transaction("kv").objectStore("kv").get("state");
      r.onsuccess = () => ok(r.result);
      r.onerror = () => fail(r.error);
    });
  };
  const save = async () => {
    const db = await dbp;
    return new Promise((ok, fail) => {
      const tx = db.transaction("kv", "readwrite");
      tx.objectStore("kv").put(st, "state");
      tx.oncomplete = () => ok();
      tx.onerror = () => fail(tx.error);
    });
  };

  // ----- the node -----
  class Offline extends Error {}
  class Refused extends Error {
    constructor(problem) { super(problem.code || "error"); this.problem = problem; }
  }
  const send = async (path, body, headers) => {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timeoutMs);
    let response;
    try {
      response = await fetch(path, { method: "POST", body, headers: { "content-type": "application/json", ...headers }, signal: abort.signal, cache: "no-store" });
    } catch (e) {
      throw new Offline(String(e));
    } finally {
      clearTimeout(timer);
    }
    // Card ids are random u64s: integers beyond 2^53 are kept as their decimal text.
    let json = {};
    try {
      json = JSON.parse(await response.text(), (k, v, ctx) =>
        (typeof v === "number" && !Number.isSafeInteger(v) && ctx && /^\d+$/.test(ctx.source) ? ctx.source : v));
    } catch (e) { /* an empty or non-JSON body */ }
    if (!response.ok) {
      if (response.status >= 502 && response.status <= 504) throw new Offline(`status ${response.status}`);
      throw new Refused(json);
    }
    return json;
  };
  // "sturmfest device request v1" 0 ‖ len(tenant) ‖ tenant ‖ device u64 ‖ time i64 ‖ method 0 ‖ path 0 ‖ SHA-256(body)
  const signed = async (path, value) => {
    const full = api(path);
    // Card ids travel as JSON numbers but are held as decimal text (see `send`).
    const body = enc.encode(JSON.stringify(value).replace(/"card":"(\d+)"/g, '"card":$1'));
    const time = Date.now();
    const message = concat(
      enc.encode("sturmfest device request v1\0"), Uint8Array.of(tenantBytes.length), tenantBytes,
      u64(st.device.id), i64(time), enc.encode("POST\0"), enc.encode(full), Uint8Array.of(0), await sha256(body),
    );
    const signature = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, st.device.keys.privateKey, message));
    return send(full, body, { "x-device": String(st.device.id), "x-device-time": String(time), "x-device-signature": b64url(signature) });
  };

  // ----- credentials (docs/CREDENTIALS.md): sf1.<kind>.<key id>.<body>.<signature> -----
  const verifyCredential = async (kind, text, keys) => {
    const parts = text.trim().split(".");
    if (parts.length !== 5 || parts[0] !== "sf1" || parts[1] !== String(kind) || !/^(0|[1-9]\d*)$/.test(parts[2])) return null;
    const keyId = Number(parts[2]);
    const key = keys.find((k) => k.id === keyId);
    const body = unb64url(parts[3]);
    const signature = unb64url(parts[4]);
    if (!key || !body || !signature || signature.length !== 64) return null;
    const message = concat(enc.encode("sturmfest credential v1\0"), Uint8Array.of(tenantBytes.length), tenantBytes, Uint8Array.of(kind), u32(keyId), body);
    try {
      const pub = await crypto.subtle.importKey("raw", unb64url(key.public), { name: "Ed25519" }, false, ["verify"]);
      return (await crypto.subtle.verify({ name: "Ed25519" }, pub, signature, message)) ? body : null;
    } catch (e) {
      return null;
    }
  };
  const certificate = (body) => {
    if (!body || body.length !== 53 || body[0] !== 1) return null;
    const v = new DataView(body.buffer, body.byteOffset, body.length);
    return {
      programme: v.getUint32(1), card: v.getBigUint64(5).toString(), balance: Number(v.getBigInt64(13)),
      serial: Number(v.getBigUint64(21)), validUntil: Number(v.getBigInt64(37)), cap: Number(v.getBigInt64(45)),
    };
  };
  const revocationsValid = async (text, keys, programme, cards) => {
    const body = await verifyCredential(6, text, keys);
    if (!body || body.length !== 49 || body[0] !== 1) return false;
    const v = new DataView(body.buffer, body.byteOffset, body.length);
    if (v.getUint32(1) !== programme || v.getUint32(13) !== cards.length) return false;
    const sorted = cards.map(BigInt).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const digest = await sha256(concat(...sorted.map(u64)));
    return digest.every((b, i) => b === body[17 + i]);
  };

  // ----- what the till shows -----
  const show = (kind, lines, qr) => {
    const box = $("result");
    box.className = kind;
    box.replaceChildren(...lines.map((line) => { const p = document.createElement("p"); p.textContent = line; return p; }));
    if (qr) {
      const label = document.createElement("p");
      label.textContent = t.qr_text;
      const code = document.createElement("code");
      code.id = "qr-out";
      code.textContent = qr;
      box.append(label, code);
    }
  };
  const problemText = (err) => {
    if (err instanceof Refused) return t.problems[err.problem.code] || err.problem.detail || t.error;
    return t.error;
  };
  const pending = () => st.journal.slice(st.synced);
  const allowanceLeft = () => (st.allowance ? st.allowance.amount - st.allowance.used : 0);
  let online = true;
  const status = () => {
    const el = $("status");
    const n = pending().length;
    if (!st.device) { el.textContent = ""; return; }
    if (!online || n > 0) {
      el.className = "status offline";
      el.textContent = fill(t.offline_status, { n, left: euros(allowanceLeft()) });
    } else {
      el.className = "status";
      el.textContent = fill(t.online_ready, { left: euros(allowanceLeft()) });
    }
  };
  const screens = () => {
    $("enrol").hidden = !!st.device;
    $("redeem").hidden = !st.device;
    status();
  };

  // ----- allowance -----
  const takeAllowance = async (reply) => {
    const cards = (reply.revoked_cards || []).map(String);
    if (!(await revocationsValid(reply.revocations, reply.keys, reply.programme, cards))) throw new Error("revocations");
    st.allowance = {
      programme: reply.programme, amount: reply.amount_cents, expiresAt: reply.expires_at, cap: reply.card_offline_cents_max,
      used: 0, taken: {}, revoked: cards, keys: reply.keys,
    };
    await save();
  };
  const refreshAllowance = async () => {
    if (!st.device || st.allowance) return;
    try {
      await takeAllowance(await signed("/device/allowance", { programme: st.device.programme, amount_cents: st.device.allowanceCents, window_secs: windowSecs }));
      online = true;
    } catch (err) {
      if (err instanceof Offline) online = false;
    }
    status();
  };

  // ----- enrol -----
  $("enrol-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = event.target.querySelector("button");
    const programme = Number($("programme").value.trim());
    const allowanceCents = parseCents($("allowance").value) ?? 0;
    if (!crypto.subtle || !window.indexedDB) { show("bad", [t.webcrypto_missing]); return; }
    button.disabled = true;
    show("", [t.enrolling]);
    try {
      let keys;
      try {
        keys = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
      } catch (e) {
        show("bad", [t.webcrypto_missing]);
        return;
      }
      const raw = new Uint8Array(await crypto.subtle.exportKey("raw", keys.publicKey));
      const body = enc.encode(JSON.stringify({ pairing_code: $("pairing").value.trim(), public_key: hex(raw) }));
      const reply = await send(api("/devices/enrol"), body, {});
      st.device = { id: reply.device, merchant: reply.merchant, keys, programme, allowanceCents };
      await save();
      await refreshAllowance();
      screens();
      show("ok", [fill(t.enrolled, { device: reply.device })]);
      $("card").focus();
    } catch (err) {
      show("bad", [err instanceof Offline ? t.error : problemText(err)]);
    } finally {
      button.disabled = false;
    }
  });

  // ----- redeem -----
  const offlineRedeem = async (input, code, cents) => {
    const a = st.allowance;
    if (!a) return show("bad", [t.no_allowance]);
    const now = Date.now();
    if (now > a.expiresAt) return show("bad", [t.allowance_expired]);
    const qr = input.includes("~") ? input : st.certs[normCode(code)];
    if (!qr) return show("bad", [t.not_a_qr]);
    const cert = certificate(await verifyCredential(5, qr.slice(qr.indexOf("~") + 1), a.keys));
    if (!cert || now >= cert.validUntil) return show("bad", [t.certificate_bad]);
    if (cert.programme !== a.programme) return show("bad", [t.other_programme]);
    if (a.revoked.includes(cert.card)) return show("bad", [t.revoked]);
    const taken = a.taken[cert.card] || 0;
    const capLeft = Math.min(a.cap, cert.cap) - taken;
    if (cents > capLeft) return show("bad", [fill(t.over_cap, { left: euros(Math.max(capLeft, 0)) })]);
    const balanceLeft = cert.balance - taken;
    if (cents > balanceLeft) return show("bad", [fill(t.over_balance, { left: euros(Math.max(balanceLeft, 0)) })]);
    if (cents > a.amount - a.used) return show("bad", [fill(t.over_allowance, { left: euros(a.amount - a.used) })]);
    a.used += cents;
    a.taken[cert.card] = taken + cents;
    st.journal.push({
      redemption_id: randomId(), sequence: st.nextSeq, card: cert.card, amount_cents: cents, at: now,
      certificate_serial: cert.serial, certificate_balance_cents: cert.balance,
    });
    st.nextSeq += 1;
    await save();
    online = false;
    status();
    show("ok", [fill(t.offline_redeemed, { amount: euros(cents) }), t.rest_paid_otherwise]);
  };

  $("redeem-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("card").value.trim();
    const cents = parseCents($("amount").value);
    if (cents === null || cents <= 0) { show("bad", [t.amount_invalid]); $("amount").focus(); return; }
    const code = input.split("~")[0].trim();
    const pin = $("pin").value.trim();
    const button = $("redeem-button");
    button.disabled = true;
    try {
      const value = { redemption_id: randomId(), code, amount_cents: cents };
      if (pin) value.pin = pin;
      const reply = await signed("/device/redeem", value);
      online = true;
      st.certs[normCode(code)] = reply.qr;
      await save();
      show("ok", [fill(t.redeemed, { amount: euros(reply.amount_cents), left: euros(reply.balance_cents) }), t.rest_paid_otherwise], reply.qr);
      $("amount").value = "";
      $("pin").value = "";
      trySync(false);
    } catch (err) {
      if (err instanceof Offline) await offlineRedeem(input, code, cents);
      else show("bad", [problemText(err)]);
    } finally {
      button.disabled = false;
      status();
    }
  });

  $("check").addEventListener("click", async () => {
    const code = $("card").value.trim().split("~")[0].trim();
    try {
      const reply = await signed("/device/certificate", { code });
      online = true;
      st.certs[normCode(code)] = reply.qr;
      await save();
      show("ok", [fill(t.balance, { balance: euros(reply.balance_cents) })], reply.qr);
    } catch (err) {
      if (err instanceof Offline) { online = false; show("bad", [fill(t.offline_status, { n: pending().length, left: euros(allowanceLeft()) })]); }
      else show("bad", [problemText(err)]);
    }
    status();
  });

  // ----- sync: the pending journal, once; a lost reply is harmless (the node books by id) -----
  let syncing = false;
  const trySync = async (manual) => {
    if (syncing || !st.device) return;
    const entries = pending();
    if (entries.length === 0) {
      await refreshAllowance();
      if (manual) show("ok", [t.nothing_to_sync]);
      return;
    }
    syncing = true;
    try {
      const reply = await signed("/device/sync", { redemptions: entries });
      online = true;
      st.synced += entries.length;
      st.allowance = null; // the node closed it
      st.lastSync = reply;
      await save();
      show("ok", [fill(t.synced, { booked: reply.booked, refused: reply.refused, duplicates: reply.duplicates })]);
      await refreshAllowance();
    } catch (err) {
      if (err instanceof Offline) online = false;
      else show("bad", [problemText(err)]);
    } finally {
      syncing = false;
      status();
    }
  };
  $("sync").addEventListener("click", () => trySync(true));

  // ----- optional camera scan -----
  if ("BarcodeDetector" in window && navigator.mediaDevices) {
    $("scan").hidden = false;
    $("scan").addEventListener("click", async () => {
      const video = $("camera");
      try {
        const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
        const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
        video.srcObject = stream;
        video.hidden = false;
        await video.play();
        const stop = () => { stream.getTracks().forEach((track) => track.stop()); video.hidden = true; };
        const tick = async () => {
          const found = await detector.detect(video).catch(() => []);
          if (found.length) { $("card").value = found[0].rawValue; stop(); $("amount").focus(); return; }
          if (!video.hidden) requestAnimationFrame(tick);
        };
        tick();
      } catch (e) {
        video.hidden = true;
      }
    });
  }

  // ----- start -----
  if ("serviceWorker" in navigator) navigator.serviceWorker.register(cfg.sw).catch(() => {});
  load().then(async (saved) => {
    if (saved) st = saved;
    screens();
    if (st.device) { await trySync(false); }
    setInterval(() => trySync(false), 3000);
  });
})();

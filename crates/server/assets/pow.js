// Solves sturmfest's proof-of-work challenge (docs/POW.md): finds the smallest
// counter such that SHA-256(challengeText + ":" + counter) starts with at least
// `difficulty` zero bits. Plain JavaScript, no build step, and it fetches nothing:
// the waiting page fetches the challenge and posts the counter.
//
//   solvePow(challengeText, difficulty, onProgress) -> Promise<counter>
//
// onProgress({ attempts, expected }) is called between slices of work; `expected`
// is 2^difficulty, the mean number of attempts, so a page can show a bar.
//
// Why a SHA-256 of its own instead of crypto.subtle.digest: subtle exists only in
// secure contexts (not on a plain-http test or intranet host), it costs a promise
// per hash — more than the hash itself at these sizes — and it cannot reuse work.
// Every attempt hashes the same long prefix, so this solver compresses the
// prefix's whole 64-byte blocks once and then only the last one or two blocks per
// counter. The constants below are SHA-256's (FIPS 180-4), computed exactly; the
// server's tests check this code against Node's own SHA-256 and the Rust verifier.
(function (root) {
  "use strict";

  var K = new Int32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
  ]);
  var H0 = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

  // Time one slice of work may take before the page gets the thread back (ms).
  var SLICE_MS = 50;

  // One SHA-256 compression of the 64 bytes at bytes[offset..] into state.
  function compress(state, bytes, offset, w) {
    var i;
    for (i = 0; i < 16; i++) {
      var j = offset + 4 * i;
      w[i] = (bytes[j] << 24) | (bytes[j + 1] << 16) | (bytes[j + 2] << 8) | bytes[j + 3];
    }
    for (i = 16; i < 64; i++) {
      var x = w[i - 15], y = w[i - 2];
      var s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      var s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
    }
    var a = state[0], b = state[1], c = state[2], d = state[3];
    var e = state[4], f = state[5], g = state[6], h = state[7];
    for (i = 0; i < 64; i++) {
      var S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      var t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[i] + w[i]) | 0;
      var S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      var t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      h = g; g = f; f = e; e = (d + t1) | 0;
      d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    state[0] = (state[0] + a) | 0; state[1] = (state[1] + b) | 0;
    state[2] = (state[2] + c) | 0; state[3] = (state[3] + d) | 0;
    state[4] = (state[4] + e) | 0; state[5] = (state[5] + f) | 0;
    state[6] = (state[6] + g) | 0; state[7] = (state[7] + h) | 0;
  }

  // The challenge format is ASCII only; anything else is not a challenge.
  function asciiBytes(text) {
    var out = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) {
      var c = text.charCodeAt(i);
      if (c > 0x7e) throw new Error("pow: the challenge must be ASCII");
      out[i] = c;
    }
    return out;
  }

  // Hashes prefix + suffix, where prefix's whole blocks are already in `mid`
  // (a copy of the state after them) and `rest` is what is left of prefix.
  function Hasher(prefix) {
    var w = new Int32Array(64);
    var whole = prefix.length - (prefix.length % 64);
    var mid = new Int32Array(H0);
    for (var off = 0; off < whole; off += 64) compress(mid, prefix, off, w);
    var rest = prefix.subarray(whole);
    var tail = new Uint8Array(192); // rest (< 64) + suffix + padding: at most 3 blocks
    var state = new Int32Array(8);
    tail.set(rest);
    this.digest = function (suffix) {
      var n = rest.length + suffix.length;
      if (n > 183) throw new Error("pow: suffix too long");
      tail.set(suffix, rest.length);
      var padded = n + 9 <= 64 ? 64 : n + 9 <= 128 ? 128 : 192;
      tail[n] = 0x80;
      for (var i = n + 1; i < padded - 8; i++) tail[i] = 0;
      var bits = (prefix.length + suffix.length) * 8;
      var hi = Math.floor(bits / 0x100000000), lo = bits >>> 0;
      tail[padded - 8] = hi >>> 24; tail[padded - 7] = (hi >>> 16) & 255;
      tail[padded - 6] = (hi >>> 8) & 255; tail[padded - 5] = hi & 255;
      tail[padded - 4] = lo >>> 24; tail[padded - 3] = (lo >>> 16) & 255;
      tail[padded - 2] = (lo >>> 8) & 255; tail[padded - 1] = lo & 255;
      state.set(mid);
      for (var b = 0; b < padded; b += 64) compress(state, tail, b, w);
      return state;
    };
  }

  function leadingZeroBits(state) {
    for (var i = 0; i < 8; i++) {
      if (state[i] !== 0) return 32 * i + Math.clz32(state[i]);
    }
    return 256;
  }

  function hex(state) {
    var s = "";
    for (var i = 0; i < 8; i++) s += ("00000000" + (state[i] >>> 0).toString(16)).slice(-8);
    return s;
  }

  // SHA-256 of an ASCII string as hex: exported so tests can compare it with a
  // reference implementation.
  function sha256Hex(text) {
    return hex(new Hasher(asciiBytes(text)).digest(new Uint8Array(0)));
  }

  // Digits of a counter as ASCII bytes, the canonical decimal the server parses.
  function counterBytes(counter) {
    return asciiBytes(String(counter));
  }

  // Whether the counter solves the challenge; the loop below finds the smallest.
  function solvesAt(hasher, counter, difficulty) {
    return leadingZeroBits(hasher.digest(counterBytes(counter))) >= difficulty;
  }

  function solvePow(challengeText, difficulty, onProgress) {
    return new Promise(function (resolve, reject) {
      if (!(difficulty >= 0 && difficulty <= 256 && Math.floor(difficulty) === difficulty)) {
        reject(new Error("pow: difficulty must be an integer number of bits"));
        return;
      }
      var hasher;
      try {
        hasher = new Hasher(asciiBytes(challengeText + ":"));
      } catch (e) {
        reject(e);
        return;
      }
      var counter = 0;
      var expected = Math.pow(2, difficulty);
      function slice() {
        var until = Date.now() + SLICE_MS;
        do {
          // Check the clock every 1,024 attempts: often enough to stay near
          // SLICE_MS, rarely enough to cost nothing.
          for (var end = counter + 1024; counter < end; counter++) {
            if (solvesAt(hasher, counter, difficulty)) {
              resolve(counter);
              return;
            }
          }
        } while (Date.now() < until);
        if (counter >= Number.MAX_SAFE_INTEGER) {
          reject(new Error("pow: no solution below 2^53"));
          return;
        }
        if (onProgress) onProgress({ attempts: counter, expected: expected });
        // Yield so the page stays responsive and can repaint the progress.
        setTimeout(slice, 0);
      }
      slice();
    });
  }

  root.solvePow = solvePow;
  if (typeof module !== "undefined" && module.exports) {
    module.exports = { solvePow: solvePow, sha256Hex: sha256Hex };
  }
})(typeof self !== "undefined" ? self : this);

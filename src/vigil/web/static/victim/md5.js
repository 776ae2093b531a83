// MD5 (RFC 1321) over an ArrayBuffer, for the victim's device: the lists of the field (NCMEC,
// Take It Down) use MD5 for videos, and WebCrypto does not offer it.
"use strict";

const MD5_S = [7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
  5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
  4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
  6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21];
const MD5_K = Array.from({ length: 64 }, (_, i) => Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32) >>> 0);

function md5Blocks(state, view, offset, count) {
  const m = new Uint32Array(16);
  for (let blk = 0; blk < count; blk++) {
    const base = offset + blk * 64;
    for (let i = 0; i < 16; i++) m[i] = view.getUint32(base + i * 4, true);
    let [a, b, c, d] = state;
    for (let i = 0; i < 64; i++) {
      let f, g;
      if (i < 16) { f = (b & c) | (~b & d); g = i; }
      else if (i < 32) { f = (d & b) | (~d & c); g = (5 * i + 1) % 16; }
      else if (i < 48) { f = b ^ c ^ d; g = (3 * i + 5) % 16; }
      else { f = c ^ (b | ~d); g = (7 * i) % 16; }
      const tmp = d;
      d = c;
      c = b;
      const x = (a + f + MD5_K[i] + m[g]) >>> 0;
      b = (b + ((x << MD5_S[i]) | (x >>> (32 - MD5_S[i])))) >>> 0;
      a = tmp;
    }
    state[0] = (state[0] + a) >>> 0; state[1] = (state[1] + b) >>> 0;
    state[2] = (state[2] + c) >>> 0; state[3] = (state[3] + d) >>> 0;
  }
}

function md5Hex(buffer) {
  const bytes = new Uint8Array(buffer);
  const state = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];
  const full = Math.floor(bytes.length / 64);
  md5Blocks(state, new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0, full);
  const rest = bytes.length - full * 64;
  const tail = new Uint8Array(rest < 56 ? 64 : 128);
  tail.set(bytes.subarray(full * 64));
  tail[rest] = 0x80;
  const bits = bytes.length * 8;
  const tv = new DataView(tail.buffer);
  tv.setUint32(tail.length - 8, bits >>> 0, true);
  tv.setUint32(tail.length - 4, Math.floor(bits / 2 ** 32), true);
  md5Blocks(state, tv, 0, tail.length / 64);
  let hex = "";
  for (const w of state) for (let i = 0; i < 4; i++) hex += ((w >>> (8 * i)) & 255).toString(16).padStart(2, "0");
  return hex;
}

if (typeof self !== "undefined") { self.md5Hex = md5Hex; }
if (typeof module !== "undefined") { module.exports = { md5Hex }; }

// PDQ (Meta's perceptual hash) for the browser, written from the algorithm of the reference
// implementation so that a victim's device computes the same hash as the Centre's server:
// luma (0.299 R + 0.587 G + 0.114 B) at full resolution, two passes of Jarosz box filters,
// decimation to 64 x 64, a 16 x 16 DCT (without the DC row and column), and a bit for each
// coefficient above the median. Arithmetic is done in 32-bit floats, as in the reference.
"use strict";

const f32 = Math.fround;

function box1D(src, dst, start, length, stride, window) {
  const half = Math.floor((window + 2) / 2);
  const phase1 = half - 1;
  const phase2 = window - half + 1;
  const phase3 = length - window;
  const phase4 = half - 1;
  let li = start, ri = start, oi = start;
  let sum = 0, size = 0;
  for (let i = 0; i < phase1; i++) { sum = f32(sum + src[ri]); size++; ri += stride; }
  for (let i = 0; i < phase2; i++) { sum = f32(sum + src[ri]); size++; dst[oi] = f32(sum / size); ri += stride; oi += stride; }
  for (let i = 0; i < phase3; i++) { sum = f32(sum + src[ri]); sum = f32(sum - src[li]); dst[oi] = f32(sum / size); li += stride; ri += stride; oi += stride; }
  for (let i = 0; i < phase4; i++) { sum = f32(sum - src[li]); size--; dst[oi] = f32(sum / size); li += stride; oi += stride; }
}

function windowSize(oldDim, newDim) {
  return Math.floor((oldDim + 2 * newDim - 1) / (2 * newDim));
}

const DCT = (() => {
  const m = new Float32Array(16 * 64);
  const scale = Math.sqrt(2 / 64);
  for (let i = 0; i < 16; i++) {
    for (let j = 0; j < 64; j++) {
      m[i * 64 + j] = f32(scale * Math.cos((Math.PI / 2 / 64) * (i + 1) * (2 * j + 1)));
    }
  }
  return m;
})();

function medianOf(values) {
  // Torben's median, as the reference: the smallest value with at least half not above it.
  const n = values.length;
  let min = values[0], max = values[0];
  for (const v of values) { if (v < min) min = v; if (v > max) max = v; }
  const half = Math.floor((n + 1) / 2);
  for (;;) {
    const guess = f32((min + max) / 2);
    let less = 0, greater = 0, equal = 0, maxltguess = min, mingtguess = max;
    for (const v of values) {
      if (v < guess) { less++; if (v > maxltguess) maxltguess = v; }
      else if (v > guess) { greater++; if (v < mingtguess) mingtguess = v; }
      else equal++;
    }
    if (less <= half && greater <= half) {
      if (less >= half) return maxltguess;
      if (less + equal >= half) return guess;
      return mingtguess;
    }
    if (less > greater) max = maxltguess; else min = mingtguess;
  }
}

// rgba: Uint8ClampedArray of width*height*4. Returns {hex, quality}.
function pdqFromRGBA(rgba, width, height) {
  const n = width * height;
  let a = new Float32Array(n);
  let b = new Float32Array(n);
  for (let p = 0, q = 0; p < n; p++, q += 4) {
    // The reference computes luma in double precision, then stores a float.
    a[p] = f32(rgba[q] * 0.299 + rgba[q + 1] * 0.587 + rgba[q + 2] * 0.114);
  }
  const wRows = windowSize(width, 64);   // along each row (over columns)
  const wCols = windowSize(height, 64);  // along each column (over rows)
  for (let pass = 0; pass < 2; pass++) {
    for (let i = 0; i < height; i++) box1D(a, b, i * width, width, 1, wRows);
    for (let j = 0; j < width; j++) box1D(b, a, j, height, width, wCols);
  }
  const d = new Float32Array(64 * 64);
  for (let i = 0; i < 64; i++) {
    const ini = Math.floor(((i + 0.5) * height) / 64);
    for (let j = 0; j < 64; j++) {
      const inj = Math.floor(((j + 0.5) * width) / 64);
      d[i * 64 + j] = a[ini * width + inj];
    }
  }
  a = b = null;
  // Quality: the image's gradient sum.
  let gradient = 0;
  for (let i = 0; i < 63; i++) for (let j = 0; j < 64; j++) {
    gradient += Math.abs(Math.trunc(f32(f32(f32(d[i * 64 + j] - d[(i + 1) * 64 + j]) * 100) / 255)));
  }
  for (let i = 0; i < 64; i++) for (let j = 0; j < 63; j++) {
    gradient += Math.abs(Math.trunc(f32(f32(f32(d[i * 64 + j] - d[i * 64 + j + 1]) * 100) / 255)));
  }
  const quality = Math.min(100, Math.floor(gradient / 90));
  // B = D A D^T, 16 x 16.
  const t = new Float32Array(16 * 64);
  for (let i = 0; i < 16; i++) for (let j = 0; j < 64; j++) {
    let s = 0;
    for (let k = 0; k < 64; k++) s = f32(s + f32(DCT[i * 64 + k] * d[k * 64 + j]));
    t[i * 64 + j] = s;
  }
  const c = new Float32Array(256);
  for (let i = 0; i < 16; i++) for (let j = 0; j < 16; j++) {
    let s = 0;
    for (let k = 0; k < 64; k++) s = f32(s + f32(t[i * 64 + k] * DCT[j * 64 + k]));
    c[i * 16 + j] = s;
  }
  const median = medianOf(c);
  const words = new Uint16Array(16);
  for (let k = 0; k < 256; k++) if (c[k] > median) words[k >> 4] |= 1 << (k & 15);
  let hex = "";
  for (let w = 15; w >= 0; w--) hex += words[w].toString(16).padStart(4, "0");
  return { hex, quality };
}

if (typeof self !== "undefined") { self.pdqFromRGBA = pdqFromRGBA; }
if (typeof module !== "undefined") { module.exports = { pdqFromRGBA }; }

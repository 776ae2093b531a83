// Runs off the page's thread, so that large images never freeze it. Receives a File, returns
// its hashes. The file's bytes stay in this worker: nothing here touches the network.
"use strict";
importScripts("pdq.js", "md5.js");

const MAX_BYTES = 200 * 1024 * 1024;
const MAX_PIXELS = 50 * 1000 * 1000;

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function hashFile(file) {
  if (file.size === 0) throw new Error("empty");
  if (file.size > MAX_BYTES) throw new Error("too large");
  const buffer = await file.arrayBuffer();
  const out = { name: file.name, size: file.size, md5: md5Hex(buffer),
                sha256: hex(await crypto.subtle.digest("SHA-256", buffer)),
                kind: file.type.startsWith("video/") ? "video" : "image", pdq: null, quality: null };
  if (out.kind === "image") {
    // As the server decodes (vigil/matching/hashing.py, "the decoding pipeline"): the
    // displayed orientation (EXIF applied), colours through the embedded profile into sRGB
    // (the server does the same), the first frame, 8 bits, and transparency composited on
    // white (premultiplied, then drawn over a white canvas: the server's arithmetic too).
    const bitmap = await createImageBitmap(file, { imageOrientation: "from-image",
      colorSpaceConversion: "default", premultiplyAlpha: "premultiply" });
    if (bitmap.width * bitmap.height > MAX_PIXELS) throw new Error("too many pixels");
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, bitmap.width, bitmap.height);
    ctx.drawImage(bitmap, 0, 0);
    const data = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
    const { hex: pdq, quality } = pdqFromRGBA(data, bitmap.width, bitmap.height);
    bitmap.close();
    out.pdq = pdq;
    out.quality = quality;
  }
  return out;
}

self.onmessage = async (event) => {
  const { id, file } = event.data;
  try {
    self.postMessage({ id, ok: true, result: await hashFile(file) });
  } catch (err) {
    self.postMessage({ id, ok: false, error: String(err && err.message || err) });
  }
};

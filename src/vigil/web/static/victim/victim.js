// The removal page: hashes are made on this device (in a worker), shown to the person, and
// only the hashes are sent when they ask for removal.
"use strict";
(function () {
  const worker = new Worker("/app/static/victim/hasher-worker.js");
  const pending = new Map();
  let next = 0;
  worker.onmessage = (e) => {
    const { id, ok, result, error } = e.data;
    const p = pending.get(id);
    pending.delete(id);
    if (ok) p.resolve(result); else p.reject(new Error(error));
  };
  // A text in the page's language for a count: the server gives every plural form by CLDR
  // category (data attribute, JSON) and the browser's own plural rules pick one.
  function plural(forms, n) {
    const all = JSON.parse(forms);
    const lang = document.documentElement.lang || "en";
    const text = all[new Intl.PluralRules(lang).select(n)] || all.other || "";
    return text.replace("%(num)s", n.toLocaleString(lang));
  }

  function hashInWorker(file) {
    return new Promise((resolve, reject) => {
      const id = next++;
      pending.set(id, { resolve, reject });
      worker.postMessage({ id, file });
    });
  }
  window.vigilHashFile = hashInWorker;

  const input = document.getElementById("files");
  const list = document.getElementById("hashes");
  const submit = document.getElementById("create");
  const status = document.getElementById("hash-status");
  const hashes = [];
  window.vigilHashes = hashes;  // what this page would send (read by the browser tests)
  if (!input) return;
  input.addEventListener("change", async () => {
    submit.disabled = true;
    for (const file of input.files) {
      status.textContent = status.dataset.working;
      try {
        const h = await hashInWorker(file);
        hashes.push(h);
        const li = document.createElement("li");
        li.textContent = `${h.name}: ${h.kind}, MD5 ${h.md5.slice(0, 12)}…` + (h.pdq ? `, PDQ ${h.pdq.slice(0, 12)}…` : "");
        list.appendChild(li);
      } catch (err) {
        const li = document.createElement("li");
        li.className = "bad";
        li.textContent = `${file.name}: ${status.dataset.failed} (${err.message})`;
        list.appendChild(li);
      }
    }
    input.value = "";  // the page keeps no reference to the files
    status.textContent = hashes.length ? plural(status.dataset.ready, hashes.length) : "";
    submit.disabled = hashes.length === 0;
  });
  document.getElementById("case-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.target;
    const body = { country: form.country.value || null, age_group: form.age_group.value || null,
                   hashes: hashes.map((h) => ({ kind: h.kind, md5: h.md5, sha256: h.sha256,
                                                pdq: h.pdq, quality: h.quality })) };
    const existing = form.case_number.value.trim();
    const url = existing ? form.dataset.api + "/hashes" : form.dataset.api;
    const payload = existing ? { case_number: existing, pin: form.pin.value, hashes: body.hashes } : body;
    const r = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" },
                                 body: JSON.stringify(payload) });
    const data = await r.json();
    const out = document.getElementById("case-result");
    if (!r.ok) { out.textContent = data.error ? data.error.message : String(r.status); out.className = "flash error"; return; }
    if (existing) {
      out.textContent = out.dataset.added;
      out.className = "flash ok";
      hashes.length = 0;
      list.textContent = "";
      submit.disabled = true;
      return;
    }
    document.getElementById("case-number").textContent = data.case_number;
    document.getElementById("case-pin").textContent = data.pin;
    document.getElementById("case-created").hidden = false;
    form.hidden = true;
    hashes.length = 0;
  });
})();

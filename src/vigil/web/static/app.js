// vigil workspace: review wellbeing (one preview revealed at a time, re-blurred when moving
// on, a session timer with break reminders) and keyboard shortcuts. No third-party code.
"use strict";
(function () {
  function previews() { return Array.from(document.querySelectorAll("img.preview")); }
  let current = 0;

  function buttonsFor(img, cls) {
    return Array.from(document.querySelectorAll("button." + cls + "[data-target='" + img.id + "']"));
  }
  function conceal(img) {
    img.classList.remove("revealed", "coloured");
    buttonsFor(img, "reveal").forEach(function (b) { b.setAttribute("aria-pressed", "false"); b.textContent = b.dataset.show; });
    buttonsFor(img, "colour").forEach(function (b) { b.setAttribute("aria-pressed", "false"); });
  }
  function concealAll() { previews().forEach(conceal); }
  function toggleReveal(img) {
    const show = !img.classList.contains("revealed");
    concealAll();  // only ever one revealed
    if (show) {
      img.classList.add("revealed");
      buttonsFor(img, "reveal").forEach(function (b) { b.setAttribute("aria-pressed", "true"); b.textContent = b.dataset.hide; });
    }
    current = Number(img.dataset.index);
  }
  function toggleColour(img) {
    if (!img.classList.contains("revealed")) { return; }
    const on = img.classList.toggle("coloured");
    buttonsFor(img, "colour").forEach(function (b) { b.setAttribute("aria-pressed", on ? "true" : "false"); });
  }
  function move(step) {
    const all = previews();
    if (!all.length) { return; }
    concealAll();  // moving on re-blurs
    current = (current + step + all.length) % all.length;
    const b = buttonsFor(all[current], "reveal")[0];
    if (b) { b.focus(); }
  }

  document.addEventListener("click", function (e) {
    const b = e.target.closest("button.reveal, button.colour");
    if (!b) { return; }
    const img = document.getElementById(b.dataset.target);
    if (!img) { return; }
    if (b.classList.contains("reveal")) { toggleReveal(img); } else { toggleColour(img); }
  });
  document.addEventListener("visibilitychange", function () { if (document.hidden) { concealAll(); } });
  window.addEventListener("pagehide", concealAll);

  // Session timer and break reminder (kept per browser tab across review pages).
  const bar = document.getElementById("review-session");
  if (bar) {
    const limit = Number(bar.dataset.breakMinutes || "20") * 60 * 1000;
    const key = "vigil-review-start";
    if (!sessionStorage.getItem(key)) { sessionStorage.setItem(key, String(Date.now())); }
    const timer = document.getElementById("timer");
    const box = document.getElementById("break");
    function tick() {
      const ms = Date.now() - Number(sessionStorage.getItem(key));
      const m = Math.floor(ms / 60000), s = Math.floor(ms / 1000) % 60;
      timer.textContent = m + ":" + String(s).padStart(2, "0");
      if (ms >= limit && box.hidden) { box.hidden = false; concealAll(); }
    }
    document.getElementById("break-ok").addEventListener("click", function () {
      sessionStorage.setItem(key, String(Date.now()));  // the break restarts the clock
      box.hidden = true;
    });
    tick();
    setInterval(tick, 1000);
  }
  const toggle = document.getElementById("shortcuts-toggle");
  function toggleHelp() {
    const help = document.getElementById("shortcuts");
    if (!help) { return; }
    help.hidden = !help.hidden;
    if (toggle) { toggle.setAttribute("aria-expanded", help.hidden ? "false" : "true"); }
  }
  if (toggle) { toggle.addEventListener("click", toggleHelp); }

  // The reporting channel: leave quickly (the button, or Escape twice), and its own links
  // replace the current history entry, so the back button does not show where one has been.
  const exit = document.getElementById("quick-exit");
  if (exit) {
    const leave = function () { window.location.replace(exit.dataset.exit); };
    exit.addEventListener("click", function (e) { e.preventDefault(); leave(); });
    let escapes = 0, last = 0;
    document.addEventListener("keydown", function (e) {
      if (e.key !== "Escape") { return; }
      const now = Date.now();
      escapes = now - last < 1500 ? escapes + 1 : 1;
      last = now;
      if (escapes >= 2) { leave(); }
    });
    document.addEventListener("submit", function (e) {
      const form = e.target.closest("form.stay-private");
      if (!form) { return; }
      if (form.method.toLowerCase() === "get") {
        e.preventDefault();
        const query = new URLSearchParams(new FormData(form)).toString();
        window.location.replace(form.action + "?" + query);
        return;
      }
      // A POST (the channel's choices, kept out of addresses): fetch the next page and show it
      // in place of this one, so that it adds no history entry either. Without this script
      // the form is simply posted.
      const submitter = e.submitter || null;
      const action = (submitter && submitter.getAttribute("formaction")) || form.getAttribute("action") || window.location.pathname;
      // The button's own name=value is added by hand: FormData(form, submitter) is ignored by
      // browsers from before 2023, which would drop the choice.
      const body = new URLSearchParams(new FormData(form));
      if (submitter && submitter.name) { body.set(submitter.name, submitter.value); }
      e.preventDefault();
      fetch(action, {method: "POST", body: body, credentials: "same-origin"})
        .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.text(); })
        .then(function (html) {
          window.history.replaceState(null, "", action);
          document.open();
          document.write(html);
          document.close();
        })
        .catch(function () {
          // Post it the ordinary way, with the button's choice and address kept.
          if (submitter && submitter.name) {
            const kept = document.createElement("input");
            kept.type = "hidden";
            kept.name = submitter.name;
            kept.value = submitter.value;
            form.appendChild(kept);
          }
          form.setAttribute("action", action);
          form.classList.remove("stay-private");
          HTMLFormElement.prototype.submit.call(form);
        });
    });
    document.addEventListener("click", function (e) {
      const a = e.target.closest("a.stay-private");
      if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) { return; }
      e.preventDefault();
      window.location.replace(a.href);
    });
  }

  // Keyboard shortcuts (never while typing in a field).
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) { return; }
    const tag = (e.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select") { return; }
    const all = previews();
    if (e.key === "r" && all.length) { toggleReveal(all[current]); }
    else if (e.key === "c" && all.length) { toggleColour(all[current]); }
    else if (e.key === "n") { move(1); }
    else if (e.key === "p") { move(-1); }
    else if (e.key === "?") { toggleHelp(); }
    else if (/^[1-9]$/.test(e.key)) {
      const radio = document.querySelector("input[name='decision'][data-key='" + e.key + "']");
      if (radio) { radio.checked = true; document.getElementById("reason").focus(); e.preventDefault(); }
    } else if (e.key === "j" || e.key === "k") {
      const links = Array.from(document.querySelectorAll("a.row-link"));
      if (!links.length) { return; }
      let i = links.indexOf(document.activeElement);
      i = e.key === "j" ? Math.min(links.length - 1, i + 1) : Math.max(0, i - 1);
      links[i].focus();
    } else { return; }
  });
})();

"""The victim's page in headless Chromium: hashes are made on the device and agree with the
server's; every request the page makes is recorded, and no image byte is ever among them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.fixtures.browser import Live
from tests.fixtures.decoding import variants
from tests.fixtures.images import real_photos
from vigil.matching.hashing import hash_image_file
from vigil.matching.signals import PdqHash
from vigil.samples import encode, pattern_image


def _files(tmp_path: Path) -> list[Path]:
    out = []
    for seed in (11, 12):
        for fmt, ext in (("PNG", "png"), ("JPEG", "jpg")):
            p = tmp_path / f"generated-{seed}.{ext}"
            p.write_bytes(encode(pattern_image(seed, (800, 600)), fmt))
            out.append(p)
    return out + real_photos()[:6]


def test_hashes_made_in_the_browser_match_the_server_and_no_image_leaves(
        browser: Any, live: Live, tmp_path: Path) -> None:
    files = _files(tmp_path)
    context = browser.new_context(base_url=live.base, locale="en-GB")
    page = context.new_page()
    requests: list[Any] = []
    page.on("request", lambda r: requests.append(r))
    page.goto("/help/remove?age=child")
    assert "you are not in trouble" in page.locator("#intro").inner_text()
    assert "116 111" in page.content()  # a helpline, even without a country
    page.set_input_files("#files", [str(f) for f in files])
    page.wait_for_function("n => window.vigilHashes && window.vigilHashes.length === n",
                           arg=len(files), timeout=60_000)
    got = {h["name"]: h for h in page.evaluate("window.vigilHashes")}
    # The person is told about the pictures they chose, not about hashes.
    page.wait_for_function("() => document.getElementById('hash-status').textContent.startsWith('Fingerprints')")
    assert page.locator("#hash-status").inner_text() == (
        f"Fingerprints of {len(files)} pictures or videos ready. Nothing has been sent yet.")
    distances = {}
    for f in files:
        server = hash_image_file(f)
        h = got[f.name]
        assert h["md5"] == server.md5 and h["sha256"] == server.sha256, f.name
        distances[f.name] = PdqHash.parse(h["pdq"]).distance(PdqHash.parse(server.pdq))
        if f.suffix == ".png":
            assert distances[f.name] == 0, f.name  # same pixels: the same hash, bit for bit
        elif server.quality >= 80:
            assert distances[f.name] <= 10, (f.name, distances[f.name])  # PDQ's conformance bound
    print("browser vs server PDQ distances:", json.dumps(distances))
    page.get_by_role("button", name="Ask for removal").click()
    page.locator("#case-created").wait_for(state="visible")
    number = page.locator("#case-number").inner_text()
    assert len(number) == 19 and page.locator("#case-pin").inner_text().isdigit()
    # Every request the page made: the page, its script, style and worker files, and one POST
    # of hashes. No request carries any part of any image.
    posts = [r for r in requests if r.method != "GET"]
    assert [(r.method, r.url.split(live.base)[-1]) for r in posts] == [("POST", "/v1/public/victim-cases")]
    body = posts[0].post_data_buffer or b""
    assert len(body) < 5_000
    sent = json.loads(body)
    assert {h["md5"] for h in sent["hashes"]} == {hash_image_file(f).md5 for f in files}
    chunks = [f.read_bytes()[i:i + 32] for f in files for i in (200, 1000)]
    for r in requests:
        data = r.post_data_buffer or b""
        assert not any(c in data for c in chunks)
        assert r.url.startswith(live.base), r.url  # nothing goes anywhere else
    context.close()


def test_the_browser_and_the_server_hash_every_stored_form_of_a_picture_alike(
        browser: Any, live: Live, tmp_path: Path) -> None:
    """The decoding pipeline, mirrored: the same PDQ, bit for bit, from the victim's page and
    from the server for every variant browsers decode (EXIF 1-8 in PNG and JPEG, 16-bit grey
    and RGB, RGBA, LA, palette with transparency, bilevel, CMYK and progressive JPEG, WebP, GIF
    animated or not, BMP, a colour profile). Before, an EXIF-rotated PNG was 120-128 bits
    apart and a half transparent one 34."""
    files = []
    for v in variants(9, (257, 193)):
        if v.in_browsers:
            path = tmp_path / v.filename
            path.write_bytes(v.data)
            files.append(path)
    context = browser.new_context(base_url=live.base, locale="en-GB")
    page = context.new_page()
    page.goto("/help/remove")
    page.set_input_files("#files", [str(f) for f in files])
    page.wait_for_function("n => window.vigilHashes && window.vigilHashes.length === n",
                           arg=len(files), timeout=60_000)
    got = {h["name"]: h for h in page.evaluate("window.vigilHashes")}
    apart = {f.name: PdqHash.parse(got[f.name]["pdq"]).distance(
        PdqHash.parse(hash_image_file(f).pdq)) for f in files}
    # Bit for bit, except through a colour profile: two colour engines (LittleCMS here,
    # Chromium's there) differ by one level in places, a few bits of PDQ.
    assert {n: d for n, d in apart.items() if d > (4 if n.startswith("icc-") else 0)} == {}, apart
    assert len(apart) >= 30
    context.close()


def test_a_large_image_does_not_freeze_the_page_and_the_case_can_be_followed(
        browser: Any, live: Live, tmp_path: Path) -> None:
    from PIL import Image

    from tests.web.test_browser import shoot

    big = tmp_path / "large.jpg"
    pattern_image(5, (600, 400)).resize((6000, 4000)).save(big, quality=90)  # 24 megapixels
    context = browser.new_context(base_url=live.base, locale="de-DE")
    page = context.new_page()
    page.goto("/help/remove")
    shoot(page, "victim-remove", tmp_path)
    # A heartbeat on the page's own thread: if hashing ran there, it would stop for seconds.
    page.evaluate("() => { window.gaps = []; let last = performance.now(); "
                  "window.beat = setInterval(() => { const t = performance.now(); "
                  "window.gaps.push(t - last); last = t; }, 50); }")
    page.set_input_files("#files", [str(big)])
    page.wait_for_function("() => window.vigilHashes && window.vigilHashes.length === 1",
                           timeout=120_000)
    longest = page.evaluate("() => Math.max(...window.gaps)")
    assert longest < 1000, f"the page stalled for {longest:.0f} ms"
    (h,) = page.evaluate("window.vigilHashes")
    server = hash_image_file(big)
    assert PdqHash.parse(h["pdq"]).distance(PdqHash.parse(server.pdq)) <= 10
    page.get_by_label("Ihr Land (optional, für Hilfsangebote)").select_option("DE")
    page.get_by_role("button", name="Entfernung beantragen").click()
    page.locator("#case-created").wait_for(state="visible")
    number = page.locator("#case-number").inner_text()
    pin = page.locator("#case-pin").inner_text()
    # Adding a picture to the case later, from the same page.
    page.goto("/help/remove")
    extra = tmp_path / "extra.png"
    extra.write_bytes(encode(pattern_image(6), "PNG"))
    page.set_input_files("#files", [str(extra)])
    page.wait_for_function("() => window.vigilHashes && window.vigilHashes.length === 1")
    page.locator("#existing summary").click()
    page.locator("#ex-number").fill(number)
    page.locator("#ex-pin").fill(pin)
    page.get_by_role("button", name="Entfernung beantragen").click()
    page.wait_for_function("() => document.getElementById('case-result').textContent !== ''")
    assert page.locator("#case-result").inner_text() == "Zu Ihrem Fall hinzugefügt."
    # Following the case, then withdrawing it.
    page.goto("/help/case")
    page.get_by_label("Fallnummer").fill(number)
    page.get_by_label("PIN").fill(pin)
    page.get_by_role("button", name="Meinen Fall anzeigen").click()
    # Two pictures chosen (one at first, one added): the person reads 2, not the 6 hashes.
    assert page.locator("#n-pictures").inner_text() == "2"
    assert "Verteilte Bilder und Videos" in page.content()
    assert "Hilfetelefon Sexueller Missbrauch" in page.content()  # the helpline for adults in DE
    shoot(page, "victim-case", tmp_path)
    page.get_by_label("Fallnummer").fill(number)
    page.get_by_label("PIN").fill(pin)
    page.get_by_role("button", name="Meinen Fall zurückziehen").click()
    assert page.locator("#withdrawn").is_visible()
    page.get_by_label("Fallnummer").fill(number)
    page.get_by_label("PIN").fill("00000000")
    page.get_by_role("button", name="Meinen Fall anzeigen").click()
    assert "unknown case number or wrong PIN" in page.locator("#case-error").inner_text()
    assert Image  # PIL made the large file above
    context.close()

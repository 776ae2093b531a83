"""``vigil i18n``: the pages' gettext catalogues — extract the texts, list what each language
still lacks (docs/i18n.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from vigil.cli._console import err_console

app = typer.Typer(help="The pages' languages: gettext catalogues.", no_args_is_help=True)


@app.command("extract")
def extract_command() -> None:
    """Write locale/messages.pot from the pages' code and templates and bring every language's
    .po up to date with it (new texts untranslated, unused ones dropped)."""
    from vigil.web.catalogues import write_all

    counts = write_all()
    for lang, (done, total) in sorted(counts.items()):
        typer.echo(f"{lang}: {done}/{total} translated")


@app.command("missing")
def missing_command(
    lang: Annotated[list[str] | None, typer.Option("--lang", help="Only these languages.")] = None,
    full: Annotated[bool, typer.Option(help="List every missing text, not only the count.")] = False,
) -> None:
    """What each EU language does not translate yet (shown in English meanwhile); exits 1 when
    a translation's placeholders do not match its English text."""
    from vigil.web import i18n
    from vigil.web.catalogues import problems

    broken: list[str] = []
    for code in lang or list(i18n.LANGUAGES):
        if code not in i18n.LANGUAGES:
            err_console.print(f"{code}: not an official EU language code "
                              f"({', '.join(i18n.LANGUAGES)})", highlight=False)
            raise typer.Exit(2)
        gaps = i18n.missing(code)
        status = "complete" if not gaps else f"{len(gaps)} missing"
        typer.echo(f"{code} ({i18n.LANGUAGES[code]}): {status}")
        if full:
            for text in gaps:
                typer.echo(f"  {text}")
        broken += problems(code)
    for line in broken:
        err_console.print(line, highlight=False, markup=False)
    if broken:
        raise typer.Exit(1)

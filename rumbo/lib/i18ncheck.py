"""Fail when a translation catalogue is stale, incomplete or not compiled.

Run as ``python -m rumbo.lib.i18ncheck`` (bin/test does). It extracts the current strings into a temporary
copy of ``rumbo/locale`` with Django's makemessages and compares them with the committed catalogues:
every string in the code must be in the Spanish and English catalogues, translated, not fuzzy, and the
compiled ``.mo`` files must match the ``.po`` files. ``python -m rumbo.lib.i18ncheck --update`` refreshes the
catalogues (new strings still need translating) and compiles them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parents[2]
LOCALE = ROOT / "rumbo" / "locale"
LANGS = ("es", "en")
DOMAINS = ("django", "djangojs")
IGNORE = [".venv/*", "build/*", "benchmarks/*", "tests/*", "*/tests/*", "data/*", "docs/*"]


def _makemessages(source_dir: Path) -> None:
    """Run makemessages over ``source_dir`` (a copy of the ``rumbo`` package, or the package itself).

    makemessages writes into the ``locale`` folder nearest to each source file, so checking works on a copy.
    """
    locale_dir = source_dir / "locale"
    env = {**os.environ, "RUMBO_LOCALE_DIR": str(locale_dir), "DJANGO_SETTINGS_MODULE": "rumbo.settings"}
    base = [sys.executable, "-m", "rumbo", "makemessages", "--no-obsolete", "--add-location=file", "-v", "0"]
    for lang in LANGS:
        base += ["-l", lang]
    for pattern in IGNORE:
        base += ["-i", pattern]
    subprocess.run(base, cwd=source_dir, env=env, check=True)  # noqa: S603
    subprocess.run([*base, "-d", "djangojs"], cwd=source_dir, env=env, check=True)  # noqa: S603


def _keys(po: polib.POFile) -> set[tuple[str | None, str]]:
    return {(e.msgctxt, e.msgid) for e in po if not e.obsolete}


def check() -> list[str]:
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "rumbo"
        shutil.copytree(
            ROOT / "rumbo", source, ignore=shutil.ignore_patterns("__pycache__", "tests", "data", "vendor")
        )
        fresh_dir = source / "locale"
        fresh_dir.mkdir(exist_ok=True)
        _makemessages(source)
        for lang in LANGS:
            for domain in DOMAINS:
                fresh_path = fresh_dir / lang / "LC_MESSAGES" / f"{domain}.po"
                committed_path = LOCALE / lang / "LC_MESSAGES" / f"{domain}.po"
                if not fresh_path.exists():
                    continue
                fresh = polib.pofile(str(fresh_path))
                if not committed_path.exists():
                    if len(fresh):
                        problems.append(f"{committed_path.relative_to(ROOT)} is missing")
                    continue
                committed = polib.pofile(str(committed_path))
                added = _keys(fresh) - _keys(committed)
                removed = _keys(committed) - _keys(fresh)
                rel = committed_path.relative_to(ROOT)
                for _ctx, msgid in sorted(added, key=lambda k: k[1])[:20]:
                    problems.append(f"{rel}: string not in catalogue: {msgid!r}")
                if removed:
                    problems.append(f"{rel}: {len(removed)} strings no longer used (run --update)")
                for entry in committed.untranslated_entries()[:20]:
                    problems.append(f"{rel}: untranslated: {entry.msgid!r}")
                for entry in committed.fuzzy_entries()[:20]:
                    problems.append(f"{rel}: fuzzy: {entry.msgid!r}")
                mo_path = committed_path.with_suffix(".mo")
                if not mo_path.exists():
                    problems.append(f"{mo_path.relative_to(ROOT)} is missing (run --update)")
                    continue
                mo = {
                    (e.msgctxt, e.msgid): (e.msgstr, tuple(sorted(e.msgstr_plural.items())))
                    for e in polib.mofile(str(mo_path))
                }
                for e in committed.translated_entries():
                    if mo.get((e.msgctxt, e.msgid)) != (e.msgstr, tuple(sorted(e.msgstr_plural.items()))):
                        problems.append(f"{mo_path.relative_to(ROOT)} is stale (run --update)")
                        break
    return problems


def update() -> None:
    LOCALE.mkdir(parents=True, exist_ok=True)
    _makemessages(ROOT / "rumbo")
    # English is the source language: its catalogue maps each string to itself.
    for domain in DOMAINS:
        path = LOCALE / "en" / "LC_MESSAGES" / f"{domain}.po"
        if path.exists():
            po = polib.pofile(str(path))
            for e in po:
                if e.msgid_plural:
                    e.msgstr_plural = {0: e.msgid, 1: e.msgid_plural}
                else:
                    e.msgstr = e.msgid
                if "fuzzy" in e.flags:
                    e.flags.remove("fuzzy")
            po.save()
    for lang in LANGS:
        for domain in DOMAINS:
            path = LOCALE / lang / "LC_MESSAGES" / f"{domain}.po"
            if path.exists():
                subprocess.run(["msgfmt", "-o", str(path.with_suffix(".mo")), str(path)], check=True)  # noqa: S603, S607


def main() -> int:
    if "--update" in sys.argv:
        update()
    problems = check()
    for p in problems:
        print(p)
    if problems:
        print(f"Translation check failed: {len(problems)} problem(s).")
        return 1
    print("Translations complete and compiled for: " + ", ".join(LANGS))
    return 0


if __name__ == "__main__":
    sys.exit(main())

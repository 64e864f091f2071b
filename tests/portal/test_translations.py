"""The Traditional Chinese (zh-Hant) catalogue: complete, faithful and compiled.

The .po is read with a small parser of its own, so the suite needs no gettext
library beyond the standard one. The committed .mo must be what msgfmt makes
of the committed .po: a fresh clone shows both languages without compiling.
"""

from __future__ import annotations

import gettext
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings

CATALOGUE_DIR = Path(settings.BASE_DIR) / "locale" / "zh_Hant" / "LC_MESSAGES"
PO_PATH = CATALOGUE_DIR / "django.po"
MO_PATH = CATALOGUE_DIR / "django.mo"

# %(name)s, %(count)d, %s, %d and {name}; "%%" is a literal percent sign.
PLACEHOLDER = re.compile(r"%\([^)]+\)[sd]|%[sd]|\{\w+\}")
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


@dataclass
class Entry:
    line: int
    flags: set[str] = field(default_factory=set)
    msgctxt: str | None = None
    msgid: str = ""
    msgid_plural: str | None = None
    msgstr: str = ""
    msgstr_plural: dict[int, str] = field(default_factory=dict)

    @property
    def is_header(self) -> bool:
        return self.msgid == "" and self.msgctxt is None


def _unquote(text: str) -> str:
    text = text.strip()
    assert text.startswith('"') and text.endswith('"'), text
    return re.sub(r"\\(.)", lambda match: ESCAPES.get(match[1], match[1]), text[1:-1])


def parse_po(path: Path) -> list[Entry]:
    """Entries of a .po file (blank lines separate them); obsolete (#~) ones are left out."""
    entries: list[Entry] = []
    blocks = re.split(r"\n\s*\n", path.read_text(encoding="utf-8"))
    number = 1
    for block in blocks:
        entry = Entry(line=number)
        target: tuple[str, int | None] | None = None
        for raw in block.splitlines():
            line = raw.strip()
            if line.startswith("#,"):
                entry.flags.update(flag.strip() for flag in line[2:].split(","))
                continue
            if not line or line.startswith("#"):
                continue
            if line.startswith('"'):
                assert target is not None, f"near line {number}: a string outside an entry"
                text = _unquote(line)
            else:
                keyword, _, rest = line.partition(" ")
                plural = re.fullmatch(r"msgstr\[(\d+)\]", keyword)
                if plural:
                    target = ("msgstr_plural", int(plural[1]))
                elif keyword in ("msgctxt", "msgid", "msgid_plural", "msgstr"):
                    target = (keyword, None)
                else:
                    raise AssertionError(f"near line {number}: cannot read {raw!r}")
                text = _unquote(rest)
            name, index = target
            if name == "msgstr_plural":
                entry.msgstr_plural[index] = entry.msgstr_plural.get(index, "") + text
            elif raw.lstrip().startswith('"'):
                setattr(entry, name, getattr(entry, name) + text)
            else:
                setattr(entry, name, text)
        number += block.count("\n") + 2
        if target is not None:
            entries.append(entry)
    return entries


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text.replace("%%", "")))


@pytest.fixture(scope="module")
def entries() -> list[Entry]:
    return parse_po(PO_PATH)


@pytest.fixture(scope="module")
def messages(entries) -> list[Entry]:
    return [entry for entry in entries if not entry.is_header]


def test_the_catalogue_holds_hundreds_of_messages(messages):
    assert len(messages) > 300
    assert len({(entry.msgctxt, entry.msgid) for entry in messages}) == len(messages)


def test_the_header_names_the_language_and_its_single_plural_form(entries):
    header = entries[0]
    assert header.is_header
    assert "fuzzy" not in header.flags
    assert "Language: zh_Hant\n" in header.msgstr
    assert "Plural-Forms: nplurals=1; plural=0;\n" in header.msgstr
    assert "charset=UTF-8" in header.msgstr


def test_every_message_is_translated(messages):
    untranslated = [
        entry.msgid
        for entry in messages
        if (entry.msgid_plural is None and not entry.msgstr)
        or (entry.msgid_plural is not None and not all(entry.msgstr_plural.values()))
    ]
    assert untranslated == []


def test_no_message_is_fuzzy(entries):
    assert [entry.msgid for entry in entries if "fuzzy" in entry.flags] == []


def test_plural_messages_have_exactly_one_form(messages):
    plurals = [entry for entry in messages if entry.msgid_plural is not None]
    assert plurals, "the catalogue should hold plural messages"
    assert [entry.msgid for entry in plurals if set(entry.msgstr_plural) != {0}] == []
    assert [
        entry.msgid for entry in messages if entry.msgid_plural is None and entry.msgstr_plural
    ] == []


def test_every_translation_keeps_the_placeholders(messages):
    broken = []
    for entry in messages:
        expected = placeholders(entry.msgid) | placeholders(entry.msgid_plural or "")
        for text in [entry.msgstr] if entry.msgid_plural is None else entry.msgstr_plural.values():
            if placeholders(text) != expected:
                broken.append((entry.msgid, text))
    assert broken == []


def test_every_translation_keeps_the_html_tags(messages):
    tag = re.compile(r"</?[a-z]+\b[^>]*>")
    broken = [
        entry.msgid
        for entry in messages
        if entry.msgid_plural is None
        and sorted(tag.findall(entry.msgid)) != sorted(tag.findall(entry.msgstr))
    ]
    assert broken == []


def test_the_committed_mo_is_the_compiled_po(tmp_path):
    msgfmt = shutil.which("msgfmt") or (
        "/usr/bin/msgfmt" if Path("/usr/bin/msgfmt").exists() else None
    )
    if msgfmt is None:
        pytest.skip("GNU gettext's msgfmt is not installed")
    fresh = tmp_path / "django.mo"
    subprocess.run([msgfmt, "--check-format", "-o", str(fresh), str(PO_PATH)], check=True)
    with fresh.open("rb") as handle:
        expected = gettext.GNUTranslations(handle)._catalog
    with MO_PATH.open("rb") as handle:
        committed = gettext.GNUTranslations(handle)._catalog
    assert committed == expected


def _translation_of(messages, msgid: str) -> str:
    (entry,) = [entry for entry in messages if entry.msgid == msgid and entry.msgctxt is None]
    return entry.msgstr


@pytest.mark.django_db
def test_the_login_page_speaks_traditional_chinese(client, messages):
    log_in = _translation_of(messages, "Log in")
    assert log_in and log_in != "Log in"
    response = client.get("/login/", HTTP_ACCEPT_LANGUAGE="zh-hant")
    assert response.status_code == 200
    assert log_in in response.content.decode()


@pytest.mark.django_db
def test_the_login_page_stays_english_by_default(client, messages):
    response = client.get("/login/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert "Log in" in response.content.decode()
    assert _translation_of(messages, "Log in") not in response.content.decode()


def test_the_words_pure_functions_build_follow_the_active_language():
    from django.utils import translation

    from registry import quality
    from rollout import indicators

    with translation.override("zh-hant"):
        assert indicators.briefings({}).value == "未指定業務單位主管"
        assert indicators.briefings({"Lee": False}).value == "正等待 Lee"
        assert quality.integration_check(passed=0, failed=0, window_days=30).detail == (
            "整合：過去 30 日沒有執行測試"  # noqa: RUF001 - the catalogue's own colon
        )
    assert indicators.briefings({}).value == "no business-unit lead named"

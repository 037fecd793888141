"""Screening free text that people write against the identities the case store protects.

Reasons, comments, findings and evidence references are typed by people, and one slip puts a
child's name in an enterprise's inbox, an audit row or a Prefect run. Every act that takes free
text passes it here first, inside its transaction and before it writes anything: the text is
compared with the identity recorded for the case (or, for due-diligence texts, with every child
of the site or enterprise) and refused if it mentions one.

What counts as a mention, chosen to catch slips and to refuse little else:

- a part of the child's or the guardian's name longer than two letters, as a whole word
  ("Zarqa Q. is in hospital"); a shorter part only within the whole name ("Li Na");
- a name in a script written without spaces (Chinese), anywhere in the text;
- the school's distinctive words in their order ("Benito Juárez" for "Escuela Primaria Benito
  Juárez"), or its whole name when it has fewer than two distinctive words;
- the birth date in the usual written forms: 2012-03-03, 3/3/2012 (day or month first),
  03.03.2012, 3 March 2012, 3rd of Mar. 2012, March 3, 2012, 3 de marzo de 2012, 2012年3月3日;
- the home address down to the street: each comma- or line-separated part of the address that
  holds a number ("House 12", "Road 5") or comes first (the street or the village) as a phrase,
  but not the later parts alone (a district or a city such as "Mirpur, Dhaka" names where the
  site is, which staff write every day);
- the photo's reference (a file name such as IMG_2034.jpg) as a whole.

Comparison is case-insensitive with accents folded (NFKD), so "Juarez" matches "Juárez".
A refusal names the field and never repeats what matched: the message goes to logs, to the audit
trail and back into the Resume dialog. Encrypted identities are decrypted in memory only; where
the key is missing, a text that cannot be screened is refused rather than let through.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from remediation_flows.core.errors import InvalidInput
from remediation_flows.core.store.protection import PersonalDataKeyError
from remediation_flows.core.store.schema import Case, ChildPersonalData

#: A name part this short ("Li", "Al", "Q") alone is too common to refuse a text for.
MIN_NAME_PART = 3

# Words of a school's name that say what kind of school it is, not which one (en, es, vi, id, tr).
_GENERIC_SCHOOL_TEXT = """
school schools primary secondary high middle junior senior elementary basic public private
government govt state national community model girls boys college academy institute centre
center vocational technical training the of and for de del la las los el y escuela primaria
secundaria colegio instituto publica tecnica telesecundaria preparatoria centro escolar
truong tieu hoc trung co so sekolah dasar menengah okulu ilkokulu ortaokulu lisesi
"""
GENERIC_SCHOOL_WORDS = frozenset(_GENERIC_SCHOOL_TEXT.split())

MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan", "enero", "ene"),
            ("february", "feb", "febrero"),
            ("march", "mar", "marzo"),
            ("april", "apr", "abril", "abr"),
            ("may", "mayo"),
            ("june", "jun", "junio"),
            ("july", "jul", "julio"),
            ("august", "aug", "agosto", "ago"),
            ("september", "sep", "sept", "septiembre", "setiembre"),
            ("october", "oct", "octubre"),
            ("november", "nov", "noviembre"),
            ("december", "dec", "diciembre", "dic"),
        ),
        start=1,
    )
    for name in names
}
_ORDINAL = r"(?:st|nd|rd|th|o|º)?"
#: Each pattern with the order of its (year, month, day) groups; a month may be a word.
DATE_PATTERNS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    (re.compile(r"(?<!\d)(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)"), ("y", "m", "d")),
    (re.compile(r"(?<!\d)(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})(?!\d)"), ("d", "m", "y")),
    (re.compile(r"(?<!\d)(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})(?!\d)"), ("m", "d", "y")),
    (
        re.compile(
            rf"(?<!\d)(\d{{1,2}}){_ORDINAL}[\s-]+(?:of\s+|de\s+)?([a-z]+)\.?,?[\s-]+(?:de\s+|del\s+)?(\d{{4}})(?!\d)"
        ),
        ("d", "m", "y"),
    ),
    (re.compile(rf"\b([a-z]+)\.?\s+(\d{{1,2}}){_ORDINAL},?\s+(\d{{4}})(?!\d)"), ("m", "d", "y")),
    (re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日"), ("y", "m", "d")),
)


class IdentityInFreeText(InvalidInput):
    """A free text mentions a child's identity; the message names the field, never the match."""

    def __init__(self, field: str, whose: str) -> None:
        super().__init__(
            f"{field}: appears to contain the identity of {whose} (a name, school, birth date, address "
            "or photo); "
            "write the case reference instead and submit again"
        )
        self.field = field


@dataclass(frozen=True)
class KnownIdentity:
    """The parts of a recorded identity that a free text is screened against."""

    full_name: str | None = None
    guardian_name: str | None = None
    school: str | None = None
    birth_date: dt.date | None = None
    address: str | None = None
    photo_reference: str | None = None


def fold(text: str) -> str:
    """``text`` lower-cased with its accents removed, for comparing as a reader would."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", fold(text))


def _contains_phrase(words: Sequence[str], phrase: Sequence[str]) -> bool:
    size = len(phrase)
    return size > 0 and any(list(words[i : i + size]) == list(phrase) for i in range(len(words) - size + 1))


def _unspaced_script(name: str) -> bool:
    """Whether ``name`` is written in a script without spaces between words (Chinese, Japanese)."""
    return any(unicodedata.east_asian_width(c) in ("W", "F") for c in name if c.isalpha())


def _mentions_name(text: str, words: Sequence[str], name: str | None) -> bool:
    if not name or not name.strip():
        return False
    if _unspaced_script(name):
        compact = re.sub(r"\s+", "", fold(name))
        return compact in re.sub(r"\s+", "", fold(text))
    parts = _words(name)
    present = set(words)
    return any(len(part) >= MIN_NAME_PART and part in present for part in parts) or _contains_phrase(
        words, parts
    )


def _mentions_school(text: str, words: Sequence[str], school: str | None) -> bool:
    if not school or not school.strip():
        return False
    if _unspaced_script(school):
        return re.sub(r"\s+", "", fold(school)) in re.sub(r"\s+", "", fold(text))
    parts = _words(school)
    distinctive = [part for part in parts if part not in GENERIC_SCHOOL_WORDS]
    return _contains_phrase(words, distinctive if len(distinctive) >= 2 else parts)


def _mentions_address(words: Sequence[str], address: str | None) -> bool:
    if not address or not address.strip():
        return False
    segments = [segment for part in re.split(r"[,;\n]+", address) if (segment := _words(part))]
    for index, segment in enumerate(segments):
        numbered = any(word.isdigit() for word in segment)
        # The first part names the street or the village; a later one, unless numbered, names an
        # area that the site's own address shares. A bare number ("12") is no address.
        telling = numbered or (index == 0 and len(segments) > 1)
        long_enough = len(segment) >= 2 or (not numbered and len(segment[0]) >= MIN_NAME_PART)
        if telling and long_enough and _contains_phrase(words, segment):
            return True
    return False


def _mentions_reference(words: Sequence[str], reference: str | None) -> bool:
    parts = _words(reference or "")
    return len("".join(parts)) >= 4 and _contains_phrase(words, parts)


def dates_written_in(text: str) -> set[dt.date]:
    """Every calendar date ``text`` writes in one of the usual forms (both readings of 3/4/2012)."""
    folded = fold(text)
    found: set[dt.date] = set()
    for pattern, order in DATE_PATTERNS:
        for match in pattern.finditer(folded):
            parts = dict(zip(order, match.groups(), strict=True))
            month_text = parts["m"]
            month = int(month_text) if month_text.isdigit() else MONTHS.get(month_text.rstrip("."), 0)
            try:
                found.add(dt.date(int(parts["y"]), month, int(parts["d"])))
            except ValueError:
                continue
    return found


def mentions_identity(text: str, identity: KnownIdentity) -> bool:
    """Whether ``text`` mentions the child's or guardian's name, the school, the birth date, the home
    address or the photo's reference."""
    words = _words(text)
    return (
        _mentions_name(text, words, identity.full_name)
        or _mentions_name(text, words, identity.guardian_name)
        or _mentions_school(text, words, identity.school)
        or (identity.birth_date is not None and identity.birth_date in dates_written_in(text))
        or _mentions_address(words, identity.address)
        or _mentions_reference(words, identity.photo_reference)
    )


def screen_texts(texts: Mapping[str, str | None], identities: Iterable[KnownIdentity], whose: str) -> None:
    """Refuse the first of ``texts`` (field name to text) that mentions one of ``identities``."""
    written = {field: text for field, text in texts.items() if text and text.strip()}
    if not written:
        return
    known = list(identities)
    for field, text in written.items():
        if any(mentions_identity(text, identity) for identity in known):
            raise IdentityInFreeText(field, whose)


def _identities(
    session: Session, where: Sequence[ColumnElement[bool]], texts: Mapping[str, str | None]
) -> list[KnownIdentity]:
    """The identities the query selects, decrypted in memory; refused texts if they cannot be read."""
    try:
        rows = session.execute(
            select(
                ChildPersonalData.full_name,
                ChildPersonalData.guardian_name,
                ChildPersonalData.school,
                ChildPersonalData.birth_date,
                ChildPersonalData.address,
                ChildPersonalData.photo_reference,
            )
            .join(Case, Case.id == ChildPersonalData.case_id)
            .where(*where)
        ).all()
    except PersonalDataKeyError as error:
        fields = ", ".join(texts)
        raise InvalidInput(
            f"{fields}: cannot be checked for a child's identity on this machine ({error}); "
            "leave it empty or answer where the key is set"
        ) from None
    return [KnownIdentity(*row) for row in rows]


def screen_case_texts(session: Session, case: Case, **texts: str | None) -> None:
    """Refuse any of ``texts`` (by field name) that mentions the identity recorded for ``case``."""
    if not any(text and text.strip() for text in texts.values()):
        return
    identities = _identities(session, [Case.id == case.id], texts)
    screen_texts(texts, identities, f"the child of case {case.reference}")


def screen_site_texts(session: Session, enterprise_id: str, site_id: str | None, **texts: str | None) -> None:
    """Refuse any of ``texts`` that mentions a child of the site (or, with no site, of the enterprise)."""
    if not any(text and text.strip() for text in texts.values()):
        return
    where: list[ColumnElement[bool]] = [Case.enterprise_id == enterprise_id]
    if site_id is not None:
        where.append(Case.site_id == site_id)
    identities = _identities(session, where, texts)
    place = f"site {site_id}" if site_id is not None else f"enterprise {enterprise_id}"
    screen_texts(texts, identities, f"a child of {place}")

"""Normalisers for extracted values: what people write for dates, times, timezones and durations.

Each function turns one written form into a canonical one, or returns None when the text is not of
that kind; the extraction scorer compares canonical forms. Which normaliser a field gets is its
*kind* (:data:`KINDS`), read from the suite's JSON Schema (see
:func:`evals.scorers.extraction.field_kinds`) or set in ``scorer.settings.kinds``.

=============  ===========================================  ==========================================
kind           canonical form                               also accepted (examples)
=============  ===========================================  ==========================================
``date``       ``2026-03-03``                               ``March 3rd, 2026``, ``3 March 2026``,
                                                            ``03.03.2026``, ``2026-03-03T10:30:00``
``date-time``  ``2026-03-03T10:30`` (``:SS`` if not 0,      ``2026-03-03 10:30:00``, ``March 3rd, 2026
               ``+HH:MM`` if an offset is written)          10:30 AM``, ``2026-03-03T10:30:00Z``
``time``       ``10:30`` (``:SS`` if not 0)                 ``10:30 AM``, ``10:30:00``, ``4pm``,
                                                            ``4 p.m.``, ``16h30``, ``noon``
``timezone``   canonical IANA name, ``America/Los_Angeles``  any IANA name in any case, and the
                                                            aliases of :data:`TIMEZONE_ALIASES`
``duration``   seconds, a float                             ``45 minutes``, ``45 min``, ``1h 30m``,
                                                            ``1.5 hours``, ``PT45M``, ``an hour``; a
                                                            bare number is minutes (or the unit the
                                                            path ends with: ``_seconds``, ``_hours``)
=============  ===========================================  ==========================================

A slashed ``a/b/yyyy`` date is read month-first (US style) unless ``a`` > 12. Timezone names are
checked against the standard library's :func:`zoneinfo.available_timezones`.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache

#: The field kinds a value can be normalised as (JSON Schema ``format`` names where one exists).
KINDS = ("date", "date-time", "time", "timezone", "duration")

#: Common timezone aliases and legacy names -> canonical IANA zone. Abbreviations name the zone a
#: reader most often means by them (``CET`` -> ``Europe/Berlin``, ``IST`` -> ``Asia/Kolkata``,
#: ``GMT``/``BST`` -> ``Europe/London``; ``UTC``/``Z`` -> ``UTC``). Lookup is case-insensitive and
#: ignores a trailing "time" (``Eastern Time``); a suite adds or overrides entries with
#: ``scorer.settings.timezone_aliases``.
TIMEZONE_ALIASES: dict[str, str] = {
    **dict.fromkeys(("et", "est", "edt", "eastern", "us/eastern", "us/east-indiana"), "America/New_York"),
    **dict.fromkeys(("ct", "cst", "cdt", "central", "us/central"), "America/Chicago"),
    **dict.fromkeys(("mt", "mst", "mdt", "mountain", "us/mountain"), "America/Denver"),
    "us/arizona": "America/Phoenix",
    **dict.fromkeys(("pt", "pst", "pdt", "pacific", "us/pacific"), "America/Los_Angeles"),
    **dict.fromkeys(("akst", "akdt", "us/alaska"), "America/Anchorage"),
    **dict.fromkeys(("hst", "us/hawaii"), "Pacific/Honolulu"),
    "canada/eastern": "America/Toronto", "canada/pacific": "America/Vancouver",
    **dict.fromkeys(("gmt", "bst", "uk", "gb", "europe/belfast"), "Europe/London"),
    **dict.fromkeys(("utc", "z", "zulu", "etc/utc", "etc/gmt", "universal"), "UTC"),
    "greenwich mean": "Europe/London", "british summer": "Europe/London",
    **dict.fromkeys(("cet", "cest", "mez", "mesz", "central european", "central european summer"), "Europe/Berlin"),
    **dict.fromkeys(("ist", "india", "asia/calcutta"), "Asia/Kolkata"),
    "sgt": "Asia/Singapore",
    **dict.fromkeys(("jst", "japan"), "Asia/Tokyo"),
    **dict.fromkeys(("kst", "rok"), "Asia/Seoul"),
    "hkt": "Asia/Hong_Kong",
    **dict.fromkeys(("aest", "aedt", "australia/nsw", "australia/act"), "Australia/Sydney"),
    **dict.fromkeys(("nzst", "nzdt", "nz"), "Pacific/Auckland"),
    **dict.fromkeys(("brt", "brazil/east"), "America/Sao_Paulo"),
    "europe/kiev": "Europe/Kyiv", "asia/saigon": "Asia/Ho_Chi_Minh", "asia/katmandu": "Asia/Kathmandu",
    "america/buenos_aires": "America/Argentina/Buenos_Aires",
}

_MONTHS = {m: i for i, names in enumerate(
    (("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",), ("jun", "june"),
     ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"), ("oct", "october"),
     ("nov", "november"), ("dec", "december")), start=1) for m in names}
_WEEKDAY = re.compile(r"\b(mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)(day|nesday|sday|rsday|urday)?\b\.?,?")
_ORDINAL = re.compile(r"\b(\d{1,2})(st|nd|rd|th)\b")
_MONTH = r"(?P<month>[a-z]{3,9})\.?"


def _ymd(year: int, month: int, day: int) -> str | None:
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def _date_only(text: str) -> str | None:
    if m := re.fullmatch(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", text):
        return _ymd(int(m[1]), int(m[2]), int(m[3]))
    if m := re.fullmatch(r"(\d{1,2})\.(\d{1,2})\.(\d{4})", text):  # European dotted: day first
        return _ymd(int(m[3]), int(m[2]), int(m[1]))
    if m := re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text):  # US month first, unless it cannot be
        a, b, year = int(m[1]), int(m[2]), int(m[3])
        return _ymd(year, b, a) if a > 12 else _ymd(year, a, b)
    for pattern in (rf"{_MONTH} (?P<day>\d{{1,2}}),? (?P<year>\d{{4}})",
                    rf"(?P<day>\d{{1,2}}) (?:of )?{_MONTH},? (?P<year>\d{{4}})"):
        if (m := re.fullmatch(pattern, text)) and m["month"] in _MONTHS:
            return _ymd(int(m["year"]), _MONTHS[m["month"]], int(m["day"]))
    return None


def _clean_date_text(text: str) -> str:
    text = " ".join(text.casefold().split())
    text = _WEEKDAY.sub(" ", text)
    text = _ORDINAL.sub(r"\1", text)
    text = re.sub(r"^the ", "", text.strip(" ,"))
    return " ".join(text.replace(" ,", ",").split()).strip(" ,")


_ISO_DATETIME = re.compile(
    r"(?P<date>\d{4}-\d{1,2}-\d{1,2})[t ](?P<time>\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(?P<zone>z|[+-]\d{2}:?\d{2})?")


def normalise_date(text: str) -> str | None:
    """An ISO ``YYYY-MM-DD`` for a date written in a common format, or None if ``text`` is not one.

    A date-time is read as its date (the field's kind is *date*).

    >>> normalise_date("March 3rd, 2026"), normalise_date("2026-03-03T10:30:00"), normalise_date("14.05.2026")
    ('2026-03-03', '2026-03-03', '2026-05-14')
    >>> normalise_date("Thursday, May 14th, 2026"), normalise_date("the 3rd of March 2026")
    ('2026-05-14', '2026-03-03')
    >>> normalise_date("13:30") is None
    True
    """
    text = _clean_date_text(text)
    if m := _ISO_DATETIME.fullmatch(text):
        return _date_only(m["date"])
    if found := _date_only(text):
        return found
    parts = _split_date_time(text)
    return _date_only(parts[0]) if parts else None


def _split_date_time(text: str) -> tuple[str, str] | None:
    """``("march 3 2026", "10:30 am")`` for a written date followed by a time (``at`` allowed)."""
    m = re.fullmatch(r"(?P<date>.*?\d{4}),?\s*(?:at\s+|@\s*)?(?P<time>\d{1,2}(?:[:.h]\d{2}){0,2}\s*(?:[ap]\.?m\.?)?)", text)
    return (m["date"].strip(" ,"), m["time"]) if m else None


def normalise_time(text: str) -> str | None:
    """A 24-hour ``HH:MM`` (``HH:MM:SS`` when the seconds are not zero), or None.

    >>> [normalise_time(t) for t in ("10:30 AM", "10:30:00", "4pm", "4 p.m.", "12am", "16h30", "noon")]
    ['10:30', '10:30', '16:00', '16:00', '00:00', '16:30', '12:00']
    >>> normalise_time("1330") is None, normalise_time("25:00") is None
    (True, True)
    """
    text = " ".join(text.casefold().split())
    if text in ("noon", "midday"):
        return "12:00"
    if text == "midnight":
        return "00:00"
    m = re.fullmatch(r"(\d{1,2})(?:\s*[:.h]\s*(\d{2})(?::(\d{2})(?:\.\d+)?)?)?\s*(?:([ap])\.?\s*m\.?)?(?:\s*h)?", text)
    if not m or (m[2] is None and m[4] is None and "h" not in text):
        return None  # a bare number is not a time
    hour, minute, second = int(m[1]), int(m[2] or 0), int(m[3] or 0)
    if m[4]:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if m[4] == "p" else 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    return f"{hour:02d}:{minute:02d}" + (f":{second:02d}" if second else "")


def normalise_datetime(text: str) -> str | None:
    """``YYYY-MM-DDTHH:MM`` (seconds and a written UTC offset kept), or None.

    >>> normalise_datetime("2026-03-03T10:30:00"), normalise_datetime("March 3rd, 2026 at 10:30 AM")
    ('2026-03-03T10:30', '2026-03-03T10:30')
    >>> normalise_datetime("2026-03-03T10:30:00Z")
    '2026-03-03T10:30+00:00'
    """
    cleaned = _clean_date_text(text)
    if m := _ISO_DATETIME.fullmatch(cleaned):
        day, clock, zone = _date_only(m["date"]), normalise_time(m["time"]), m["zone"]
    elif parts := _split_date_time(cleaned):
        day, clock, zone = _date_only(parts[0]), normalise_time(parts[1]), None
    else:
        return None
    if day is None or clock is None:
        return None
    if zone:
        zone = "+00:00" if zone == "z" else f"{zone[:3]}:{zone[-2:]}"
    return f"{day}T{clock}{zone or ''}"


@lru_cache(maxsize=1)
def _zones_by_folded_name() -> dict[str, str]:
    import zoneinfo

    return {name.casefold(): name for name in zoneinfo.available_timezones()}


def normalise_timezone(text: str, aliases: dict[str, str] | None = None) -> str | None:
    """The canonical IANA zone for a zone name or alias, or None if it is not one.

    ``aliases`` (folded name -> zone) add to or override :data:`TIMEZONE_ALIASES`.

    >>> normalise_timezone("US/Pacific"), normalise_timezone("CET"), normalise_timezone("europe/paris")
    ('America/Los_Angeles', 'Europe/Berlin', 'Europe/Paris')
    >>> normalise_timezone("Eastern Time"), normalise_timezone("Mars/Olympus") is None
    ('America/New_York', True)
    """
    folded = " ".join(text.casefold().split())
    table = {**TIMEZONE_ALIASES, **{k.casefold(): v for k, v in (aliases or {}).items()}}
    for key in (folded, re.sub(r"\s+(standard |daylight )?time$", "", folded)):  # "Eastern Standard Time"
        if key in table:
            return table[key]
        if key in _zones_by_folded_name():
            return _zones_by_folded_name()[key]
    return None


_UNITS = {"s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1, "m": 60, "min": 60, "mins": 60, "minute": 60,
          "minutes": 60, "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600, "d": 86400,
          "day": 86400, "days": 86400, "w": 604800, "wk": 604800, "week": 604800, "weeks": 604800}
_ISO_DURATION = re.compile(r"p(?:(\d+(?:\.\d+)?)w)?(?:(\d+(?:\.\d+)?)d)?"
                           r"(?:t(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?)?")


def normalise_duration(value: str | int | float, bare_unit: str = "minutes") -> float | None:
    """A duration in seconds, or None. A bare number is read in ``bare_unit``.

    >>> normalise_duration("45 minutes"), normalise_duration("PT45M"), normalise_duration(45)
    (2700.0, 2700.0, 2700.0)
    >>> normalise_duration("1h 30m"), normalise_duration("1.5 hours"), normalise_duration("an hour")
    (5400.0, 5400.0, 3600.0)
    >>> normalise_duration("soon") is None
    True
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) * _UNITS[bare_unit]
    text = " ".join(str(value).casefold().split())
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text) * _UNITS[bare_unit]
    if (m := _ISO_DURATION.fullmatch(text)) and text != "p" and any(m.groups()):
        return sum(float(g) * u for g, u in zip(m.groups(), (604800, 86400, 3600, 60, 1)) if g)
    text = re.sub(r"\bhalf\s+(?:an?\s+)?", "0.5 ", text)
    text = re.sub(r"\b(an?|one)\s+(?=[a-z])", "1 ", text)
    pieces = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]+)", text)
    leftover = re.sub(r"(\d+(?:\.\d+)?)\s*([a-z]+)|\band\b|[,\s]", "", text)
    if not pieces or leftover or any(unit not in _UNITS for _, unit in pieces):
        return None
    return float(sum(float(n) * _UNITS[unit] for n, unit in pieces))


def parse_number(text: str) -> float | None:
    """A number written with thousands separators or a currency sign, or None.

    >>> parse_number("$40,000"), parse_number("€1,250.50"), parse_number("acme") is None
    (40000.0, 1250.5, True)
    """
    number = re.fullmatch(r"[$€£¥]?\s*(-?[\d,]*\.?\d+)", text.strip())
    if number and any(ch.isdigit() for ch in text):
        try:
            return float(number.group(1).replace(",", ""))
        except ValueError:
            return None
    return None

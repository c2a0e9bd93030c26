"""Unit conversions (length, mass, volume, speed, time, temperature) and water's two constants.

Accepted forms (after courtesies): "[convert | what is] 5 miles in|to kilometers",
"how many feet [are there] in a mile", "how many kilometers is 5 miles", "5 miles is how many
kilometers", "[what is] the boiling point of water [in fahrenheit]", "at what temperature does
water freeze [in celsius]". Factors are exact definitions (US customary volumes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction as F

from tools.plugins.calc_base import Cursor, Solution, literal, number, plain, say, spell


@dataclass(frozen=True)
class Unit:
    name: str  # canonical (plural) word, one of ``aliases``
    dim: str
    scale: F  # base units per unit
    one: str  # said for exactly one
    many: str
    aliases: tuple[str, ...] = field(default=())
    offset: F = F(0)  # base = value * scale + offset (temperatures)

    def label(self, value: F | float) -> str:
        return self.one if value == 1 else self.many

    def key(self, value: F) -> str:
        """The unit's words in a canonical expression (an alias, singular for one)."""
        return self.label(value).lower()


def _unit(dim: str, scale: F | str, one: str, many: str, aliases: str, offset: F = F(0)) -> Unit:
    names = tuple(a.strip() for a in aliases.split("|"))
    return Unit(names[0], dim, F(scale), one, many, names, offset)


_LB = F("0.45359237")
_GAL = F("3.785411784")
UNITS = [
    _unit("length", 1000, "kilometer", "kilometers", "kilometers|kilometer|kilometre|kilometres|km|kms"),
    _unit("length", 1, "meter", "meters", "meters|meter|metre|metres"),
    _unit("length", "0.01", "centimeter", "centimeters", "centimeters|centimeter|centimetre|centimetres|cm"),
    _unit("length", "0.001", "millimeter", "millimeters", "millimeters|millimeter|millimetre|millimetres|mm"),
    _unit("length", "1609.344", "mile", "miles", "miles|mile"),
    _unit("length", "0.9144", "yard", "yards", "yards|yard|yd|yds"),
    _unit("length", "0.3048", "foot", "feet", "feet|foot|ft"),
    _unit("length", "0.0254", "inch", "inches", "inches|inch"),
    _unit("mass", 1000, "metric ton", "metric tons", "tonnes|tonne|metric tons|metric ton"),
    _unit("mass", 1, "kilogram", "kilograms", "kilograms|kilogram|kilogramme|kilogrammes|kg|kgs|kilo|kilos"),
    _unit("mass", "0.001", "gram", "grams", "grams|gram|gramme|grammes"),
    _unit("mass", "0.000001", "milligram", "milligrams", "milligrams|milligram|mg"),
    _unit("mass", _LB, "pound", "pounds", "pounds|pound|lb|lbs"),
    _unit("mass", _LB / 16, "ounce", "ounces", "ounces|ounce|oz"),
    _unit("volume", 1, "liter", "liters", "liters|liter|litre|litres"),
    _unit("volume", "0.001", "milliliter", "milliliters", "milliliters|milliliter|millilitre|millilitres|ml"),
    _unit("volume", _GAL, "US gallon", "US gallons", "gallons|gallon|us gallons|us gallon"),
    _unit("volume", _GAL / 4, "US quart", "US quarts", "quarts|quart|us quarts|us quart"),
    _unit("volume", _GAL / 8, "US pint", "US pints", "pints|pint|us pints|us pint"),
    _unit("volume", _GAL / 16, "US cup", "US cups", "cups|cup|us cups|us cup"),
    _unit("speed", F(1000, 3600), "kilometer per hour", "kilometers per hour",
          "kilometers per hour|kilometer per hour|kilometres per hour|kilometre per hour|"
          "kilometers an hour|kilometres an hour|km per hour|km an hour|kmh|kph"),
    _unit("speed", F("1609.344") / 3600, "mile per hour", "miles per hour",
          "miles per hour|mile per hour|miles an hour|mile an hour|mph"),
    _unit("speed", 1, "meter per second", "meters per second",
          "meters per second|meter per second|metres per second|metre per second|mps"),
    _unit("time", 1, "second", "seconds", "seconds|second|secs"),
    _unit("time", 60, "minute", "minutes", "minutes|minute|mins"),
    _unit("time", 3600, "hour", "hours", "hours|hour|hrs"),
    _unit("time", 86400, "day", "days", "days|day"),
    _unit("time", 604800, "week", "weeks", "weeks|week"),
    _unit("temperature", 1, "degree Celsius", "degrees Celsius",
          "celsius|centigrade|degrees celsius|degree celsius|degrees centigrade|degrees c",
          F("273.15")),
    _unit("temperature", F(5, 9), "degree Fahrenheit", "degrees Fahrenheit",
          "fahrenheit|degrees fahrenheit|degree fahrenheit|degrees f", F("273.15") - F(160, 9)),
    _unit("temperature", 1, "kelvin", "kelvins", "kelvin|kelvins|degrees kelvin"),
]  # fmt: skip
_ALIASES = {tuple(a.split()): u for u in UNITS for a in u.aliases}
_LONGEST = max(len(a) for a in _ALIASES)
_WATER = {"boiling": (F(100), "boils"), "freezing": (F(0), "freezes")}
_CELSIUS, _FAHRENHEIT = _ALIASES[("celsius",)], _ALIASES[("fahrenheit",)]


def _take_unit(c: Cursor) -> Unit | None:
    for n in range(_LONGEST, 0, -1):
        unit = _ALIASES.get(tuple(c.toks[c.i : c.i + n]))
        if unit is not None and c.i + n <= len(c.toks):
            c.i += n
            return unit
    return None


def _quantity(c: Cursor) -> F | None:
    sign = -1 if c.take("minus", "negative", "-") else 1
    if c.peek() in ("a", "an") and c.peek(1) not in ("hundred", "thousand", "million"):
        c.i += 1
        return F(sign)
    value = number(c)
    return None if value is None else sign * value


def _conversion(c: Cursor) -> tuple[F, Unit, Unit, bool] | None:
    """(quantity, from, to, asked "how many") for one of the accepted phrasings; else None."""
    start = c.i
    if c.take("how many", "how much") and (dst := _take_unit(c)) is not None:
        c.take("are there in", "are there", "is there in", "are in", "is in", "in", "is", "are")
        c.take("make up", "make", "equal")
        qty = _quantity(c)
        src = _take_unit(c)
        return (qty, src, dst, True) if qty is not None and src and c.done() else None
    c.i = start
    c.take("convert", "what is", "what are", "how much is")
    qty = _quantity(c)
    src = _take_unit(c)
    if qty is None or src is None:
        return None
    if c.take("is how many", "are how many", "equals how many", "is how much"):
        dst = _take_unit(c)
    elif c.take("in terms of", "into", "in", "to", "as"):
        dst = _take_unit(c)
    else:
        return None
    return (qty, src, dst, False) if dst is not None and c.done() else None


def convert(qty: F, src: Unit, dst: Unit) -> F | None:
    """``qty`` of ``src`` in ``dst`` (exact), or None across dimensions or below 0 kelvin."""
    if src.dim != dst.dim or src is dst:
        return None
    base = qty * src.scale + src.offset
    return None if src.dim == "temperature" and base < 0 else (base - dst.offset) / dst.scale


def _said(value: F | float, unit: Unit, count: bool = False) -> str:
    minus = "minus" if unit.dim == "temperature" else "negative"
    return f"{say(value, minus, count)} {unit.label(value)}"


def _water(c: Cursor) -> tuple[str, Unit | None] | None:
    """("boiling" | "freezing", the unit asked for or None) for water's constants."""
    c.take("what is", "what are")
    if c.take("at what temperature does water", "what temperature does water"):
        verb = c.take("boil", "freeze")
        kind = {"boil": "boiling", "freeze": "freezing"}.get(verb or "")
        c.take("at")
    else:
        c.take("the")
        kind = c.take("boiling", "freezing")
        if not kind or not c.take("point of water"):
            return None
    at_sea = c.take("at sea level")
    unit = _take_unit(c) if c.take("in degrees", "in") else None
    if not at_sea:
        c.take("at sea level")
    if kind is None or not c.done() or unit is not None and unit.dim != "temperature":
        return None
    return kind, unit


def _solve_water(kind: str, unit: Unit | None) -> Solution:
    celsius, verb = _WATER[kind]
    point = f"The {kind} point of water at sea level"
    title = f"Water {verb} at {literal(celsius)} degrees Celsius: its {kind} point temperature"
    expression = f"the {kind} point of water" + (f" in {unit.name}" if unit else "")
    if unit is None:
        fahrenheit = convert(celsius, _CELSIUS, _FAHRENHEIT)
        assert fahrenheit is not None
        sentence = f"{point} is {_said(celsius, _CELSIUS)}, or {_said(fahrenheit, _FAHRENHEIT)}."
        return Solution(expression, plain(celsius), sentence, title)
    value = celsius if unit is _CELSIUS else convert(celsius, _CELSIUS, unit)
    assert value is not None
    return Solution(expression, plain(value), f"{point} is {_said(value, unit)}.", title)


def solve(toks: list[str]) -> Solution | None:
    """The conversion question ``toks`` solved, or None."""
    water = _water(Cursor(toks))
    if water is not None:
        return _solve_water(*water)
    found = _conversion(Cursor(toks))
    if found is None:
        return None
    qty, src, dst, count = found
    value = convert(qty, src, dst)
    if value is None:
        return None
    sign = "minus " if qty < 0 else ""
    given = f"{sign}{literal(abs(qty))} {src.key(qty)}"
    to = dst.many.lower()
    expression = f"how many {to} in {given}" if count else f"{given} in {to}"
    said = _said(qty, src)
    sentence = f"{said[0].upper()}{said[1:]} is {_said(value, dst, count)}."
    names = " ".join(dict.fromkeys(a for a in src.aliases + dst.aliases if " " not in a))
    title = f"Unit conversion: {sign}{spell(abs(qty))} {src.label(qty)} to {dst.many} ({names})"
    return Solution(expression, plain(value), sentence, title)

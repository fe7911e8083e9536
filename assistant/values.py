"""Recognise values in a sentence: names, dates and times, quantities with units or currencies,
lengths of time, places (towns, venues, addresses, rooms, file paths).

`find(kind, text, question, unit)` returns the asked-for value verbatim from the sentence, or "".
No rule here names a word of one document: the patterns are the ordinary forms such values take.
"""

from __future__ import annotations

import re

from .corpus import HONORIFICS
from .lexical import related, terms, words

NUMBER_WORDS = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|"
    r"seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|"
    r"dozen|half|a few|several|a couple of"
)
DAYS = r"Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
MONTHS = (r"January|February|March|April|May|June|July|August|September|October|November|December|"
          r"Jan\.?|Feb\.?|Mar\.?|Apr\.?|Jun\.?|Jul\.?|Aug\.?|Sept?\.?|Oct\.?|Nov\.?|Dec\.?")
_ERA = r"(?:BCE|BC|CE|AD|B\.C\.E?\.?|A\.D\.|C\.E\.)"
_APPROX = r"(?:c\.\s?|ca\.\s?|circa\s|around\s|about\s|before\s|after\s|early\s|mid-|late\s)"
# a year of any century: 1631, 2025, "c. 2500 BCE", "AD 79", "in 632"; a century or decade
_YEAR = (rf"\b{_APPROX}?\d{{1,4}}\s?{_ERA}(?![\w])|\b{_ERA}\s?\d{{1,4}}\b"
         rf"|\b{_APPROX}?(?:1[0-9]|20)\d\d(?:s|[–-]\d{{2,4}})?\b(?![.,]\d)"
         rf"(?!\s?(?:%|°|(?:mm|cm|km|kg|mg|ml|mAh|W|V|m|g|l|GB|MB|px|rpm|ft|lbs?|oz)\b))"
         rf"|\b(?:in|since|until|by|from)\s\d{{3}}\b(?![\s.,]*\d)"
         rf"|\b(?:the\s)?(?:early\s|mid-|late\s)?(?:\d{{1,2}}(?:st|nd|rd|th)|first|second|third|fourth|fifth|"
         rf"sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|thirteenth|fourteenth|fifteenth|sixteenth|"
         rf"seventeenth|eighteenth|nineteenth|twentieth|twenty-first)[\s-]century(?:\s{_ERA})?"
         rf"|\b(?:the\s)?(?:1[0-9]|20)\d0s\b")
# "14 March 2025", "March 14, 2025", "2025-03-14", "14/03/2025", "Monday", "next week", "at 9:30"
CALENDAR_DATE = re.compile(  # with its weekday when it has one ("Friday 11 April 2025", "Tuesday, June 3")
    rf"\b(?:(?:{DAYS}),?\s)?\d{{1,2}}(?:st|nd|rd|th)?\s(?:of\s)?(?:{MONTHS})(?:,?\s\d{{1,4}})?(?:\s{_ERA})?(?![\w])"
    rf"|\b(?:(?:{DAYS}),?\s)?(?:{MONTHS})\s\d{{1,2}}(?:st|nd|rd|th)?\b(?:,?\s\d{{4}}\b)?"
    r"|\b\d{4}-\d\d-\d\d\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b"
)
DATE = re.compile(
    CALENDAR_DATE.pattern
    + rf"|\b(?:(?:this|next|last|on|by|until|since|in)\s)?(?:{DAYS}|{MONTHS})(?:\s\d{{4}})?\b"
    + rf"(?!,?\s(?:\d{{1,2}}(?:st|nd|rd|th)?\s(?:of\s)?(?:{MONTHS})|(?:{MONTHS})\s\d))"  # a weekday before its date
    + r"|" + _YEAR
    + r"|\b(?:by\s)?Christmas\b|\b(?:earlier|later)\s(?:this|next|last)\s(?:year|month|week)\b"
    r"|\b(?:this|next|last)\s(?:year|month|week)\b|\b(?:first|second)\shalf\sof\s(?:next|this)\syear\b"
    r"|\b(?:spring|summer|autumn|fall|winter)\s(?:of\s)?\d{4}\b"
    r"|\b(?:\d+|an?|" + NUMBER_WORDS + r")\s(?:minutes?|hours?|days?|weeks?|months?|years?)\s(?:before|after|prior to|"
    r"ahead of|ago|earlier|later)\b"
    r"|\b(?:at\s)?(?:\d{1,2}(?:[:.]\d\d)?\s?(?:a\.m\.|p\.m\.|am|pm)|\d{1,2}:\d\d|(?:" + NUMBER_WORDS + r"|\d{1,2})"
    r"\so[’']clock)\b"
)
CLOCK = re.compile(r"\d:\d\d|\d\s?(?:a\.m\.|p\.m\.|am|pm)\b|o[’']clock|\bnoon\b|\bmidnight\b", re.IGNORECASE)
# a number, optionally with a currency before it and a unit or scale word after it
_MONEY_NAMES = (r"euros?|dollars?|pounds?|pence|cents?|yen|yuan|francs?|shillings?|guineas?|crowns?|marks?|"
                r"guilders?|florins?|ducats?|thalers?|roubles?|rubles?|rupees?|pesos?|lira|lire|kron[ae]r?|rand|"
                r"dinars?|dirhams?|riyals?|won|zloty|forints?")
_CURRENCY_SIGN = r"[€$£¥₹]|\b(?:USD|EUR|GBP|CHF|JPY|US\$|A\$|C\$)\s?"
_UNIT = (r"%|°\s?[CF]\b|per\s?cent\b|percent\b|(?:billion|million|thousand|trillion|bn)\b|(?<=\d)p\b"
         r"|(?:USD|EUR|GBP|CHF|JPY|SEK|NOK|DKK|PLN|CZK|AUD|CAD|NZD|INR|CNY)\b"
         r"|(?:mm|cm|km|kg|mg|µg|lbs?|oz|ml|mL|cl|dl|tsp|tbsp|kWh|kW|MW|mAh|Ah|Hz|kHz|MHz|GHz|GB|MB|KB|kB|TB|px|"
         r"dpi|rpm|mph|km/h|m/s|g|m|l|L|W|V)\b"
         r"|(?:years?|months?|weeks?|days?|hours?|minutes?|seconds?|decades?|centuries|nights?|"
         r"(?:milli|centi|kilo)?met(?:er|re)s?|(?:milli|kilo)?grams?|kilos?|(?:milli)?lit(?:er|re)s?|"
         r"(?:square|cubic)\s(?:(?:milli|centi|kilo)?met(?:er|re)s?|feet|foot|yards?|miles?|inch(?:es)?)|"
         r"hectares?|acres?|tonnes?|tons?|gallons?|pints?|barrels?|"
         r"tablespoons?|teaspoons?|cups?|pounds?|ounces?|inch(?:es)?|feet|foot|yards?|miles?|degrees?|"
         r"calories|kcal|watts?|volts?|" + _MONEY_NAMES + r"|pages?|words?|"
         r"storeys?|stories|floors?|seats?|rooms?|beds?|times)\b|(?:mm|cm|m|km)[²³](?!\w)")
_RANGE = r"(?:\s?[–-]\s?|\s(?:to|or)\s)"  # "12–14", "12 to 14", "2 or 3"
QUANTITY = re.compile(
    rf"(?:(?:{_CURRENCY_SIGN})\s?)?\b\d[\d,.]*(?<![,.])(?:{_RANGE}\d[\d,.]*(?<![,.]))?(?:\s?(?:{_UNIT}))?"
    rf"|\b(?:nearly |about |almost |more than |over |some |around |up to )?(?:{NUMBER_WORDS})\b"
    r"(?:\s(?:full-scale\s)?(?:years?|days?|months?|weeks?|hours?|billion|million))?",
    re.IGNORECASE,
)
CURRENCY = re.compile(r"[€$£¥₹]|\b(?:" + _MONEY_NAMES + r"|USD|EUR|GBP|CHF)\b|(?<=\d)p\b",
                      re.IGNORECASE)
DURATION = re.compile(
    r"\b(?:nearly |about |almost |more than |some |over |around |up to |at least |at most |under )?(?:\d[\d,.]*"
    r"(?:" + _RANGE + r"\d+)?|" + NUMBER_WORDS + r")[\s-](?:(?:thousand|million|billion)\s)?"
    r"(?:full-scale\s|working\s|business\s|calendar\s|clear\s|consecutive\s|successive\s|whole\s|full\s)?"
    r"(?:years?|months?|weeks?|days?|hours?|hrs?|minutes?|mins?|seconds?|secs?|decades?|centuries|century|"
    r"nights?)\b"
    r"|\b(?:not\s(?:\w+\s){0,4})?forever\b|\bright now\b|\bfor now\b|\bindefinitely\b"
    # how long it lasts, by when it ends: "until August 2028", "until 31 March 2026", "by Christmas"
    r"|\b(?:until|till|by)\s(?:" + CALENDAR_DATE.pattern + r"|Christmas|the end of \w+|next \w+|(?:" + MONTHS
    + r")(?:\s\d{4}\b)?|" + DAYS + r"|\d{4}\b)"
    # from one date to another: "valid from 8 December 2025 to 17 May 2026"
    r"|\bfrom\s(?:" + CALENDAR_DATE.pattern + r")\s(?:to|until|till)\s(?:" + CALENDAR_DATE.pattern + r")"
    r"|(?<=`)\d+(?:ms|s|m|h|d|w)(?=`)",  # as configuration writes it: "`300s`", "`7d`", "`12h`"
    re.IGNORECASE,
)
_HAS_NUMBER = re.compile(r"\d|" + NUMBER_WORDS, re.IGNORECASE)  # in digits or in words ("eleven minutes")
_SOON = re.compile(r"\b(?:within|in|after|by the end of|no later than)\s(?:(?:a|an|one|the)\s)?(?:" + DURATION.pattern
                   + r"|(?:day|week|month)\s\d+\b|(?:hour|day|week|month|year)\b)", re.IGNORECASE)
_LENGTH_UNITS = (r"mm|cm|m|km|ft|yd|mi|millimet(?:er|re)s?|centimet(?:er|re)s?|met(?:er|re)s?|"
                 r"kilomet(?:er|re)s?|inch(?:es)?|feet|foot|yards?|miles?|pages?|words?|characters?|lines?")
_LENGTH = re.compile(rf"\b\d[\d,.]*\s?(?:{_LENGTH_UNITS})\b", re.IGNORECASE)
NAME_WORD = r"(?:[A-Z][\w’'\-]*[a-z][\w’'\-]*|[A-Z]\.(?:[A-Z]\.)+|[A-Z]+-?\d[\w\-]*|[A-Z]{2,})"
_PARTICLE = r"(?:von|van|der|den|de|del|della|di|da|du|dos|le|la|al|el|bin|ibn|ter|ten|y|of)"
NAME = re.compile(NAME_WORD + r"(?:\s(?:" + _PARTICLE + r"\s)*" + NAME_WORD + r")*")
# a person's name with the title before it: "Mr. Gareth Llewellyn-Price", not "Mr" alone
TITLED_NAME = re.compile(rf"(?:\b(?:{'|'.join(HONORIFICS)})\.\s){{0,2}}" + NAME.pattern)  # "Rev. Dr. Olamide ..."
TITLES = {"president", "chancellor", "minister", "prime", "secretary", "senator", "king", "queen", "official",
          "leader", "dictator"}
QUOTE = re.compile(r"[“”\"]")
SPEECH = (r"said|says|states|stated|added|adds|told|asked|wrote|noted|explained|argued|called|described|"
          r"welcomed|cautioned|warned|labeled|labelled|dubbed|branded|insisted|declared|claimed")
MONEY_WORDS = {"money", "cash", "funding", "funds", "aid", "capital", "assets", "cost", "costs", "price", "fee",
               "fees", "charge", "salary", "pay", "budget", "fine", "spend", "worth"}
# a file or folder path, a URL, a command-line flag
PATH = re.compile(r"(?<![\w/])(?:~?/|[A-Z]:\\|\./|\.\./)[\w.\-/\\~]+|\bhttps?://\S+[\w/]|`[^`\n]{2,80}`")
# a web address without its scheme ("portal.example.com/downloads"), or a menu path
# ("Settings → Export → Delimiter")
_WEB_OR_MENU = re.compile(r"(?<![@\w.])(?:[a-z0-9-]+\.)+(?:com|org|net|gov|edu|io|co|uk|de|fr|eu|info|example)\b"
                          r"(?:/[\w./%-]*[\w/])?(?![@\w])"
                          r"|\b[A-Z][\w ]{0,30}?(?:\s?(?:→|->|>)\s?[A-Z][\w ]{0,30}?\b)+")
_PLACE_PREP = r"(?:in|at|from|on|near|off|outside|inside|beside|to|into|across|along|within|behind|opposite)"
_VENUE = re.compile(
    r"\b(?:at|in|on|inside|within|beside|behind|near|outside|opposite) (?:a|an|the|our|its|their) (?:[\w-]+ ){0,3}?"
    r"(?:conference|meeting|summit|dinner|hall|office|headquarters|embassy|session|house|building|room|floor|wing|"
    r"gallery|library|museum|station|square|street|road|lane|park|garden|church|cathedral|palace|castle|school|"
    r"university|college|hospital|village|town|city|island|coast|valley|river|lake|mountain|harbour|harbor|port|"
    r"basement|folder|directory|file|drawer|cabinet|shelf|menu|tab|panel|page|section|label|sticker|plate|screen)\b"
    r"(?: of [A-Z][\w-]+)?"
    r"|\b(?:at|on|in|under|behind) the (?:back|front|side|bottom|top|underside|rear|base|inside|end) of "
    r"(?:the|a|an|your|its|each) (?:[\w-]+ ){0,2}?[\w-]+\b",
    re.IGNORECASE)
_ROOM = re.compile(r"\b(?:Room|Hall|Gallery|Floor|Level|Suite|Building|Gate|Platform|Unit|Bay|Aisle|Terminal|Pier|"
                   r"(?i:room|gate|platform|terminal))\s[\dA-Z][\w.-]*(?<!\.)"
                   r"|\b\d+\s(?:[A-Z][\w’'-]+\s){1,3}(?:Street|St\.|Road|Rd\.|Avenue|Ave\.|Lane|Way|Square|Place|"
                   r"Drive|Boulevard|Quay|Row|Wharf|Close|Court|Crescent|Terrace|Hill|Green|Parade|Walk|Gardens|Mews)\b")
_STOREY = (r"(?:ground|first|second|third|fourth|fifth|top|upper|lower|basement|\d{1,2}(?:st|nd|rd|th))"
           r"\s(?:floor|storey|level)")
_WING = r"(?:north|south|east|west|new|old|main)\s(?:wing|annexe|annex)"
# "second floor, east wing"
_FLOOR = re.compile(rf"\b(?:{_STOREY}|{_WING})\b(?:,?\s(?:{_WING}|{_STOREY}))?", re.IGNORECASE)
# what answers "how far", "how tall", "how heavy", "how hot", "how fast", "how old" (question._MEASURES)
UNIT_CLASSES = {
    "distance": re.compile(r"\b(?:\d[\d,.]*\s?|(?:" + NUMBER_WORDS + r")(?:-(?:" + NUMBER_WORDS + r"))?\s)"
                           r"(?:mm|cm|m|km|mi|(?:nautical )?miles?|(?:kilo|centi|milli)?met(?:er|re)s?|yards?|"
                           r"feet|ft)\b", re.IGNORECASE),
    "size": _LENGTH,
    # unit symbols in their case ("4G" is no weight), words in any case
    "weight": re.compile(r"\b\d[\d,.]*\s?(?:mg|g|kg|Kg|KG|t|(?i:lbs?|oz|(?:kilo|milli)?grams?|tonnes?|tons?|pounds?|"
                         r"ounces?|stone))\b"),
    "temperature": re.compile(r"-?\b\d[\d,.]*\s?(?:°\s?[CF]?|degrees?(?:\s(?:Celsius|Fahrenheit|C|F))?)|\bgas mark \d+",
                              re.IGNORECASE),
    # a data rate too ("35 Mbps", "1 Gbit/s", "40 MB/s")
    "speed": re.compile(r"\b\d[\d,.]*\s?(?:km/h|kph|mph|m/s|knots?|rpm|(?:kilomet(?:er|re)s|miles) (?:an|per) hour|"
                        r"[kmgt]?bps|[kmgt]bit/s|[kmgt]i?b/s)(?!\w)",
                        re.IGNORECASE),
    "age": re.compile(r"\b(?:aged? |age of )(?:\d+|" + NUMBER_WORDS + r")\b"
                      r"|\b(?:\d+(?:[–-]\d+)?|" + NUMBER_WORDS + r")[\s-](?:years?|months?|weeks?|days?)[\s-]old\b"
                      r"|\b\d+\b(?=\s*years? of age)"
                     r"|\b\d+\s?(?:or|and) (?:over|older|above|under|younger)\b|\b(?:over|under)[\s-]\d+s?\b|\b\d+\+",
                      re.IGNORECASE),
}
VALUE_KINDS = {"quantity": "number", "duration": "length of time", "when": "time", "date": "date",
               "who": "name", "name": "name", "entity": "name", "where": "place"}

NOT_NAMES = re.compile(r"^(?:" + DAYS + "|" + MONTHS + r"|There’s|There|This|That|Those|These|It|Its|It’s|"
                       r"The|A|An|In|On|But|And|For|If|When|Where|Meanwhile|However|Separately|Further|"
                       r"Privately|Others|Their|They|He|She|We|Our|Article|You|Your|I|To|Step|Note|Yes|No|"
                       r"After|Before|Then|Once|Each|Every|All|Some|Most|Many|During|At|By|From|With|As)$")


# a name that is a place by its head word: no answer to "who"
_PLACE_NAME = re.compile(
    r"\b(?:Street|Road|Avenue|Lane|Square|Drive|Boulevard|Quay|Wharf|Crescent|Terrace|Parade|Mews|Bridge|Station|"
    r"Harbour|Harbor|Haven|Island|Valley)$|^(?:River|Lake|Mount|Cape|Isle|Fort)\s")


def find(kind: str, text: str, question: str, unit: str = "") -> str:
    """The asked-for value, verbatim from the sentence, or "" when the sentence has none."""
    q_words = set(words(question))

    def new(candidate: str) -> bool:  # not a name or number the question already gives ("Russians" for "Russia")
        return not all(any(related(w, q) for q in q_words) for w in words(candidate))

    if kind == "quantity" and unit in UNIT_CLASSES:  # "how heavy": a weight, not "3.5 litre"
        found = [m for m in UNIT_CLASSES[unit].finditer(text) if new(m.group())]
        if not found and unit == "speed":  # "How fast was the page updated?": how soon ("within 11 minutes")
            found = [m for m in DURATION.finditer(text) if new(m.group()) and _HAS_NUMBER.search(m.group())]
        return nearest(found, text, question).group().strip() if found else ""
    if kind == "quantity":
        return _quantity(text, question, unit, new)
    if kind == "duration" and unit == "size":  # "how long is the walk?": a length or a time
        found = [m for m in [*DURATION.finditer(text), *_LENGTH.finditer(text)] if new(m.group())]
        return nearest(found, text, question).group().strip() if found else ""
    if kind == "duration":
        found = [m.group().strip() for m in DURATION.finditer(text) if new(m.group())]
        if unit == "elapsed":  # "how long has it been ...": a length of time, not a deadline ("by Christmas")
            found = [f for f in found if _HAS_NUMBER.search(f)]
        if not found and unit != "elapsed":  # "how long is the blade?": a length
            found = [m.group() for m in _LENGTH.finditer(text) if new(m.group())]
        return found[0] if found else ""
    if kind == "date":
        found = [m for m in CALENDAR_DATE.finditer(text) if new(m.group())]
        found = found or [m for m in DATE.finditer(text) if new(m.group()) and re.search(r"\d", m.group())
                          and re.search(MONTHS, m.group())]  # "in March 2025", not a bare year
        return nearest(found, text, question).group().strip() if found else ""
    if kind == "when":
        found = [m for m in DATE.finditer(text) if new(m.group()) and (unit != "clock" or CLOCK.search(m.group()))]
        if not found:  # "When will the results come back?": "within 7 to 10 working days", "by the end of week 4"
            found = [m for m in _SOON.finditer(text) if new(m.group())]
        return nearest(found, text, question).group().strip() if found else ""
    if kind == "where" or (kind == "entity" and unit == "town"):
        return _place(kind, text, question, new)
    if kind in ("who", "name", "entity"):
        names = [m for m in TITLED_NAME.finditer(text) if is_name(m, text, kind) and new(m.group())
                 and not (kind == "who" and _PLACE_NAME.search(m.group()))]  # "who founded it?": not "Cooper's Wharf"
        # "Who is the president of the European Council?": not "European Commission President Ursula
        # von der Leyen", which repeats words of the question, but "António Costa"
        fresh = [m for m in names if not set(words(m.group())) & q_words]
        return nearest(fresh or names, text, question).group() if names else ""
    return ""


def _quantity(text: str, question: str, unit: str, new) -> str:
    found = [m for m in QUANTITY.finditer(text)
             if new(m.group()) and re.search(r"\d|\w", m.group()) and not re.search(r"Article[\s-]$", text[: m.start()])
             and not _inside_date(m, text)]
    found = [m for m in found if m.group().strip() and not _a_year(m, text)]
    if unit == "percent":
        found = [m for m in found if re.search(r"%|\bper ?cent", m.group() + text[m.end() : m.end() + 9])]
    elif unit == "amount":  # "how much X": a number with a unit or a currency, not a bare count ("three")
        found = [m for m in found if has_unit(m.group()) or CURRENCY.search(m.group())
                 or CURRENCY.search(text[max(0, m.start() - 2) : m.start()])]
    elif unit in MONEY_WORDS:
        found = [m for m in found if CURRENCY.search(m.group()) or CURRENCY.search(text[m.end() : m.end() + 12])
                 or CURRENCY.search(text[max(0, m.start() - 2) : m.start()])]
    elif re.search(r"\bhow often\b", question, re.IGNORECASE):  # "every fortnight", "twice a week"
        found = [m for m in FREQUENCY.finditer(text) if new(m.group())] or \
            [m for m in found if re.match(r"\s*(?:a|an|per|each|every)\s", text[m.end() :])]  # "3 times a day"
    elif unit in _ANY_COUNT:  # "how many times", "how many people": a count whatever it counts ("four invasions")
        found = [m for m in found if not re.search(r"[^\d\s,.–-]", m.group()) or re.fullmatch(r"[\w\s]+", m.group())
                 and not _TIME_SPAN.search(m.group())]
    elif not unit and not _TIME_ASKED.search(question):  # "what was the population": a count, not a time
        found = [m for m in found if not _TIME_SPAN.search(m.group())] or found  # span ("a hundred years")
    elif unit:  # "how many beds": a number of beds; not a measure ("14 minutes", "7 m"), nor a bare guess
        # the counted noun, its singular and symbol ("kilos": "kg"), and the words before it ("monthly snapshots")
        modifiers = re.search(rf"\bhow many\s+((?:[\w-]+\s){{0,2}}){re.escape(unit)}\b", question, re.IGNORECASE)
        noun_terms = set(terms(f"{unit} {_singular(unit)} {_UNIT_SYMBOLS.get(unit.lower(), '')}"))
        unit_terms = noun_terms | set(terms(modifiers.group(1) if modifiers else ""))
        found = [m for m in found  # a count, not a share
                 if "%" not in m.group() and not re.match(r"\s?(?:%|per ?cent)", text[m.end() :])]
        named = [m for m in found if unit_terms & set(terms(" ".join([m.group(), *text[m.end() :].split()[:3]])))
                 or unit_terms & set(terms(_label(text, m.start())))]  # "Beds: 42 in dormitories"
        row = text.lstrip().startswith("|") and noun_terms & set(terms(text))  # "| Adjustable shelf | 3 |"
        found = named or (found if row else [])
    return nearest(found, text, question).group().strip() if found else ""


def _singular(plural: str) -> str:
    """"shelves" -> "shelf", "entries" -> "entry", "boxes" -> "box" (terms() stems the rest alike)."""
    for end, to in (("ves", "f"), ("ies", "y"), ("xes", "x"), ("ches", "ch"), ("shes", "sh")):
        if plural.endswith(end):
            return plural[: -len(end)] + to
    return plural


_ANY_COUNT = {"times", "people", "persons", "individuals"}
_UNIT_SYMBOLS = {"kilos": "kg", "kilograms": "kg", "grams": "g", "tonnes": "t", "metres": "m", "meters": "m",
                 "kilometres": "km", "kilometers": "km", "centimetres": "cm", "centimeters": "cm", "millimetres": "mm",
                 "millimeters": "mm", "miles": "mi", "litres": "l", "liters": "l", "millilitres": "ml",
                 "milliliters": "ml", "hours": "h hr hrs", "minutes": "min mins", "seconds": "s sec secs",
                 "pounds": "lb lbs £", "ounces": "oz", "feet": "ft", "inches": "in", "watts": "w", "volts": "v",
                 "calories": "kcal cal", "kilocalories": "kcal"}
FREQUENCY = re.compile(
    r"\b(?:every|each)\s(?:other\s|second\s|\d+\s?|few\s|couple of\s)?(?:(?:" + NUMBER_WORDS + r")\s)?"
    r"(?:days?|weeks?|fortnights?|months?|years?|hours?|minutes?|seconds?|ms|milliseconds|morning|evening|night|"
    r"weekday|weekend|"
    + DAYS + r"|season|term|quarter|decade)s?\b"
    r"|\b(?:once|twice|three times|\d+\s?times|(?:" + NUMBER_WORDS + r")\stimes)\s(?:a|an|per|each|every)\s\w+"
    r"|\b(?:daily|weekly|fortnightly|monthly|quarterly|yearly|annually|annual|hourly|nightly|biennial|triennial|"
    r"quadrennial|biannual|bimonthly|biweekly)\b",
    re.IGNORECASE)
_TIME_SPAN = re.compile(r"\b(?:years?|months?|weeks?|days?|hours?|minutes?|seconds?|decades?|centuries)$",
                        re.IGNORECASE)
_TIME_ASKED = re.compile(r"\b(?:years?|months?|weeks?|days?|hours?|minutes?|seconds?|decades?|centuries|time|"
                         r"long|often|age|old)\b", re.IGNORECASE)


def _a_year(m: re.Match[str], text: str) -> bool:
    """A bare year after a preposition of time ("between 1765 and 1769"), not a count."""
    return (re.fullmatch(r"1[0-9]\d\d|20\d\d", m.group().strip()) is not None
            and re.search(r"\b(?:in|between|and|since|from|to|until|till|by|of|after|before|around|c\.)\s$",
                          text[max(0, m.start() - 9) : m.start()]) is not None)


def has_unit(value: str) -> bool:
    """A number with something after it that is not a number: a unit ("300 MB", "£45", "3 times a day"),
    not a bare count or a section's number ("4")."""
    return re.search(r"\d\D*[^\d\s,.–-]", value) is not None


def _label(text: str, at: int) -> str:
    """The label of a "Label: value" line or item that the position `at` is the value of ("Beds" in
    "Beds: 42 in dormitories"), or ""."""
    line = text[: at].rsplit("\n", 1)[-1]
    match = re.fullmatch(r"[\s*•\-|]*([^:.;!?]{1,40}):[\s*]*", line)
    return match.group(1) if match else ""


def _inside_date(m: re.Match[str], text: str) -> bool:
    """A number that is part of a calendar date or a year, not a quantity of something."""
    return any(d.start() <= m.start() and m.end() <= d.end() and re.search(r"[A-Za-z]", d.group())
               for d in CALENDAR_DATE.finditer(text))


_REGION_ADJECTIVE = (r"(?:north|south|east|west|central|upper|lower|coastal|inland|rural|northern|southern|eastern|"
                     r"western|north-eastern|north-western|south-eastern|south-western)")


# the words of a label or a column header that say a place follows ("Venue: ...", "| Location |")
PLACE_LABELS = {"venue", "location", "place", "address", "where", "room", "site", "point"}  # "assembly point"
# "Place: The Old Tannery, Mill Street", "**Location:** Room 2.14": the value of a labelled line
_LABELLED = re.compile(r"(?:^|\|)[\s*•\-]*(?P<label>[A-Za-z][\w ]{0,30}?)\**:\**[ \t]*(?P<value>[^\n|]+)",
                       re.MULTILINE)


def says_something(value: str) -> bool:
    """A label's or a cell's value holds words, not a placeholder ("TBC", "N/A") or a bare number."""
    return re.search(r"[^\W\d_]{3}", value) is not None and value.upper() not in {"TBC", "TBA", "N/A"}


def _place(kind: str, text: str, question: str, new) -> str:
    """A town or place: the value of a line labelled as one ("Venue: ..."), a name after a place
    preposition, a dateline ("BERLIN —"), a venue, a room or an address; in technical text a path."""
    if kind == "where":
        for m in _LABELLED.finditer(text):
            label, value = words(m.group("label")), m.group("value").strip(" *.")
            if label and label[-1] in PLACE_LABELS and says_something(value) and new(value):
                return value
    places = [m for m in NAME.finditer(text) if new(m.group())
              and ((is_name(m, text, "where")
                    and re.search(rf"\b{_PLACE_PREP}\s(?:an?\s|the\s|\d+[a-z]?\s)?(?:{_REGION_ADJECTIVE}\s)?"
                                  r"(?:(?:island|city|town|village|county|province|region|state|port|district|"
                                  r"forecourt|entrance|front|back|rear|side|end|edge|corner|centre|center|heart|"
                                  r"outskirts|foot|top|bottom|banks?|shore|mouth|car park|grounds) of\s(?:the\s)?)?$",
                                  text[: m.start()][-48:]))
                   or (m.group().isupper() and re.match(r"\s*—", text[m.end() :]) and not text[: m.start()].strip()))]
    if kind == "entity":
        return nearest(places, text, question).group().strip() if places else ""
    # a path may repeat a word of the question ("`~/.cache/quarry/`" for Quarry's cache), not the whole path
    found = (places + [m for pattern in (_VENUE, _ROOM, _FLOOR) for m in pattern.finditer(text) if new(m.group())]
             + [m for m in PATH.finditer(text) if m.group().strip("`") not in question]
             + [m for m in _WEB_OR_MENU.finditer(text) if new(m.group())])
    if not found:  # where a thing is kept: "in the glovebox", "on the hook inside the shed door"
        found = [m for m in _SPOT.finditer(text) if new(m.group()) and m.group().split()[-1].lower() not in _NOT_SPOTS]
    return nearest(found, text, question).group().strip() if found else ""


_NOUNISH = (r"(?!(?:the|a|an|of|in|on|inside|under|behind|and|or|to|with|for|at|by|from|called|which|that|who|"
            r"is|are|was|were|be|if|when|so|but)\b)[\w-]+")
_SPOT = re.compile(r"\b(?:in|on|inside|under|underneath|behind|beside|next to|above|below|on top of|at the back of)\s"
                   r"(?:the|a|an|your|our|its|their|my|his|her)\s(?:" + _NOUNISH + r"\s){0,2}" + _NOUNISH + r"\b")
# what follows "in the" without being a place: times, manners, amounts
_NOT_SPOTS = {"morning", "afternoon", "evening", "night", "day", "days", "week", "weeks", "month", "months", "year",
              "years", "summer", "winter", "spring", "autumn", "past", "future", "meantime", "end", "beginning",
              "middle", "case", "event", "way", "same", "first", "long", "run", "interest", "order",
              "hope", "process", "course", "form", "total", "time", "moment", "rest", "other"}


def nearest(found: list[re.Match[str]], text: str, question: str) -> re.Match[str]:
    """The candidate closest to where the question's terms occur in the sentence."""
    wanted = set(terms(question))
    anchors = [m.start() for m in re.finditer(r"\S+", text) if wanted & set(terms(m.group()))]
    if not anchors:
        return found[0]
    return min(found, key=lambda m: (min(abs(m.start() - a) for a in anchors), -len(m.group())))


def is_name(m: re.Match[str], text: str, kind: str) -> bool:
    """A capitalised run that can be the name asked for: not a sentence's first ordinary word, not a
    weekday or a pronoun, not a bare acronym; for "what is the name" questions, at least two words."""
    parts = m.group().split()
    if NOT_NAMES.match(parts[0]) and len(parts) == 1:
        return False
    if text[m.start() - 1 : m.start()] == "`":
        return False  # code ("`Table`"), not a name
    if len(parts) == 1 and parts[0].isupper() and re.search(r"\d\s?$", text[: m.start()]):
        return False  # a unit after its number ("300 MB", "12 V"), not a name
    if len(parts) == 1 and (parts[0].isupper() or "." in parts[0]) and kind not in ("who", "entity"):
        return False  # "EU", "U.S." answer "who" (an actor) but are no person's or place's name
    if kind == "name" and (len(parts) < 2 or any(p.isupper() or "." in p or p[0].isdigit() for p in parts)
                           or NOT_NAMES.match(parts[0])):
        return False  # "what is the name of ..." wants a proper name: two or more words, no acronyms
    if len(parts) == 1 and re.search(r"(?:an|ese|ish|ch)$", parts[0]) and re.match(r"\s+[a-z]", text[m.end() :]):
        return False  # a nationality used as an adjective ("European diplomats"), not a name
    at_start = text[: m.start()].strip(" “\"‘(*-•0123456789.") == ""
    return not (at_start and len(parts) == 1)

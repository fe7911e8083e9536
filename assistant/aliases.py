"""Who a description in a question stands for, learned from how the documents introduce people.

News text names a person once with a title ("Ukrainian President Volodymyr Zelenskyy", "Russian
dictator Vladimir Putin") and questions often use a description instead ("the Ukrainian leader",
"the Russian leader's stance"). A description resolves to a surname only when exactly one person in
the documents was introduced with a matching nationality and role; otherwise it stays as asked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .lexical import related, words

# Roles a person is introduced with; "leader" in a question matches any of the leading ones.
_LEADING = ("president", "chancellor", "prime minister", "premier", "dictator", "leader", "king", "queen",
            "ruler", "strongman", "monarch", "head of state", "head of government")
_ROLES = _LEADING + ("foreign minister", "defense minister", "defence minister", "finance minister", "minister",
                     "secretary of state", "secretary", "senator", "governor", "mayor", "envoy", "ambassador",
                     "spokesperson", "spokesman", "spokeswoman", "commissioner", "general")
_ROLE = r"(?i:" + "|".join(r"\s+".join(r.split()) for r in sorted(_ROLES, key=len, reverse=True)) + r")"
_CAP = r"[A-Z][\w’'\-]*[a-z]"
# "Ukrainian President Volodymyr Zelenskyy", "Russian dictator Vladimir Putin", "European Commission
# President Ursula von der Leyen": qualifier words, a role, then a name of two or more words.
_INTRODUCED = re.compile(
    rf"\b((?:{_CAP}\s+){{1,3}}?)({_ROLE})\s+({_CAP}(?:\s+(?:(?:von|der|de|van|la|al|bin)\s+)*{_CAP})+)\b"
)
# "the Ukrainian leader", "the Russian leader's", "the German chancellor", "the Ukraine president"
_DESCRIBED = re.compile(rf"\b(?i:the)\s+((?:{_CAP}\s+){{1,2}}?)({_ROLE})\b")


def introductions(texts: Iterable[str]) -> dict[str, set[tuple[str, str]]]:
    """surname -> {(qualifier words, role)} for every person the texts introduce with a title."""
    table: dict[str, set[tuple[str, str]]] = {}
    for text in texts:
        for m in _INTRODUCED.finditer(text):
            qualifier, role, name = m.group(1), m.group(2), m.group(3)
            surname = name.split(maxsplit=1)[1]  # "Zelenskyy", "von der Leyen"
            table.setdefault(surname, set()).add((" ".join(words(qualifier)), " ".join(role.lower().split())))
    return table


def _matches(qualifier: str, role: str, known: tuple[str, str]) -> bool:
    known_qualifier, known_role = known
    if role != known_role and not (role == "leader" and known_role in _LEADING):
        return False
    asked = qualifier.split()
    return bool(asked) and all(any(related(w, k) for k in known_qualifier.split()) for w in asked)


def resolve_descriptions(question: str, table: dict[str, set[tuple[str, str]]]) -> str:
    """The question with each description that fits exactly one introduced person followed by the
    surname: "How did the Ukrainian leader rate it?" -> "How did the Ukrainian leader Zelenskyy rate it?"."""
    if not table:
        return question
    out, pos = [], 0
    for m in _DESCRIBED.finditer(question):
        qualifier = " ".join(words(m.group(1)))
        role = " ".join(m.group(2).lower().split())
        people = [name for name, intros in table.items() if any(_matches(qualifier, role, i) for i in intros)]
        if len(people) != 1 or people[0].lower() in question.lower():
            continue
        end = m.start(2) + len(m.group(2))
        out.append(question[pos:end] + " " + people[0])
        pos = end
    return "".join(out) + question[pos:]


def descriptions_of(name: str, table: dict[str, set[tuple[str, str]]]) -> tuple[str, ...]:
    """Regular expressions, over lower-cased words, for the descriptions that stand for the person
    `name` mentions: "Zelenskyy" -> r"ukrai\\w*\\s(?:president|leader)" ("the Ukraine president said")."""
    low = name.lower()
    out = []
    for surname, intros in table.items():
        if surname.lower() not in low:
            continue
        for qualifier, role in sorted(intros):
            stems = r"\s".join(re.escape(w[:5]) + r"\w*" for w in qualifier.split())
            out.append(rf"{stems}\s(?:{re.escape(role)}|leader)")
    return tuple(out)

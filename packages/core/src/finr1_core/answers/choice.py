"""Option letters: single and multiple answers, given as letters or as the option's text."""

from __future__ import annotations

import re

from finr1_core.answers._text import normalize_span

DEFAULT_LETTERS = frozenset("ABCDEF")

_OPEN = "([（【"
_CLOSE = ")]）】"
# Words that may stand between an answer phrase and the letter ("the answer is clearly option (B)").
_FILLER_RE = re.compile(
    r"(?:\s|[:：=]|\$|\*|\"|'|“|”|"
    r"\b(?:the|is|are|would|be|should|clearly|therefore|thus|so|hence|definitely|most\s+likely|likely|probably"
    r"|correct|right|best|final|answer|answers|options?|choices?|letter)\b|"
    r"选项|选择|答案|应选|应为|应是|应|是|为|选|项|：)*",
    re.IGNORECASE,
)
_SEP_RE = re.compile(r"\s*(?:,|，|、|;|；|/|&|\+|\band\b|\bor\b|和|与|及|以及|或者?|\s)\s*", re.IGNORECASE)
_TERMINATORS = frozenset(" \t\n.,，。、:：;；)]）】!！?？*\"'”’$-—")

# Choice assertions anywhere in a region, e.g. "故选B", "选项C正确", "D is correct", "答案选A".
_CHOSEN_RE = re.compile(
    r"选(?!项)(?:择)?\s*[:：]?\s*\**\s*[(（]?([A-F](?:\s*[、,，和与及]?\s*[A-F])*)(?![A-Za-z])|"
    r"(?<![A-Za-z])[(（]?([A-F](?:\s*[、,，和与及]\s*[A-F])*)[)）]?\s*(?:项|选项)?\s*(?:的)?(?:说法|表述|描述|观点)?\s*"
    r"(?:均|都)?\s*(?:是|为)?\s*(?:正确|符合题意|当选|最合适|最佳)|"
    r"(?:[Oo]ption|[Cc]hoice)\s*[(（]?([A-F])[)）]?\s*(?:is|would\s+be)\s+(?:the\s+)?(?:correct|right|best|true)\b|"
    r"(?<![A-Za-z])[(（]?([A-F])[)）]?\s+is\s+(?:the\s+)?(?:correct|right|best)\s+(?:answer|option|choice)|"
    r"(?:对应|即|就是|应为|为|是|属于)\s*(?:选项|答案)\s*[(（]?([A-F])[)）]?(?![A-Za-z])(?!\s*(?:项)?\s*(?:错误|不正确|不对))|"
    r"(?:corresponds?\s+to|matches|which\s+is|that\s+is|i\.e\.,?)\s+(?:[Oo]ption|[Cc]hoice|[Aa]nswer)\s*"
    r"[(（]?([A-F])[)）]?(?![A-Za-z])|"
    r"\b(?:choose|select|pick|go\s+with)\s+(?:[Oo]ption\s+|[Cc]hoice\s+|[Aa]nswer\s+)?[(（]?([A-F])[)）]?(?![A-Za-z])"
)
# "B. 资产负债表 ✓" / "C 现金流量表（正确）": per-option verdict lines where one option is marked right.
_MARKED_LINE_RE = re.compile(
    r"^[\s*#>\-_`]*[(（]?([A-F])[)）]?(?:项|选项)?[.、:：\s][^\n]{0,80}?(?:[✓√✔✅]|[(（]正确[)）]|(?<![不])正确[。.]?)"
    r"[\s*_`]*$",
)
_TAIL_CHARS = 1500
_REJECTED_RE = re.compile(
    r"错误|不正确|不对|不符合|排除|干扰|[×✗✘❌]|\b(?:wrong|incorrect|false|eliminate)", re.IGNORECASE
)
# In one sentence that names an option's text, these say the option is *not* the answer ("X不属于扩张性政策").
_SENTENCE_REJECTED_RE = re.compile(
    r"错误|不正确|不对|不符合|排除|不属于|不是|并非|而非|不能|无关|[×✗✘❌]|"
    r"\b(?:wrong|incorrect|false|eliminate|not|isn't|aren't|doesn't|don't|rather\s+than|instead\s+of)\b",
    re.IGNORECASE,
)
_SENTENCE_SPLIT_RE = re.compile(r"(?<=[。！!？?；;])|(?<=\.)\s+")
_TAG_RE = re.compile(r"[(（]\s*(?:option\s+|选项)?([A-F])\s*[)）]", re.IGNORECASE)
_MARKS = frozenset("×✗✘❌✓√✔✅")
_LETTER_LINE_RE = re.compile(
    r"^[\s*#>\-_`]*[(（【]?([A-F](?:\s*[、,，和与及]?\s*[A-F])*)[)）】]?[\s*_`]*(?:[.、:：)）]\s*(.*))?$"
)
_RUN_RE = re.compile(r"[(（]?([A-Z]{2,6})[)）]?(?![A-Za-z])")
_REF_SEP_RE = re.compile(r"[\s,，、;；/&+]|and|和", re.IGNORECASE)
_TEXT_NORM_RE = re.compile(r"[\s\W_]+", re.UNICODE)


def _norm_text(text: str) -> str:
    return _TEXT_NORM_RE.sub("", normalize_span(text)).lower()


def valid_letters(choices: dict[str, str] | None, reference_letters: str = "") -> frozenset[str]:
    """Letters that can be options: the ``choices`` keys, else A–F plus any letter in the reference."""
    if choices:
        return frozenset(k.strip().upper() for k in choices if len(k.strip()) == 1)
    return DEFAULT_LETTERS | frozenset(reference_letters)


def _letter_at(s: str, i: int, valid: frozenset[str], allow_lower: bool) -> tuple[str, int] | None:
    """A standalone option letter at ``s[i:]`` (optionally in brackets); returns (letter, end)."""
    j = i
    n = len(s)
    if j < n and s[j] in _OPEN:
        j += 1
        while j < n and s[j] == " ":
            j += 1
    if j >= n:
        return None
    c = s[j]
    up = c.upper()
    if up not in valid or not (c.isupper() or allow_lower) or not c.isascii():
        return None
    k = j + 1
    while k < n and s[k] == " ":
        k += 1
    if k < n and s[k] in _CLOSE:
        return up, k + 1
    if j + 1 < n and s[j + 1].isascii() and s[j + 1].isalpha():
        return None
    return up, j + 1


def letters_at_start(span: str, valid: frozenset[str]) -> str | None:
    """Option letters at the start of a span ("B", "(B)", "B. 资产负债表", "A, B and D", "ABD").

    Returns the sorted letters as a string ("ABD"), or ``None``.
    """
    s = normalize_span(span).replace("$", " ").strip()
    if not s:
        return None
    whole = s.strip(" .。*()（）[]【】\"'")
    allow_lower = len(whole) == 1
    # a bare run such as "ABD" or "BD" (multiple answers written together)
    m = _RUN_RE.match(whole)
    if m and set(m.group(1)) <= valid and len(set(m.group(1))) == len(m.group(1)):
        return "".join(sorted(m.group(1)))
    filler = _FILLER_RE.match(s)  # matches the empty string at worst
    pos = filler.end() if filler else 0
    first = _letter_at(s, pos, valid, allow_lower)
    if first is None or _REJECTS_LETTER_RE.match(s, first[1]):
        return None  # "C 错误（…）", "C is wrong": the letter is named to reject it
    letters = {first[0]}
    end = first[1]
    while True:
        sep = _SEP_RE.match(s, end)
        if sep is None or sep.end() == end:
            break
        nxt = _letter_at(s, sep.end(), valid, False)
        if nxt is None:
            break
        clause = _CLAUSE_END_RE.search(s, nxt[1])
        if _REJECTED_RE.search(s, nxt[1], clause.start() if clause else len(s)):
            break  # "正确答案是B，C选项是干扰项": the next letter starts a clause that rejects it
        letters.add(nxt[0])
        end = nxt[1]
    if end < len(s) and s[end] not in _TERMINATORS and not ("\u4e00" <= s[end] <= "\u9fff"):
        return None
    return "".join(sorted(letters))


def letters_from_text(span: str, choices: dict[str, str]) -> str | None:
    """Map an answer written as an option's text (or its number) to that option's letter, when unambiguous."""
    target = _norm_text(span)
    if not target:
        return None
    normed = {k.strip().upper(): _norm_text(v) for k, v in choices.items() if v is not None}
    exact = [k for k, v in normed.items() if v and v == target]
    if len(exact) == 1:
        return exact[0]
    # numeric options ("3000", "23173"): compare values, not substrings
    from finr1_core.answers.numeric import parse_numeric_span, parse_reference

    option_values = {k: parse_reference(v) for k, v in choices.items() if v is not None}
    if option_values and all(q is not None for q in option_values.values()):
        got = parse_numeric_span(span).quantities
        if got:
            hits = [
                k.strip().upper()
                for k, q in option_values.items()
                if q is not None and abs(q.value - got[0].value) <= 1e-9 * max(1.0, abs(q.value))
            ]
            return hits[0] if len(hits) == 1 else None
        return None
    contained = [k for k, v in normed.items() if len(v) >= 2 and v in target]
    if len(contained) > 1:
        # keep the longest when one option text contains another ("资产负债表" vs "负债表")
        longest = max(contained, key=lambda k: len(normed[k]))
        if all(normed[k] in normed[longest] for k in contained):
            contained = [longest]
    return contained[0] if len(contained) == 1 else None


def letters_in_region(region: str, valid: frozenset[str], choices: dict[str, str] | None) -> tuple[str, str] | None:
    """Fallback when no box or answer phrase names a letter: the last stated choice in the region.

    Returns ``(letters, rule)`` or ``None``. Options that are merely discussed ("A is wrong") never count; only
    assertions ("故选B", "选项C正确", "D is correct"), a line that is only a letter, or a final line that is
    exactly one option's text.
    """
    # the concluding statement sits at the end; scanning only the tail keeps long unboxed responses fast
    region = region[-_TAIL_CHARS:]
    best: tuple[int, str] | None = None
    for m in _CHOSEN_RE.finditer(region):
        raw = next(g for g in m.groups() if g)
        letters = "".join(sorted({c.upper() for c in raw if c.upper() in valid}))
        if letters and (best is None or m.start() >= best[0]):
            best = (m.start(), letters)
    if best is not None:
        return best[1], "choice_statement"
    lines = [ln for ln in region.splitlines() if ln.strip()]
    marked = {m.group(1) for ln in lines[-12:] if (m := _MARKED_LINE_RE.match(ln)) and m.group(1) in valid}
    if marked:
        return "".join(sorted(marked)), "marked_option"
    for line in reversed(lines[-3:]):
        m = _LETTER_LINE_RE.match(normalize_span(line))
        if m is None:
            continue
        letters = "".join(sorted({c for c in m.group(1) if c in valid}))
        rest = (m.group(2) or "").strip()
        if not letters or any(c in _MARKS for c in rest):
            continue
        if not rest or (
            choices and len(letters) == 1 and _norm_text(rest) == _norm_text(choices.get(letters, "")) != ""
        ):
            return letters, "letter_line"
    if choices:
        for line in reversed(lines[-2:]):
            if _REJECTED_RE.search(line):
                continue  # "D项：所有者权益变动表——错误" names an option to reject it
            got = tagged_options(line, choices, valid)
            if got:
                return got, "option_text"
        for line in reversed(lines[-2:]):
            # the last sentence that affirms one option's text: "X不属于扩张性政策。Y属于扩张性货币政策。" → Y
            for sentence in reversed([t for t in _SENTENCE_SPLIT_RE.split(line) if t.strip()]):
                if _REJECTED_RE.search(sentence):
                    continue  # "D项：所有者权益变动表——错误" names an option to reject it
                got = letters_from_text(sentence, choices)
                if got and len(got) == 1 and _affirms(sentence, choices.get(got, "") or ""):
                    return got, "option_text"
                if got is None:
                    # "应该是资产负债表吧，不是利润表": one option affirmed, the other named only to reject it
                    affirmed = set()
                    for clause in _CLAUSE_SPLIT_RE.split(sentence):
                        one = letters_from_text(clause, choices) if clause.strip() else None
                        if one and len(one) == 1 and _affirms(clause, choices.get(one, "") or ""):
                            affirmed.add(one)
                    if len(affirmed) == 1:
                        return affirmed.pop(), "option_text"
    return None


_NEG_BEFORE_RE = re.compile(r"(?:不是|并非|而非|不属于|排除|\bnot(?:\s+the)?|\bnor|\bexcept)\s*$", re.IGNORECASE)


def _affirms(sentence: str, option: str) -> bool:
    """Whether a sentence that names an option's text affirms it.

    The clause holding the option must not reject it after naming it ("X不属于扩张性政策", "X is wrong"), and no
    negation may stand right before it ("不是X", "not the X"); a negation further back frames the question
    instead ("不属于经济法调整对象的是民事关系" answers a "which is not" item).
    """
    i = sentence.lower().find(option.strip().lower()) if option.strip() else -1
    if i < 0:
        return _SENTENCE_REJECTED_RE.search(sentence) is None
    rest = sentence[i + len(option.strip()) :]
    m = _CLAUSE_END_RE.search(rest)
    clause_after = rest[: m.start()] if m else rest
    return not (_SENTENCE_REJECTED_RE.search(clause_after) or _NEG_BEFORE_RE.search(sentence, max(0, i - 12), i))


_CLAUSE_END_RE = re.compile(r"[,，;；。.!！?？:：()（）]")
_CLAUSE_SPLIT_RE = re.compile(r"[,，;；]")
_REJECTS_LETTER_RE = re.compile(
    r"[ \t]*(?:项|选项)?[ \t]*(?:是|为)?[ \t]*(?:错误|不正确|不对|错的|[×✗✘❌]|"
    r"(?:is|was)[ \t]+(?:wrong|incorrect|false|not[ \t]+correct)\b|wrong\b|incorrect\b)",
    re.IGNORECASE,
)


def rejects_option(text: str) -> bool:
    """Whether an answer's first clause rejects what it names ("不是资产负债表", "Not the income statement")."""
    m = _CLAUSE_END_RE.search(text)
    return _SENTENCE_REJECTED_RE.search(text[: m.start()] if m else text) is not None


def tagged_options(line: str, choices: dict[str, str], valid: frozenset[str]) -> str | None:
    """Letters written right after their own option text: "货币资金（A）、应收账款（B）和存货（D）属于流动资产"."""
    letters = set()
    for m in _TAG_RE.finditer(line):
        letter = m.group(1).upper()
        text = _norm_text(choices.get(letter, "") or "")
        if (
            letter in valid
            and text
            and _norm_text(line[max(0, m.start() - 4 * len(text) - 8) : m.start()]).endswith(text)
        ):
            letters.add(letter)
    return "".join(sorted(letters)) or None


def parse_reference_letters(reference: str | float | int, choices: dict[str, str] | None) -> str | None:
    """Gold letters as a sorted string ("B", "ABD"); an option text is mapped through ``choices``."""
    text = str(reference).strip()
    if not text:
        return None
    compact = _REF_SEP_RE.sub("", text.strip("[]()").replace('"', "").replace("'", "")).upper()  # '["A", "C"]'

    if compact and compact.isascii() and compact.isalpha() and len(set(compact)) == len(compact) <= 10:
        return "".join(sorted(compact))
    if choices:
        return letters_from_text(text, choices)
    return None

"""Yes/no answers in English and Chinese (yes/no, true/false, 正确/错误, 对/错, 是/否, 合规/不合规)."""

from __future__ import annotations

import re

from finr1_core.answers._text import normalize_span

# Longest forms first so that "不正确" wins over "正确" and "incorrect" over "correct".
_TOKEN_RE = re.compile(
    r"(?P<no>不正确|不对|不是|不合规|不符合|不属实|不成立|不可以|不能|不应该?|不会|不属于|错误|"
    r"(?<![A-Za-z-])(?:incorrect|not\s+correct|not\s+true|isn't\s+true|isn't\s+correct|false|wrong|no|n)"
    r"(?![A-Za-z]|-[A-Za-z])|"
    r"[×✗✘❌]|(?<![是能可与成适])否(?![则认决定])|(?<![不])错(?![误])|"
    r"(?<![一二三四五六七八九十\w])非(?=[\s。！!，,.;；]|$))|"
    r"(?P<yes>正确|是的|对的|(?<!是否)合规|(?<!是否)符合|(?<!是否)属实|(?<!是否)成立|(?<!是否)属于|可以|"
    r"(?<![A-Za-z-])(?:yes|true|correct|y)(?![A-Za-z]|-[A-Za-z])|[√✓✔✅]|"  # not "True-Up", "non-correct"
    r"(?<![\w])是(?=[\s的。！!，,.;；)）]|$)|(?<![\w])对(?=[\s的。！!，,.;；)）]|$)|(?<![\w])会(?=[\s。！!，,.;；]|$)|"
    r"(?<![\w])能(?=[\s。！!，,.;；]|$))",
    re.IGNORECASE,
)
# A line that opens with its verdict: "Yes, it increased." / "No." / "**否**"
_NEGATED_RE = re.compile(
    r"\b(?:did|does|do|was|were|is|are|has|have|had|will|would)\s+not\b|\b(?:didn't|doesn't|don't|wasn't|weren't|"
    r"isn't|aren't|hasn't|haven't|hadn't|won't)\b|没有|并未|未能|并不|不是",
    re.IGNORECASE,
)
_UNSURE_RE = re.compile(
    r"cannot|can't|can not|unable|not\s+(?:sure|possible|enough|clear|determin|provided|available|know)|don't\s+know|insufficient|"
    r"unclear|无法|不能确定|不确定|信息不足",
    re.IGNORECASE,
)
_LEADING_RE = re.compile(
    r"^[\s*#>_`\"'“]*(?:answer[:：]?\s*)?(yes|no|true|false|是|否|正确|错误|对|错)(?![A-Za-z])", re.I
)


_STRONG = frozenset(
    [
        "正确",
        "错误",
        "不正确",
        "不对",
        "不成立",
        "成立",
        "true",
        "false",
        "correct",
        "incorrect",
        "not correct",
        "not true",
        "合规",
        "不合规",
        "属实",
        "不属实",
    ]
)


def parse_boolean(text: str, *, strict: bool = False) -> bool | None:
    """The first yes/no verdict in ``text`` (``None`` when there is none).

    With ``strict``, only explicit verdict words (正确/错误, true/false, correct/incorrect, 合规/不合规) count,
    for prose where "no" or "是" are ordinary words. Single letters ``y``/``n`` count only when they are the whole text; ``是``, ``对``, ``能`` only when they
    stand alone (so "该说法是错误的" reads as 错误, and "是否" never reads as yes or no).
    """
    s = normalize_span(text).strip().strip("$").strip()
    if not s:
        return None
    for m in _TOKEN_RE.finditer(s):
        tok = m.group(0)
        if tok.lower() in ("y", "n") and len(s.strip(" .。!！")) != 1:
            continue
        if strict and tok.lower() not in _STRONG:
            continue
        return m.lastgroup == "yes"
    return None


def leading_verdict(region: str) -> bool | None:
    """The verdict of the first line that opens with one ("Yes, …", "No.", "**否**"), or None."""
    for line in region.splitlines():
        if line.strip():
            m = _LEADING_RE.match(normalize_span(line))
            if m:
                return parse_boolean(m.group(1))
    return None


def stated_verdict(region: str) -> bool | None:
    """The last line with an explicit 正确/错误/true/false word, else a plain negated last line ("did not …") as no."""
    lines = [ln for ln in region.splitlines() if ln.strip()]
    for line in reversed(lines):
        got = parse_boolean(line, strict=True)
        if got is not None:
            return got
    # "Altria did not outperform the S&P 500.": a plain negated statement answers no (never read as yes)
    last = lines[-1] if lines else ""
    if _NEGATED_RE.search(last) and not _UNSURE_RE.search(last):
        return False
    return None


def boolean_in_region(region: str) -> bool | None:
    """Fallback verdict of a region with no box and no answer phrase.

    A line that opens with its verdict ("Yes, …", "否。") wins, the first such line; otherwise the last line
    with an explicit 正确/错误/true/false style word; otherwise a plain negated last line reads as no.
    """
    got = leading_verdict(region)
    return got if got is not None else stated_verdict(region)


# "Yes and no: revenue rose, but organic revenue fell": both verdicts at once is no answer.
_HEDGE_RE = re.compile(
    r"\b(?:both\s+)?yes\s+and\s+no\b|\bpartly\s+(?:yes|true)\b|既是又不是|是也不是|既对又不对|对也不对", re.IGNORECASE
)

# Yes/no questions about a direction ("did revenue increase …?") answered by stating the direction
# ("Revenue grew from $4.8bn to $5.2bn"): a careful grader reads that as the verdict.
_YN_QUESTION_RE = re.compile(
    r"^\W*(?:did|does|do|was|were|is|are|has|have|had|will|would|can|could)\b|是否|有没有|[吗么][?？]?\s*$",
    re.IGNORECASE,
)
_UP_RE = re.compile(
    r"increas|\brise\b|\brose\b|\brisen\b|\bgr[eo]w|\bgrown\b|\bhigher\b|improv|exceed|outperform|surpass|"
    r"\bwent\s+up\b|\bgo\s+up\b|上升|增长|增加|提高|上涨|改善|超过",
    re.IGNORECASE,
)
_DOWN_RE = re.compile(
    r"decreas|declin|\bfell\b|\bfall|\bfallen\b|\bdropp?|\blower\b|\bworse|deteriorat|shr[ai]nk|underperform|"
    r"\bwent\s+down\b|\bgo\s+down\b|下降|减少|降低|下跌|恶化|负增长",
    re.IGNORECASE,
)


def hedged(text: str) -> bool:
    """Whether an answer gives both verdicts ("Yes and no", "是也不是")."""
    return _HEDGE_RE.search(text) is not None


def direction_verdict(region: str, question: str | None) -> bool | None:
    """Yes/no read from a stated direction when the question asks about exactly one direction.

    "Did total revenue increase?" + "Revenue grew from … to …" → yes; + "Revenue fell …" → no. Only when the
    question names one direction, the answer's last two lines name exactly one and nothing is negated.
    """
    if not question or (_YN_QUESTION_RE.search(question) is None and _POLAR_RE.match(question) is None):
        return None
    q_up, q_down = _UP_RE.search(question) is not None, _DOWN_RE.search(question) is not None
    if q_up == q_down:
        return None
    tail = "\n".join([ln for ln in region.splitlines() if ln.strip()][-2:])
    if _NEGATED_RE.search(tail) or _UNSURE_RE.search(tail) or _NEGATION_RE.search(tail) or re.search(r"不|没", tail):
        return None  # "There is no indication that growth is expected to accelerate": not a stated direction
    # the direction must be that of what the question asks about: "Did Pfizer grow its PPNE?" is not answered by
    # "the effective tax rate increased" (the question's English words other than its subject's name)
    topic = _topic_terms(question)
    if topic and not topic & {_stem(w) for w in _WORD_RE.findall(tail.replace("-", " "))}:
        return None
    a_up, a_down = _UP_RE.search(tail) is not None, _DOWN_RE.search(tail) is not None
    if a_up == a_down:
        return None
    return a_up == q_up


def parse_reference_boolean(reference: str | float | int | bool) -> bool | None:
    """Gold yes/no: ``bool``, 1/0, or any text :func:`parse_boolean` reads."""
    if isinstance(reference, bool):
        return reference
    if isinstance(reference, int | float):
        return {1: True, 0: False}.get(reference)  # type: ignore[call-overload]
    return parse_boolean(str(reference))


# --- a yes/no question answered by restating its proposition ("Is Boeing's business subject to cyclicality?" →
# "In summary, Boeing's business is indeed subject to the cyclical nature of …") -------------------------------

# A polar question: an auxiliary first, or after a leading clause ("Looking at VaR, did the risk … decrease?")
_POLAR_RE = re.compile(
    r"^\W*(?:[^,?]{0,80},\s*)?(?:is|are|was|were|does|do|did|has|have|had|can|could|will|would|should|may)\b",
    re.IGNORECASE,
)
_WORD_RE = re.compile(r"[A-Za-z][A-Za-z']*")
_STOPWORDS = frozenset(
    "a an the of in on at for to from by with as and or but if than then that this these those there here its it "
    "is are was were be been being has have had does do did can could will would should may might must any some "
    "all each per into about between during based data report reported fiscal year years quarter company's its "
    "their they them he she his her which who whom what when where why how not no yes".split()
)
_PARENS_RE = re.compile(r"\([^()]*\)")
_SENTENCE_RE = re.compile(r"(?<=[.!?;])\s+|\n+")
# Negation cues and how far (in words) each reaches; "rather than"/"instead of" cover the rest of their clause
_NEGATION_RE = re.compile(
    r"\b(?:not(?!\s+only\b|\s+just\b)|never|neither|nor|without|none|cannot|no(?!\s+(?:other|doubt)\b)|lacks?|lacking|"
    r"fail(?:s|ed)?\s+to|unable\s+to)\b|n't\b|\b(?:rather\s+than|instead\s+of|as\s+opposed\s+to)\b",
    re.IGNORECASE,
)
_NEGATION_REACH = 4  # content words a "not"/"no" reaches ("is not a capital-intensive business")
_EXCEPTION_RE = re.compile(r"\s*(?:\w+\s+){0,2}other\b", re.IGNORECASE)  # "does not report any other …": an exception
_CLAUSE_END_RE = re.compile(r"[,;:]|\b(?:but|while|whereas|although)\b", re.IGNORECASE)
_UNDECIDED_RE = re.compile(
    r"it\s+depends|partially|partly|mixed|cannot\s+be\s+determined|not\s+possible\s+to\s+(?:determine|say)|unclear|"
    r"insufficient|difficult\s+to\s+(?:say|determine)|not\s+enough\s+information",
    re.IGNORECASE,
)


def _stem(word: str) -> str:
    """A crude stem, enough to match "cyclicality"/"cyclical", "distributions"/"distribution", "retain"/"retaining"."""
    w = word.lower().strip("'")
    if w.endswith("'s"):
        w = w[:-2]
    if len(w) > 5 and w.endswith("ies"):
        w = w[:-3] + "y"
    elif len(w) > 4 and w.endswith("es") and w[-3] in "sxz":
        w = w[:-2]
    elif len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        w = w[:-1]
    for suffix in ("ities", "ity", "ally", "ing", "ed", "ly"):
        if len(w) > len(suffix) + 3 and w.endswith(suffix):
            w = w[: -len(suffix)]
            break
    return w[:6]


def _proposition_terms(question: str) -> frozenset[str]:
    """Stems of the content words of the question's first sentence, without names (capitalised words) and numbers."""
    first = _PARENS_RE.sub(" ", question.split("?", 1)[0])
    lead = _POLAR_RE.match(first)
    body = first[lead.end() :] if lead else first
    terms = set()
    for word in _WORD_RE.findall(body.replace("-", " ")):
        if word[0].isupper() or word.lower() in _STOPWORDS or len(word) < 3:
            continue
        terms.add(_stem(word))
    return frozenset(terms)


def _topic_terms(question: str) -> frozenset[str]:
    """Stems of what a direction question is about: its words but the subject's name, years and direction words.

    "Did Pfizer grow its PPNE between FY20 and FY21?" → {ppne}; "Did total revenue increase?" → {total, revenu}.
    """
    first = question.split("?", 1)[0]
    lead = _POLAR_RE.match(first)
    words = _WORD_RE.findall((first[lead.end() :] if lead else first).replace("-", " "))
    while words and words[0][0].isupper():  # the grammatical subject's name ("Pfizer", "Best Buy's")
        words = words[1:]
    return frozenset(
        _stem(w)
        for w in words
        if w.lower() not in _STOPWORDS
        and len(w) >= 3
        and not re.fullmatch(r"(?:FY|Q[1-4]|H[12])\d*", w, re.IGNORECASE)
        and not (_UP_RE.search(w) or _DOWN_RE.search(w))
    )


def _negated(sentence: str, terms: frozenset[str]) -> bool:
    """Whether the sentence denies the proposition: a negation reaches one of its terms, or an antonym replaces one.

    A negation reaches the next :data:`_NEGATION_REACH` content words ("there do not appear to be any board
    member nominees …"); "rather than"/"instead of" the rest of their clause. An antonym of a term ("negative
    working capital" for "positive working capital", "decreased its debt" for "increased its debt") denies it.
    """
    for m in _NEGATION_RE.finditer(sentence):
        if _EXCEPTION_RE.match(sentence, m.end()):
            continue
        rest = sentence[m.end() :]
        wide = m.group(0).lower().startswith(("rather", "instead", "as opposed"))
        if wide:
            end = _CLAUSE_END_RE.search(rest)
            rest = rest[: end.start()] if end else rest
        words = [w for w in _WORD_RE.findall(rest.replace("-", " ")) if w.lower() not in _STOPWORDS]
        scope = words if wide else words[:_NEGATION_REACH]
        if any(_stem(w) in terms for w in scope):
            return True
    stems = {_stem(w) for w in _WORD_RE.findall(sentence.replace("-", " "))}
    return any(term in _ANTONYMS and not stems & {term} and stems & _ANTONYMS[term] for term in terms)


# Stems of words whose opposite, stated instead, denies a proposition ("positive" → "negative working capital")
_ANTONYM_PAIRS = (
    ("positi", "negati"),
    ("increa", "decrea"),
    ("higher", "lower"),
    ("high", "low"),
    ("improv", "worsen"),
    ("improv", "deteri"),
    ("profit", "loss"),
    ("surplu", "defici"),
    ("strong", "weak"),
    ("above", "below"),
    ("gain", "loss"),
    ("grow", "declin"),
    ("grew", "declin"),
    ("rose", "fell"),
    ("accele", "decele"),
)
_ANTONYMS: dict[str, frozenset[str]] = {}
for _a, _b in _ANTONYM_PAIRS:
    _ANTONYMS[_a] = _ANTONYMS.get(_a, frozenset()) | {_b}
    _ANTONYMS[_b] = _ANTONYMS.get(_b, frozenset()) | {_a}


def proposition_verdict(region: str, question: str | None) -> bool | None:
    """Yes/no read from the answer's last sentence that restates the question's proposition.

    For a polar question ("Is CVS Health a capital-intensive business …?", "Did the risk … decrease …?"), a
    sentence restates the proposition when it holds at least half of the question's content words (names and
    numbers aside; crude stems, so "cyclical" restates "cyclicality"). The last such sentence decides, as the
    last final statement does elsewhere ("Based on the evidence, X has indeed paid dividends …" when nothing
    later restates it): negated where a negation reaches one of those words ("is not a high-growth company", "rather than … high-growth", "no indication that growth is
    expected to accelerate"; not "not only …", nor "no other …"), else affirmed. ``None`` for other questions,
    when no sentence restates the proposition (an answer about something else), or when that sentence hedges
    ("partially", "it depends").
    """
    if not question or _POLAR_RE.match(question) is None:
        return None
    terms = _proposition_terms(question)
    if not terms:
        return None
    need = max(1, (len(terms) + 1) // 2)
    echo = None
    for sentence in _SENTENCE_RE.split(normalize_span(region)):
        words = {_stem(w) for w in _WORD_RE.findall(sentence.replace("-", " "))}
        if len(words & terms) >= need:
            echo = sentence
    if echo is None or _UNDECIDED_RE.search(echo):
        return None
    return not _negated(echo, terms)

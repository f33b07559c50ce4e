"""Numbers in answers: parsing (units, scales, percent, accounting negatives, stated direction) and comparison.

A :class:`Quantity` keeps what was *written*: ``14.46%`` is ``value=14.46, percent=True, ulp=0.01``;
``$1.2 billion`` is ``value=1.2e9, scale=1e9, ulp=1e8``; "a decrease of 3" is ``value=3, direction=-1``.
Whether a percent is read as a ratio, and what a direction word does to the sign, is decided only when two
quantities are compared (:func:`compare_quantities`), with what the question asks (:func:`question_facts`).

Precision rule
--------------
One rule, symmetric in the two numbers, used the same way by judge round 1, the GRPO reward and evaluation:

* ``p`` and ``g`` match when ``|p - g| <= rel_tol * max(|p|, |g|)``, ``DEFAULT_REL_TOL`` = 1%. How many digits
  either side writes plays no part: a coarse gold is not more lenient than a coarse prediction ("25" ≢ 25.3 and
  gold "25" ≢ 25.3, both 1.2% apart; "2" ≡ 1.98, the Fin-R1 judge prompt's own example; "14%" ≢ 0.14464;
  2.6 ≢ a gold of 3.0, whether it is written "3" or "3.00000"). 1% absorbs the drift of intermediate rounding
  that graders accept (10.46 for 10.4567, 16.6% for 0.165, 1.645 for 1.65) and rejects a different number stated
  coarsely.
* The one documented exception: a question that states the answer's precision ("round your answer to two
  decimal places", "to one decimal place", "保留两位小数") also accepts a prediction that rounds to a gold written
  at that precision (0.0131 for a gold of 0.01 "to two decimal places"), however far apart they are in relative
  terms, because the question itself made the gold that coarse.
* A reading that guesses a unit nobody wrote (a full figure "94,000,000" for a gold of 94 from a table in
  millions; "9400万" for 94 millions) must hold to ``GUESSED_UNIT_REL_TOL`` = 0.2%.

Beside the evaluators it is compared with:

* FinQA's official evaluator (``czyssrs/FinQA`` ``code/evaluate/evaluate.py``) executes the predicted program
  and requires ``round(result, 5) == exe_ans``: no tolerance at all, but it grades programs, not prose; a text
  answer rounded to 2 decimals would always fail it. finr1 writes FinQA/ConvFinQA golds with those 5 decimals
  (``3.00000``, :func:`finr1_core.formats.gold_text`), so no gold is turned into a coarser string on the way.
* DocMath-Eval (``yale-nlp/DocMath-Eval`` ``utils/evaluation_utils.py``, ``compare_two_numbers``; FinanceMath
  uses the same) accepts ``|p - g| <= 0.15% * |g|``, equality after rounding both *up* to 3 decimals, and any
  power-of-ten scale error (``p * 100`` or ``p * 1000`` within 0.15%); it has no sign or precision notion.
* finr1 is in between: a wider relative tolerance than DocMath's 0.15% (which fails 16.6% for 0.165), no fixed
  3-decimal rounding (which accepts 0.0991 for 0.1, 0.9% but also 0.1001 for 0.1009), and no scale error unless
  a percent cue (below) or a scale word allows it.

Percent cue: ``14.46%`` ≡ 0.1446 always; a bare ``14.46`` ≡ 0.1446 only when the question asks for a
percentage/ratio/rate (or the gold is written with ``%``). With no cue, 7.323 is not 0.07323.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import lru_cache

from finr1_core.answers._text import normalize_span

#: Relative tolerance, of the larger of the two numbers (1%). See the module docstring for why.
DEFAULT_REL_TOL = 0.01
#: Tolerance of a reading that guesses an unwritten unit ("94,000,000" for 94 from a table in millions).
GUESSED_UNIT_REL_TOL = 2e-3

_SCALES: dict[str, float] = {
    "trillion": 1e12, "trillions": 1e12, "tn": 1e12, "t": 1e12, "万亿": 1e12,
    "千亿": 1e11, "百亿": 1e10, "十亿": 1e9,
    "billion": 1e9, "billions": 1e9, "bn": 1e9, "bil": 1e9, "b": 1e9,
    "亿": 1e8, "千万": 1e7,
    "million": 1e6, "millions": 1e6, "mn": 1e6, "mm": 1e6, "mil": 1e6, "mio": 1e6, "m": 1e6, "百万": 1e6,
    "十万": 1e5, "万": 1e4,
    "thousand": 1e3, "thousands": 1e3, "k": 1e3, "千": 1e3,
}  # fmt: skip
# Units a bare reference may silently be in (a table "in millions", a Chinese amount "in 万元").
_IMPLIED_UNITS = (1e3, 1e4, 1e6, 1e8, 1e9)

_CURRENCY_RE = re.compile(
    r"(?:US|HK|NT|AU|CA|A|C|S|R)\$|\$|USD|RMB|CNY|EUR|HKD|JPY|GBP|¥|￥|€|£|₹|人民币|美元|港元|港币|欧元|元"
)
# Names with digits that are never the answer ("S&P 500", "Q3", "10-K", "Tier 1").
_NOT_A_NUMBER_RE = re.compile(
    r"S\s*&\s*P\s*\d+|Russell\s*\d+|Nasdaq[- ]?\d+|FTSE\s*\d+|DAX\s*\d+|Nikkei\s*\d+|CSI\s*\d+|"
    r"(?:Form\s*)?10-[KQ]\b|\bItem\s*\d+[A-Z]?\b|\b(?:Note|Tier|Level|Class|Step|Part|Section)\s*\d+\b|"
    r"\bFY\s*'?\d+|\b[QH][1-4]\b|第\s*\d+|沪深\s*300|上证\s*\d+|中证\s*\d+",
    re.IGNORECASE,
)
_NUM_RE = re.compile(r"(?<![A-Za-z0-9_.])(\d{1,3}(?:,\d{3})+(?!\d)(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)")
_UNIT_RE = re.compile(
    r"""[ \t]*(?:
      (?P<pct>%|percent(?:age)?[ \t]*points?(?![A-Za-z])|percent(?![A-Za-z])|per[ \t]*cent(?![A-Za-z])
         |pct(?![A-Za-z])|ppts?(?![A-Za-z])|pp(?![A-Za-z])|个百分点|百分点)
    | (?P<bps>bps(?![A-Za-z])|bp(?![A-Za-z])|basis[ \t]+points?(?![A-Za-z])|个基点|基点)
    | (?P<scale>trillions?(?![A-Za-z])|tn(?![A-Za-z])|billions?(?![A-Za-z])|bn(?![A-Za-z])|bil(?![A-Za-z])
         |millions?(?![A-Za-z])|mn(?![A-Za-z])|mm(?![A-Za-z])|mil(?![A-Za-z])|mio(?![A-Za-z])
         |thousands?(?![A-Za-z])|万亿|千亿|百亿|十亿|亿|千万|百万|十万|万|千|[kKmMbBT](?![A-Za-z]))
    )""",
    re.VERBOSE | re.IGNORECASE,
)
_EXP_RE = re.compile(
    r"[eE]([-+]?\d{1,3})(?!\d|\.\d)|[ \t]*[×x*][ \t]*10[ \t]*\^[ \t]*\{?[ \t]*([-+]?\d{1,3})[ \t]*\}?"
)
_FRACTION_TAIL_RE = re.compile(r"[ \t]*/[ \t]*(\d{1,3}(?:,\d{3})+(?!\d)(?:\.\d+)?|\d+(?:\.\d+)?)")
_SUFFIX_OK_RE = re.compile(r"(?:x|X|times)(?![A-Za-z])")
_NEG_WORD_RE = re.compile(r"(?:negative|minus|负)[ \t]*$", re.IGNORECASE)
# Any fall word in a span: a positive number *may* then stand for a negative gold ("a net loss of 12.3").
_DECREASE_RE = re.compile(
    r"decreas|declin|drop|fell|fall|lower|\bless\b|reduc|shrank|shrink|loss|down\b|negative growth|"
    r"下降|减少|降低|下跌|下滑|亏损|缩减|回落|负增长|减",
    re.IGNORECASE,
)
# Direction words that *state* the sign of the number in their clause ("a decrease of 3" is -3, "fell by 5.2%",
# "下降了3%"). Narrower than _DECREASE_RE: "net loss", "impairment" (减值) and "minus" (减去) state no direction.
# Both run on lower-cased text (IGNORECASE is much slower).
_STATED_DECREASE_RE = re.compile(
    r"decreas|declin|\bdropp?(?:ed|s|ping)?\b|\bfell\b|\bfall(?:s|ing|en)?\b|\blower(?:ed)?\b(?!\s+than)|\breduc|"
    r"\bshr[aiu]nk|\bdown\b|negative\s+growth|\bcontract(?:ed|ion)\b|\bslid\b|\bslipped\b|\bplunged?\b|"
    r"\btumbled?\b|下降|减少|降低|下跌|下滑|负增长|回落|缩减|缩水|降幅|跌幅"
)
_STATED_INCREASE_RE = re.compile(
    r"increas|\brose\b|\brisen\b|\brises?\b|\bgrew\b|\bgrow(?:s|n|th)?\b|\bhigher\b(?!\s+than)|\bgain(?:ed|s)?\b|"
    r"\bup\s+(?:by\s+)?$|\bclimb(?:ed|s)?\b|\bjump(?:ed|s)?\b|上升|(?<!负)增长|增加|提高|上涨|增幅|涨幅"
)
# A direction written right after the number: "20 fewer", "3% lower", "5% decline", "5% higher"
_AFTER_DECREASE_RE = re.compile(r"[ \t]*(?:lower|less|fewer|down|decline|decrease|drop|的降幅|的下降)")
_AFTER_INCREASE_RE = re.compile(r"[ \t]*(?:higher|more|up|increase|rise|gain|的增长|的增幅)")
# Any word a direction regex could find, to skip the per-number search in spans without one
_ANY_DIRECTION_RE = re.compile(
    r"\b(?:decreas|declin|drop|fell|fall|lower|reduc|shr[aiu]nk|down|negative|contract|slid|slipped|plung|tumbl|less|"
    r"fewer|increas|rose|risen|rise|grew|grow|higher|gain|up\b|climb|jump|more)|"
    r"下降|减少|降低|下跌|下滑|负增长|回落|缩减|缩水|降幅|跌幅|的下降|上升|增长|增加|提高|上涨|增幅|涨幅|的增长"
)
_CLAUSE_BREAK_RE = re.compile(r"[,;，；。!?！？\n(（]|\b(?:but|while|whereas|although|and)\b|但|而")
_DIRECTION_WINDOW = 48  # characters before a number searched for its direction word, within its clause
_PAREN_LINK_WORDS = frozenset(
    "of by was were is are be been at to totaled totalled totaling reported recorded showed shows change changed "
    "amount amounted answer result net decrease increase".split()
)
_WORD_BEFORE_RE = re.compile(r"([A-Za-z]+)[ \t]*$")
_WORD_AFTER_RE = re.compile(r"[ \t]+[a-z]")
_CLOSE_PAREN_RE = re.compile(r"[ \t]*\)")
# "12 or 15", "12, or maybe 15", "12 或者可能是 15": alternatives offered, not an answer
_HEDGE_RE = re.compile(
    r"^[\s)]*,?\s*(?:(?:or|and/or)(?:\s+(?:maybe|perhaps|possibly|probably|even|about|around|approximately|roughly"
    r"|rather|alternatively|else|so))*|或者?(?:可能|大概|也许)?(?:是|为)?|还是|也可能是?|或许是?|也许是?)[\s(]*$",
    re.IGNORECASE,
)
_RANGE_RE = re.compile(r"^\s*(?:to|~|～|至|到|-|and)\s*$", re.IGNORECASE)
_FROM_RE = re.compile(r"(?:\bfrom|从|由)\s*$", re.IGNORECASE)
_BETWEEN_RE = re.compile(
    r"(?:\bbetween|\brange\s+of|\broughly|\bapproximately|\babout|\baround|介于|在)\s*$", re.IGNORECASE
)
_TAIL_SPLIT_RE = re.compile(r"=|≈|≒|≅|约为|约等于|→|=>")
_EXPR_CHARS_RE = re.compile(r"[\d\s.,+\-*/×÷()%]+")
_EXPR_OP_RE = re.compile(r"[\d)]\s*[-+*/×÷]\s*[\d(.]")
_THOUSANDS_RE = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
# "20 (computed as 120 - 100)": a bracket after a number that shows the working, not an alternative answer
_WORKING_BRACKET_RE = re.compile(r"(?<=[\d%a-z\u4e00-\u9fff])[ \t]*\(([^()]*)\)", re.IGNORECASE)
_WORKING_WORD_RE = re.compile(
    r"comput|calculat|derived|based\s+on|using|\bfrom\b|\bi\.e\.|that\s+is|\bvs\.?\b|versus|计算|即|由", re.IGNORECASE
)
# The verb that commits to the number after it: "…; the change is 20", "净利润为20"
_COMMIT_RE = re.compile(
    r"\b(?:is|was|are|were|be|equals?|equal\s+to|amounts?\s+to|amounted\s+to|comes?\s+to|came\s+to|totaled"
    r"|totalled|stands?\s+at|stood\s+at|reached)\b|(?<![因作认成以])为|(?<![但于还凡只可要])是|等于|达到"
)
_COMMIT_GAP = 24  # characters between the committing verb and its number ("is a decrease of ", "is about $")
_CONCLUSION_RE = re.compile(r"\b(?:so|therefore|thus|hence|overall|in\s+total|i\.e\.)\b|[;；]|因此|所以|故|即|综上")
_COMPARATIVE_RE = re.compile(r"than|higher|lower|more|less|above|below|compared|versus|\bvs\b|比|高于|低于")

_PERCENT_Q_RE = re.compile(
    r"percent|%|ratio|\brate\b|rates\b|proportion|portion|fraction|share of|growth|yield|margin|\broe\b|\broa\b|"
    r"return on|百分|比例|比率|占比|比重|率",
    re.IGNORECASE,
)
# Narrower than _PERCENT_Q_RE: a gold of 1.5 may stand for 1.5% only when the question wants a percentage,
# not for a ratio or multiple such as 市盈率 (P/E) or a turnover ratio.
_PERCENT_UNITS_Q_RE = re.compile(
    r"percent|%|\brate\b|growth|yield|return|margin|百分|利率|收益率|增长率|回报率|占比|比例|比重|增速|涨幅|跌幅",
    re.IGNORECASE,
)
_DECREASE_Q_RE = re.compile(r"decreas|declin|drop|fall|fell|reduc|loss|下降|减少|降低|下跌|亏损", re.IGNORECASE)
# A question that asks for the size of a fall ("by what percentage did X decrease"), not for a signed change
_DECREASE_ASK_RE = re.compile(r"decreas|declin|\bdrop|\bfall|\bfell\b|reduc|下降|减少|降低|下跌", re.IGNORECASE)
_SIGNED_ASK_RE = re.compile(
    r"increas|\brise|\brose\b|\bgrow|\bgrew\b|chang|variance|differen|变动|变化|增", re.IGNORECASE
)
_QUESTION_UNIT_RE = re.compile(
    r"in\s+(thousands|millions|billions)|\(\s*(?:in\s+)?\$?\s*(thousands|millions|billions)\s*\)|单位[:：]?\s*(千|万|百万|亿)",
    re.IGNORECASE,
)
_QUESTION_UNITS = {"thousands": 1e3, "millions": 1e6, "billions": 1e9, "千": 1e3, "万": 1e4, "百万": 1e6, "亿": 1e8}


@dataclass(frozen=True, slots=True)
class Quantity:
    """A number as written in an answer.

    Attributes:
        value: Signed value with any scale word applied; a percent is *not* divided by 100.
        ulp: One unit in the last written place of ``value`` (``0.0`` = exact, e.g. a fraction or a
            numeric gold).
        percent: Written with ``%``, ``percent``, ``个百分点`` and the like.
        scale: Multiplier of an explicit scale word (``million`` → 1e6); 1.0 when none.
        year_like: A bare four-digit integer between 1900 and 2100.
        text: The source text of the number.
        direction: -1 when its clause states a fall ("a decrease of 3", "下降了3%"), +1 a rise, 0 neither.
    """

    value: float
    ulp: float
    percent: bool = False
    scale: float = 1.0
    year_like: bool = False
    text: str = ""
    direction: int = 0


@dataclass(frozen=True, slots=True)
class NumericSpan:
    """Quantities found in one answer span plus span-level facts used by the comparison.

    Attributes:
        quantities: The candidates, committed one first when the span commits to one of several values.
        decrease_word: The span names a fall somewhere ("net loss"), so a positive number *may* be a negative gold.
        hedged: Different values offered as alternatives ("12 or maybe 15", "between 14% and 15%").
    """

    quantities: tuple[Quantity, ...]
    decrease_word: bool = False
    hedged: bool = False


@dataclass(frozen=True, slots=True)
class QuestionFacts:
    """What a question says about its numeric answer (:func:`question_facts`).

    Attributes:
        ratio: It asks for a percentage, ratio, rate, share, growth or margin: a bare 14.46 may mean 14.46%.
        percent_units: A bare gold may be a percentage without its sign (68.9 for 68.9%); false when it asks
            for a ratio or multiple that is not a percentage (a P/E of 1.5 is not 1.5%).
        unit: The unit it states for the answer ("in millions" → 1e6), if any.
        decrease: It names a fall, so a negative answer may give a positive gold ("how much did it fall": -5%).
        size_of_decrease: It asks for the size of a fall, not a signed change, so a positive answer may give
            FinQA's negative gold (new - old).
        decimals: The precision it states for the answer ("round to two decimal places" → 2, "保留一位小数" → 1,
            "to the nearest whole number" → 0), if any.
    """

    ratio: bool = False
    percent_units: bool = True
    unit: float | None = None
    decrease: bool = False
    size_of_decrease: bool = False
    decimals: int | None = None


NO_QUESTION = QuestionFacts()


@lru_cache(maxsize=4096)  # the same question is graded for every sampled response (a GRPO group)
def question_facts(question: str | None) -> QuestionFacts:
    """The :class:`QuestionFacts` of a question (``None``: no question, every reading allowed but ×100)."""
    if not question:
        return NO_QUESTION
    unit_match = _QUESTION_UNIT_RE.search(question)
    unit = None
    if unit_match is not None:
        word = next(g for g in unit_match.groups() if g)
        unit = _QUESTION_UNITS.get(word.lower())
    return QuestionFacts(
        ratio=_PERCENT_Q_RE.search(question) is not None,
        percent_units=_PERCENT_UNITS_Q_RE.search(question) is not None,
        unit=unit,
        decrease=_DECREASE_Q_RE.search(question) is not None,
        size_of_decrease=_DECREASE_ASK_RE.search(question) is not None and _SIGNED_ASK_RE.search(question) is None,
        decimals=_stated_decimals(question),
    )


_DECIMALS_RE = re.compile(
    r"(?:round(?:ed)?|rounding|to|at|with)\s+(?:\w+\s+){0,3}?(\d|one|two|three|four|five|six)\s+decimal(?:\s+places?|s)?|"
    r"(?:nearest|to\s+the)\s+(whole\s+number|integer|tenth|hundredth|thousandth)|"
    r"保留\s*(\d|一|两|二|三|四|五|六)\s*位小数|保留整数|精确到\s*(?:小数点后)?\s*(\d|一|两|二|三|四)\s*位",
    re.IGNORECASE,
)
_DECIMAL_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "一": 1, "两": 2, "二": 2, "三": 3, "四": 4,
    "五": 5, "六": 6, "whole number": 0, "integer": 0, "tenth": 1, "hundredth": 2, "thousandth": 3,
}  # fmt: skip


def _stated_decimals(question: str) -> int | None:
    """The decimals a question asks the answer to be rounded to, or None."""
    m = _DECIMALS_RE.search(question)
    if m is None:
        return None
    if m.group(0).startswith("保留整数"):
        return 0
    word = next((g for g in m.groups() if g), "")
    word = " ".join(word.lower().split())
    return int(word) if word.isdigit() else _DECIMAL_WORDS.get(word)


def _decimals(num: str) -> int:
    dot = num.find(".")
    return 0 if dot < 0 else len(num) - dot - 1


def _to_float(num: str) -> float:
    return float(num.replace(",", ""))


def _clean_for_numbers(span: str) -> str:
    s = normalize_span(span)
    s = _NOT_A_NUMBER_RE.sub(" ", s)
    s = _CURRENCY_RE.sub("", s)
    return s.replace("–", "-").replace("—", " — ")


def _eval_expression(expr: str) -> float | None:
    """Evaluate a pure arithmetic expression (+ - * / and parentheses) without ``eval``."""
    text = _THOUSANDS_RE.sub("", expr).replace("×", "*").replace("÷", "/")
    if "**" in text or len(text) > 200:
        return None
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError):
        return None

    def ev(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
            return float(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            v = ev(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub | ast.Mult | ast.Div):
            a, b = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Add):
                return a + b
            if isinstance(node.op, ast.Sub):
                return a - b
            if isinstance(node.op, ast.Mult):
                return a * b
            return a / b
        raise ValueError("unsupported")

    try:
        value = ev(tree)
    except (ValueError, ZeroDivisionError, OverflowError):
        return None
    return value if math.isfinite(value) else None


# --- scanning one span ------------------------------------------------------------------------------------------


def _number_token(s: str, m: re.Match[str]) -> tuple[float, float, bool, int] | None:
    """``(value, ulp, exact, end)`` of the number at ``m`` with a ``/b`` fraction or an exponent, or None.

    None for tokens that are not quantities ("3D", "1st", "401k") and for a zero denominator.
    """
    num = m.group(1)
    value, ulp, exact, end = _to_float(num), 10.0 ** -_decimals(num), False, m.end(1)
    fm = _FRACTION_TAIL_RE.match(s, end)
    if fm is not None:  # a/b written as a fraction (also what \frac{a}{b} became): an exact value
        den = _to_float(fm.group(1))
        if den == 0:
            return None
        value, exact, end = value / den, True, fm.end()
    em = _EXP_RE.match(s, end)
    if em is not None:
        exp = int(em.group(1) or em.group(2))
        return value * 10.0**exp, ulp * 10.0**exp, exact, em.end()
    if end < len(s) and s[end].isascii() and s[end].isalpha():
        if _UNIT_RE.match(s, end) is None and _SUFFIX_OK_RE.match(s, end) is None:
            return None
    return value, ulp, exact, end


def _opening_bracket(s: str, a: int) -> int:
    """Offset of a "(" that opens an accounting negative right before the number at ``a``, or -1.

    Only when no other number precedes in the clause, so "0.34 (34%)" is a restatement, not a negative; never
    after "/" ("(2424)/(7034)" written as a fraction).
    """
    j = a - 1
    while j >= 0 and s[j] in " \t":
        j -= 1
    if j < 0 or s[j] != "(" or (j > 0 and s[j - 1] == "/"):
        return -1
    k = j - 1
    while k >= 0 and s[k] not in "=:：,;；。\n":
        if s[k].isdigit():
            return -1
        k -= 1
    return j


def _minus_sign(s: str, a: int, bracket: int) -> int:
    """Offset of a minus sign that makes the number at ``a`` negative ("-3", "-(3.5)", "negative 3"), or -1."""
    j = a - 1
    while j >= 0 and s[j] in " \t":
        j -= 1
    if j >= 0 and s[j] == "-":
        if j > 0 and ((s[j - 1].isascii() and s[j - 1].isalnum()) or s[j - 1] in ")._%"):
            return -1  # "a-3", "5%-3": not a sign
        if j >= 1 and s[j - 1] == " ":
            # "5 - 3" inside prose is subtraction, not a sign, when a number directly precedes
            k = j - 2
            while k >= 0 and s[k] == " ":
                k -= 1
            if k >= 0 and (s[k].isdigit() or s[k] == "%"):
                return -1
        return j
    if bracket >= 1:
        k = bracket - 1
        while k >= 0 and s[k] in " \t":
            k -= 1
        if k >= 0 and s[k] == "-":
            return k  # "-(3.5)" reads as negative once
    m = _NEG_WORD_RE.search(s, max(0, a - 12), a)
    return m.start() if m is not None else -1


def _unit_after(s: str, end: int, value: float, ulp: float) -> tuple[float, float, bool, float, int]:
    """Apply a percent, basis-point or scale word at ``s[end:]``: ``(value, ulp, percent, scale, end)``."""
    um = _UNIT_RE.match(s, end)
    if um is None or um.lastgroup is None:
        return value, ulp, False, 1.0, end
    if um.group("pct"):
        return value, ulp, True, 1.0, um.end()
    if um.group("bps"):
        return value / 100.0, ulp / 100.0, True, 1.0, um.end()
    word = um.group("scale").lower()
    scale = _SCALES.get(word, _SCALES.get(word.rstrip("s"), 1.0))
    return value * scale, ulp * scale, False, scale, um.end()


def _is_aside(s: str, open_at: int, close_end: int) -> bool:
    """Whether the bracketed number at ``s[open_at:close_end]`` is an aside in a sentence, not a negative.

    "Half of the price (50%) was goodwill": a noun before the bracket and the sentence going on after it.
    After a linking word ("a change of (3.2)%", "was (12.3)") or at the start of a span it stays a negative.
    """
    before = _WORD_BEFORE_RE.search(s, max(0, open_at - 24), open_at)
    if before is None or before.group(1).lower() in _PAREN_LINK_WORDS:
        return False
    while close_end < len(s) and s[close_end] in ")）":
        close_end += 1
    return _WORD_AFTER_RE.match(s, close_end) is not None


def _bracket_negative(s: str, bracket: int, end: int) -> bool:
    """Whether the "(3.5)" opened at ``bracket`` and closed at or after ``end`` is an accounting negative."""
    k = end
    while k < len(s) and s[k] in " )":
        k += 1
    if k < len(s) and s[k] == "/":
        return False  # "(2424)/(7034)" is a fraction, not two negatives
    return not _is_aside(s, bracket, end)


def _stated_direction(low: str, start: int, end: int) -> int:
    """-1/+1 when the clause of the number at ``low[start:end]`` states a fall/rise, else 0 (nearest word wins)."""
    lo = max(0, start - _DIRECTION_WINDOW)
    breaks = [m.end() for m in _CLAUSE_BREAK_RE.finditer(low, lo, start)]
    lo = breaks[-1] if breaks else lo
    dec = [m.end() for m in _STATED_DECREASE_RE.finditer(low, lo, start)]
    inc = [m.end() for m in _STATED_INCREASE_RE.finditer(low, lo, start)]
    if dec or inc:
        return -1 if (dec[-1] if dec else -1) > (inc[-1] if inc else -1) else 1
    if _AFTER_DECREASE_RE.match(low, end):
        return -1
    if _AFTER_INCREASE_RE.match(low, end):
        return 1
    return 0


def _read_quantity(s: str, low: str | None, m: re.Match[str]) -> tuple[Quantity, int, int, int] | None:
    """The quantity whose digits ``m`` found: ``(quantity, start, end, where scanning goes on)``, or None."""
    token = _number_token(s, m)
    if token is None:
        return None
    a = m.start(1)
    value, ulp, exact, end = token
    bracket = _opening_bracket(s, a)
    minus = _minus_sign(s, a, bracket)
    negative = minus >= 0
    closed = False
    if bracket >= 0:
        cm = _CLOSE_PAREN_RE.match(s, end)
        if cm is not None:  # "(3.2)%": the unit comes after the bracket
            closed, end = True, cm.end()
    value, ulp, percent, scale, end = _unit_after(s, end, value, ulp)
    percent = percent or s.startswith("百分之", max(0, a - 3))
    resume = max(token[3], end)
    if bracket >= 0 and not negative:
        closed = closed or _CLOSE_PAREN_RE.match(s, end) is not None  # "(3.2%)"
        negative = closed and _bracket_negative(s, bracket, end)
    start = a
    if negative:
        value = -value
        if bracket >= 0:
            start = bracket
        elif s[minus] == "-":
            start = minus
    year_like = (
        not exact
        and not percent
        and scale == 1.0
        and (not negative or bracket >= 0)  # "Revenue (2019): 5,230": a year in brackets, not a negative
        and len(m.group(1)) == 4
        and 1900 <= abs(value) <= 2100
    )
    text = " ".join(s[start:end].split())
    if negative and not text.startswith(("-", "(")):
        text = "-" + text
    direction = _stated_direction(low, a, end) if low is not None else 0
    return Quantity(value, 0.0 if exact else ulp, percent, scale, year_like, text, direction), start, end, resume


def _scan(s: str) -> list[tuple[Quantity, int, int]]:
    """All quantities in a cleaned span with their (start, end) offsets."""
    out: list[tuple[Quantity, int, int]] = []
    low: str | None = s.lower()
    if not _ANY_DIRECTION_RE.search(low):  # most spans name no direction: skip the search around each number
        low = None
    pos = 0
    while (m := _NUM_RE.search(s, pos)) is not None:
        pos = m.end(1)
        got = _read_quantity(s, low, m)
        if got is not None:
            quantity, start, end, pos = got
            out.append((quantity, start, end))
    return out


# --- one span: which of its numbers is the answer ----------------------------------------------------------------


def _drop_working_brackets(s: str) -> str:
    """Remove "(computed as 120 - 100)" after a number: the working shown, not another answer."""
    if "(" not in s:
        return s

    def repl(m: re.Match[str]) -> str:
        inner = m.group(1)
        if any(c.isdigit() for c in inner) and (_EXPR_OP_RE.search(inner) or _WORKING_WORD_RE.search(inner)):
            return " "
        return m.group(0)

    dropped = _WORKING_BRACKET_RE.sub(repl, s)
    return dropped if any(c.isdigit() for c in dropped) else s


def _hedges_and_levels(s: str, scanned: list[tuple[Quantity, int, int]]) -> tuple[bool, set[int]]:
    """Whether neighbouring numbers are offered as alternatives or a range, and which are "from X to Y" levels."""
    hedged = False
    levels: set[int] = set()  # the X and Y of "from X to Y": levels, not the answer
    for i, ((q1, a1, e1), (q2, a2, _)) in enumerate(zip(scanned, scanned[1:], strict=False)):
        between = s[e1:a2]
        if _HEDGE_RE.match(between) and q1.percent == q2.percent and not _equivalent(q1, q2):
            hedged = True
        elif _RANGE_RE.match(between):
            before = s[max(0, a1 - 12) : a1]
            if _FROM_RE.search(before):
                levels.update((i, i + 1))
            elif (
                not (q1.year_like or q2.year_like)
                and q1.percent == q2.percent
                and (
                    between.strip().lower() not in ("and", "to")
                    or _BETWEEN_RE.search(before)
                    or (between.strip().lower() == "to" and not s[:a1].strip(" -(（"))
                )
                and not _equivalent(q1, q2)
            ):
                hedged = True  # "between 14% and 15%", "14%-15%", "about 14% to 15%": a range is not an answer
    return hedged, levels


def _committed(s: str, kept: list[tuple[Quantity, int, int]]) -> int | None:
    """Index in ``kept`` of the number the span commits to, when a verb states some of them and not others.

    One number stated by a verb wins ("2019 revenue 120, 2018 revenue 100; the change is 20" → 20); of several,
    the last one after a conclusion word ("…, so the change was 20"), else the first ("净利润为20万元，上年为15万元").
    """
    low = s.lower()
    stated: list[int] = []
    concluded: list[int] = []
    for i, (_, start, _) in enumerate(kept):
        verbs = list(_COMMIT_RE.finditer(low, max(0, start - _COMMIT_GAP - 12), start))
        if not verbs:
            continue
        gap = low[verbs[-1].end() : start]
        if len(gap) > _COMMIT_GAP or any(c.isdigit() for c in gap) or _COMPARATIVE_RE.search(gap):
            continue
        stated.append(i)
        if _CONCLUSION_RE.search(low, max(0, verbs[-1].start() - 40), verbs[-1].start()):
            concluded.append(i)
    if concluded:
        return concluded[-1]
    return stated[0] if stated else None


def parse_numeric_span(span: str, *, commit: bool = True) -> NumericSpan:
    """Find the quantities of one answer span, the committed one first.

    Only the part after the last ``=``/``≈`` is used when it holds a number (``8.1/56.0 = 14.46%``); a span
    that is a pure arithmetic expression (``(1500 - 1234) / 1234``) is evaluated; a bracket after a number that
    shows the working ("20 (computed as 120 - 100)") is dropped; four-digit years are dropped when other numbers
    remain, and so are the levels of "from X to Y". When different values remain, the one a verb commits to
    wins ("2019 revenue 120, 2018 revenue 100; the change is 20" → 20), else the first; with ``commit=False``
    (a span that starts right after an answer phrase: the phrase has committed to its first number) the first.
    ``hedged`` is set when different values are offered as alternatives ("12 or maybe 15", "between 14% and 15%").
    """
    s = _clean_for_numbers(span)
    if not s:
        return NumericSpan(())
    parts = _TAIL_SPLIT_RE.split(s)
    if len(parts) > 1:
        for part in reversed(parts):
            if any(c.isdigit() for c in part):
                s = part
                break
    decrease = _DECREASE_RE.search(s) is not None
    core = s.strip().strip(".。;；,，")
    if _EXPR_CHARS_RE.fullmatch(core) and _EXPR_OP_RE.search(core):
        pct = core.endswith("%")
        value = _eval_expression(core.rstrip("%"))
        if value is not None:
            return NumericSpan((Quantity(value, 0.0, pct, text=core),), decrease)
    s = _drop_working_brackets(s)
    scanned = _scan(s)
    if not scanned:
        return NumericSpan((), decrease)
    hedged, levels = _hedges_and_levels(s, scanned)
    kept = [x for i, x in enumerate(scanned) if i not in levels] or scanned
    if len(kept) > 1 and any(not q.year_like for q, _, _ in kept):
        kept = [x for x in kept if not x[0].year_like]
    quantities = tuple(q for q, _, _ in kept)
    if (
        commit
        and len(quantities) > 1
        and not hedged
        and not all(_equivalent(quantities[0], q) for q in quantities[1:])
    ):
        i = _committed(s, kept)
        if i is not None and i > 0:
            chosen = quantities[i]
            # the committed value and its restatements ("20, i.e. 20%"), nothing else
            quantities = (chosen, *(q for j, q in enumerate(quantities) if j != i and _equivalent(chosen, q)))
    return NumericSpan(quantities, decrease, hedged)


@lru_cache(maxsize=4096)  # the same gold is graded for every sampled response
def parse_reference(reference: str | float | int) -> Quantity | None:
    """Parse a gold answer: a number is exact, a string keeps its written precision (see the module docstring)."""
    if isinstance(reference, bool):
        return None
    if isinstance(reference, int | float):
        v = float(reference)
        return Quantity(v, 0.0) if math.isfinite(v) else None
    span = parse_numeric_span(str(reference))
    if not span.quantities:
        return None
    return replace(span.quantities[0], direction=0)  # a gold's words ("decrease of 3") do not restate its sign


# --- comparing two quantities -------------------------------------------------------------------------------------


def _close(p: float, r: float, rel_tol: float, decimals: int | None = None) -> str | None:
    """The precision rule of the module docstring: ``equal``, ``within_rel_tol``, ``stated_decimals`` or None."""
    d = abs(p - r)
    if d <= 1e-9 * max(1.0, abs(r)):
        return "equal"
    if d <= rel_tol * max(abs(p), abs(r)) * (1 + 1e-9):
        return "within_rel_tol"
    if decimals is not None:
        unit = 10.0**-decimals
        # only a gold written at that precision (0.01 "to two decimal places"), never a finer one (0.1446)
        if abs(r - round(r, decimals)) <= 1e-9 * max(1.0, abs(r)) and abs(p - r) <= unit / 2 * (1 + 1e-9):
            return "stated_decimals"
    return None


def _restates(p: float, pu: float, r: float, ru: float) -> bool:
    """Whether two written values are one value restated: equal at the coarser one's written precision."""
    d = abs(p - r)
    return d <= max(pu, ru) / 2 * (1 + 1e-9) + 1e-12 or d <= GUESSED_UNIT_REL_TOL * max(abs(p), abs(r))


def _equivalent(a: Quantity, b: Quantity) -> bool:
    """Whether two written quantities restate one value ("0.3446 (34.46%)", "14.46% or 0.1446").

    Stricter than a match: "between 14.4% and 14.5%" offers two values, though they are within 1% of each other.
    """
    if a.percent == b.percent:
        # "14.46 or 0.1446": a percent number and its ratio
        return _restates(a.value, a.ulp, b.value, b.ulp) or (
            not a.percent and any(_restates(x.value / 100, x.ulp / 100, y.value, y.ulp) for x, y in ((a, b), (b, a)))
        )
    pa, pb = (a, b) if a.percent else (b, a)
    return _restates(pa.value / 100, pa.ulp / 100, pb.value, pb.ulp)


# One way to read a prediction against the gold: (p, r, name, whether it keeps the stated units). A reading that
# guesses an unwritten unit holds to GUESSED_UNIT_REL_TOL and never to a question's stated decimals.
_Reading = tuple[float, float, str, bool]


def _percent_readings(pred: Quantity, ref: Quantity, facts: QuestionFacts) -> list[_Reading]:
    """Percent versus ratio: ``14.46%`` ≡ 0.1446; a bare number is scaled by 100 only with a percent cue."""
    P, R = pred.value, ref.value
    if pred.percent and ref.percent:
        return [(P, R, "percent", True)]
    if pred.percent:
        out = [(P / 100, R, "percent_as_ratio", True)]
        if facts.percent_units:  # "68.9%" for a gold in percent units (68.9)
            out.append((P, R, "percent_units", True))
        return out
    if ref.percent:
        return [(P, R / 100, "ratio_as_percent", True), (P, R, "percent_units", True)]
    out = [(P, R, "plain", True)]
    if facts.ratio:  # the question is the percent cue: a bare 14.46 for 0.1446, a bare 0.1446 for 14.46
        if abs(R) < 10:
            out.append((P / 100, R, "percent_number_as_ratio", True))
        if abs(P) < 10:
            out.append((P * 100, R, "ratio_as_percent_number", True))
    return out


def _scale_readings(pred: Quantity, ref: Quantity, facts: QuestionFacts) -> list[_Reading]:
    """Scale words: "$94 million" ≡ a bare 94 (a table in millions); "94,000,000" ≡ 94 only (near) exactly."""
    P, R = pred.value, ref.value
    out: list[_Reading] = []
    unit = facts.unit
    if pred.scale > 1 and ref.scale == 1 and not ref.percent:
        if unit:  # the question names the gold's unit: "1229.5 thousand" is not 1,229.5 "in millions"
            out.append((P / unit, R, "question_unit", unit <= pred.scale))
        else:  # a unit above the written scale ("9400万" for a gold of 94 in millions) is a guess
            out += [(P / u, R, f"gold_in_units_of_{u:g}", u <= pred.scale) for u in _IMPLIED_UNITS]
    elif ref.scale > 1 and pred.scale == 1 and not pred.percent:
        out += [(P, R / u, f"prediction_in_units_of_{u:g}", u <= ref.scale) for u in _IMPLIED_UNITS]
    if pred.scale == 1 and ref.scale == 1 and not pred.percent and not ref.percent:
        if unit:
            out.append((P / unit, R, "question_unit", True))
        elif abs(P) >= 1e3 and pred.ulp >= 1:
            # "94,000,000" for a gold of 94 from a table "in millions": whole powers of 1000 only (so 1200 is
            # never 12), held close, since nothing says which unit the table used
            out += [(P / u, R, f"full_figure_of_{u:g}", False) for u in (1e3, 1e6, 1e9)]
    return out


def _readings(pred: Quantity, ref: Quantity, facts: QuestionFacts) -> Iterator[_Reading]:
    """Percent readings first, scale readings only when those fail (they are rarer and cost more)."""
    yield from _percent_readings(pred, ref, facts)
    yield from _scale_readings(pred, ref, facts)


def _signs(pred: Quantity, p: float, r: float, facts: QuestionFacts, decrease_word: bool) -> list[tuple[float, str]]:
    """The signed values the prediction may stand for, with the reason added to the reading's name.

    A fall stated in the number's clause makes a positive number negative ("a decrease of 3" is -3), except
    that a question about a fall may take its size (3); a stated rise keeps it positive. Without a stated
    direction, a fall word elsewhere in the span or a question asking for the size of a fall lets a positive
    answer stand for a negative gold, and a question about a fall lets a negative answer stand for its size.
    """
    if p > 0 and pred.direction < 0:
        out = [(-p, "+stated_decrease")]
        if facts.decrease or facts.size_of_decrease:
            out.append((p, "+size_of_decrease"))
        return out
    out = [(p, "")]
    if p > 0 and r < 0 and pred.direction == 0:
        if decrease_word:
            out.append((-p, "+decrease_word"))
        if facts.size_of_decrease:
            out.append((-p, "+size_of_decrease"))
    if p < 0 and r > 0 and facts.decrease:
        out.append((-p, "+decrease_question"))
    return out


def compare_quantities(
    pred: Quantity,
    ref: Quantity,
    facts: QuestionFacts = NO_QUESTION,
    *,
    rel_tol: float = DEFAULT_REL_TOL,
    decrease_word: bool = False,
) -> str | None:
    """Return how ``pred`` matches ``ref`` (a short reason such as ``percent_as_ratio:rounded``) or ``None``.

    Args:
        pred: The predicted quantity (its ``direction`` is the fall/rise its clause states).
        ref: The gold quantity.
        facts: What the question says (:func:`question_facts`); the default is "no question".
        rel_tol: Relative tolerance, of the larger number.
        decrease_word: The answer span names a fall somewhere ("net loss of 12.3"), so a positive number may
            stand for a negative gold.
    """
    for p, r, how, stated_units in _readings(pred, ref, facts):
        tol = rel_tol if stated_units else min(rel_tol, GUESSED_UNIT_REL_TOL)
        for signed, why in _signs(pred, p, r, facts, decrease_word):
            hit = _close(signed, r, tol, facts.decimals if stated_units else None)
            if hit is not None:
                return f"{how}{why}:{hit}"
    return None


def with_direction(quantity: Quantity, direction: int) -> Quantity:
    """``quantity`` with a direction from its context ("decreased by \\boxed{7.1\\%}") unless it states its own."""
    return quantity if quantity.direction or not direction else replace(quantity, direction=direction)


def context_direction(before: str, after: str = "") -> int:
    """-1/+1 when the words just before (or right after) an answer's box state a fall/rise, else 0.

    "Operating expenses decreased by \\boxed{7.1\\%}" → -1; "\\boxed{5\\%} higher" → +1.
    """
    low = before.rstrip(" \t$\\([{*").lower()
    direction = _stated_direction(low, len(low), len(low))
    if direction:
        return direction
    tail = after.lstrip("$\\)]}*").lower()
    if _AFTER_DECREASE_RE.match(tail):
        return -1
    return 1 if _AFTER_INCREASE_RE.match(tail) else 0


# --- Chinese numerals: a fallback for answers with no Arabic digits ("百分之十四点四六", "三千五百万元") ---
_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_SMALL_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_BIG_UNITS = {"万": 10**4, "亿": 10**8}
_CN_RUN_RE = re.compile(
    r"(?P<pct>百分之)?(?P<int>[零〇一二两三四五六七八九十百千万亿]+)(?:点(?P<dec>[零〇一二三四五六七八九]+)(?P<big>[万亿]*))?"
)
# What may follow a Chinese number for it to count as one ("十二%", "二十个百分点", "三倍")
_CN_UNIT_AFTER_RE = re.compile(r"[ \t]*(?:%|个百分点|百分点|个基点|基点|倍)")
_CN_SPAN_STRIP = " \t\r\n.。,，;；:：!！?？*_$\\{}()[]【】\"'“”"


def _cn_integer(text: str) -> int | None:
    """Value of a Chinese integer ("三千五百万", "一亿二千万", "两百", "一万五"), or None when malformed."""
    if len(text) > 1 and all(c in _CN_DIGITS for c in text):
        return int("".join(str(_CN_DIGITS[c]) for c in text))  # digit by digit, as in "二零二三"
    total = section = 0
    number: int | None = None
    last_unit = 0  # the unit just written, so "三千五" reads as 3500 (the omitted unit is the next one down)
    section_unit = 10**9  # units inside a section must go down: "十百" is not a number
    for i, c in enumerate(text):
        if c in _CN_DIGITS:
            if number is not None and not (number == 0 or _CN_DIGITS[c] == 0):
                return None  # "三五百": two digits without a unit between
            if c in "零〇":
                last_unit = 0
            number = _CN_DIGITS[c] if number is None or number == 0 else number
        elif c in _CN_SMALL_UNITS:
            unit = _CN_SMALL_UNITS[c]
            if unit >= section_unit:
                return None
            if number is None:
                if i != 0 or c == "千":  # only a leading 十/百 implies one ("十二", "百分之百"); "千万" is a word
                    return None
                number = 1
            section += number * unit
            number, last_unit, section_unit = None, unit, unit
        else:
            unit = _CN_BIG_UNITS[c]
            if number is None and section == 0 and not (c == "亿" and total and text[i - 1] == "万"):
                return None  # "万一", "亿" alone
            section += number or 0
            total = (total + section) * unit if c == "亿" else total + section * unit
            number, section, last_unit, section_unit = None, 0, unit, 10**9
    if number is not None:
        section += number * last_unit // 10 if last_unit >= 10 else number
    return total + section


def _cn_number(m: re.Match[str], s: str) -> str | None:
    """The Arabic form of one Chinese-numeral match, or None when it is an ordinary word ("进一步", "十分")."""
    int_text, dec, big = m.group("int"), m.group("dec"), m.group("big") or ""
    if m.start() > 0 and s[m.start() - 1] == "第":
        return None  # an ordinal, "第一"
    whole = not s[: m.start()].strip(_CN_SPAN_STRIP + "约为是负") and not s[m.end() :].strip(_CN_SPAN_STRIP)
    has_digit = any(c in _CN_DIGITS for c in int_text)
    has_unit = any(c in _CN_SMALL_UNITS or c in _CN_BIG_UNITS for c in int_text)
    if not (
        m.group("pct")
        or dec
        or whole
        or _CN_UNIT_AFTER_RE.match(s, m.end())
        or (has_digit and has_unit and len(int_text) > 1)
    ):
        return None
    value = _cn_integer(int_text)
    if value is None:
        return None
    if dec:
        text = f"{value}." + "".join(str(_CN_DIGITS[c]) for c in dec) + big
    else:
        # keep a trailing 万/亿 as the written scale, as "3500万" would be written with digits
        unit_chars = ""
        while int_text and int_text[-1] in _CN_BIG_UNITS and value % (_CN_BIG_UNITS[int_text[-1]]) == 0:
            unit_chars = int_text[-1] + unit_chars
            value //= _CN_BIG_UNITS[int_text[-1]]
            int_text = int_text[:-1]
        text = f"{value}{unit_chars}"
    return text + "%" if m.group("pct") else text


def chinese_numerals_to_arabic(span: str) -> str:
    """Rewrite Chinese numerals as Arabic ones: "负百分之三点二" → "负3.2%", "三千五百万元" → "3500万元".

    A run of numeral characters counts only when it reads as a number: after 百分之, with a 点 decimal, before
    %/个百分点/倍, with both a digit and a unit ("两百", "一万"), or as the whole span. So "进一步", "十分",
    "千万不要", "统一" and ordinals ("第一") stay text.
    """
    return _CN_RUN_RE.sub(lambda m: _cn_number(m, span) or m.group(0), span)


def parse_chinese_numeric_span(span: str) -> NumericSpan:
    """:func:`parse_numeric_span` after :func:`chinese_numerals_to_arabic`; meant for answers with no digits."""
    converted = chinese_numerals_to_arabic(_clean_for_numbers(span))
    if not any(c.isdigit() for c in converted):
        return NumericSpan(())
    return parse_numeric_span(converted)

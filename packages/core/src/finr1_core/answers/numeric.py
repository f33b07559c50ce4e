"""Numbers in answers: parsing (units, scales, percent, accounting negatives) and rounding-aware comparison.

A :class:`Quantity` keeps what was *written*: ``14.46%`` is ``value=14.46, percent=True, ulp=0.01``;
``$1.2 billion`` is ``value=1.2e9, scale=1e9, ulp=1e8``. Whether a percent is read as a ratio is decided
only when two quantities are compared (:func:`compare_quantities`).
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass
from functools import lru_cache

from finr1_core.answers._text import normalize_span

#: Default relative tolerance on top of the rounding rule (0.2%). See the package docstring for why.
DEFAULT_REL_TOL = 2e-3
#: A *coarser prediction* (14% for 0.14464) matches by rounding only while it stays this close in relative terms,
#: so 0.1 is not accepted for 0.14464 just because both round to one decimal.
ROUNDING_MAX_REL = 0.05

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
_DECREASE_RE = re.compile(
    r"decreas|declin|drop|fell|fall|lower|\bless\b|reduc|shrank|shrink|loss|down\b|negative growth|"
    r"下降|减少|降低|下跌|下滑|亏损|缩减|回落|负增长|减",
    re.IGNORECASE,
)
# Direction words near an answer (the line around a box): narrower than _DECREASE_RE, since "net loss: 12.3" says
# nothing about the sign of a change. Both run on lower-cased text (IGNORECASE is much slower).
_DECREASE_CTX_RE = re.compile(
    r"decreas|declin|dropp?ed|\bfell\b|\bfall|\blower\b|\bless\b|reduc|shrank|negative growth|下降|减少|降低|下跌|下滑|负增长"
)
_INCREASE_RE = re.compile(
    r"increas|\brose\b|\brise|\bgrew\b|\bgrow|\bhigher\b|\bgain|\bup\s+(?:by\s+)?\d|上升|(?<!负)增长|增加|提高|上涨"
)
# A question that asks for the size of a fall ("by what percentage did X decrease"), not for a signed change
_DECREASE_ASK_RE = re.compile(r"decreas|declin|\bdrop|\bfall|\bfell\b|reduc|下降|减少|降低|下跌", re.IGNORECASE)
_SIGNED_ASK_RE = re.compile(
    r"increas|\brise|\brose\b|\bgrow|\bgrew\b|chang|variance|differen|变动|变化|增", re.IGNORECASE
)
# Words after which a parenthesised number is an accounting negative ("a change of (3.2)%"), not an aside
_PAREN_LINK_WORDS = frozenset(
    "of by was were is are be been at to totaled totalled totaling reported recorded showed shows change changed "
    "amount amounted answer result net decrease increase".split()
)
_WORD_BEFORE_RE = re.compile(r"([A-Za-z]+)[ \t]*$")
_WORD_AFTER_RE = re.compile(r"[ \t]+[a-z]")
_CLOSE_PAREN_RE = re.compile(r"[ \t]*\)")
_HEDGE_RE = re.compile(r"^[\s)]*(?:or|and/or|或者?|还是)[\s(]*$", re.IGNORECASE)
_RANGE_RE = re.compile(r"^\s*(?:to|~|～|至|到|-|and)\s*$", re.IGNORECASE)
_FROM_RE = re.compile(r"(?:\bfrom|从|由)\s*$", re.IGNORECASE)
_BETWEEN_RE = re.compile(
    r"(?:\bbetween|\brange\s+of|\broughly|\bapproximately|\babout|\baround|介于|在)\s*$", re.IGNORECASE
)
_TAIL_SPLIT_RE = re.compile(r"=|≈|≒|≅|约为|约等于|→|=>")
_EXPR_CHARS_RE = re.compile(r"[\d\s.,+\-*/×÷()%]+")
_EXPR_OP_RE = re.compile(r"[\d)]\s*[-+*/×÷]\s*[\d(.]")
_THOUSANDS_RE = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")

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
    """

    value: float
    ulp: float
    percent: bool = False
    scale: float = 1.0
    year_like: bool = False
    text: str = ""


@dataclass(frozen=True, slots=True)
class NumericSpan:
    """Quantities found in one answer span plus span-level facts used by the comparison."""

    quantities: tuple[Quantity, ...]
    decrease_word: bool = False
    hedged: bool = False


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


def _scan(s: str) -> list[tuple[Quantity, int, int]]:
    """All quantities in a cleaned span with their (start, end) offsets."""
    out: list[tuple[Quantity, int, int]] = []
    n = len(s)
    pos = 0
    while True:
        m = _NUM_RE.search(s, pos)
        if m is None:
            break
        a, b = m.span(1)
        num = m.group(1)
        pos = b
        value = _to_float(num)
        ulp = 10.0 ** -_decimals(num)
        exact = False
        end = b
        # a/b written as a fraction (also what \frac{a}{b} became): an exact value
        fm = _FRACTION_TAIL_RE.match(s, end)
        if fm is not None:
            den = _to_float(fm.group(1))
            if den == 0:
                continue
            value, exact, end = value / den, True, fm.end()
            pos = end
        em = _EXP_RE.match(s, end)
        if em is not None:
            exp = int(em.group(1) or em.group(2))
            value *= 10.0**exp
            ulp *= 10.0**exp
            end = em.end()
            pos = end
        elif end < n and s[end].isascii() and s[end].isalpha():
            um = _UNIT_RE.match(s, end)
            if um is None and _SUFFIX_OK_RE.match(s, end) is None:
                continue  # "3D", "1st", "401k" style tokens are not quantities
        # accounting negative "(3.5)": only when no other number precedes in the clause, so "0.34 (34%)" is a
        # restatement and not a negative
        j = a - 1
        while j >= 0 and s[j] in " \t":
            j -= 1
        open_paren = j >= 0 and s[j] == "("
        if open_paren and (j > 0 and s[j - 1] == "/"):
            open_paren = False
        if open_paren:
            k = j - 1
            while k >= 0 and s[k] not in "=:：,;；。\n":
                if s[k].isdigit():
                    open_paren = False
                    break
                k -= 1
        negative = False
        if j >= 0 and s[j] == "-":
            negative = j == 0 or not ((s[j - 1].isascii() and s[j - 1].isalnum()) or s[j - 1] in ")._%")
            if negative and j >= 1 and s[j - 1] == " ":
                # "5 - 3" inside prose is subtraction, not a sign, when a number directly precedes
                k = j - 2
                while k >= 0 and s[k] == " ":
                    k -= 1
                if k >= 0 and (s[k].isdigit() or s[k] == "%"):
                    negative = False
        elif open_paren and j >= 1:
            k = j - 1
            while k >= 0 and s[k] in " \t":
                k -= 1
            if k >= 0 and s[k] == "-":
                negative = True  # "-(3.5)" reads as negative once
        if not negative and _NEG_WORD_RE.search(s, max(0, a - 12), a):
            negative = True
        percent = s.startswith("百分之", max(0, a - 3))
        scale = 1.0
        closed = False
        if open_paren:
            cm = _CLOSE_PAREN_RE.match(s, end)
            if cm is not None:
                closed, end = True, cm.end()
        um = _UNIT_RE.match(s, end)
        if um is not None and um.lastgroup is not None:
            if um.group("pct"):
                percent = True
            elif um.group("bps"):
                percent = True
                value, ulp = value / 100.0, ulp / 100.0
            else:
                word = um.group("scale").lower()
                scale = _SCALES.get(word, _SCALES.get(word.rstrip("s"), 1.0))
                value, ulp = value * scale, ulp * scale
            end = um.end()
            pos = max(pos, end)
        if open_paren and not closed:
            cm = _CLOSE_PAREN_RE.match(s, end)
            closed = cm is not None
        if open_paren and closed:
            # "(2424)/(7034)" is a fraction, not two negatives
            k = end
            while k < n and s[k] in " )":
                k += 1
            if not (k < n and s[k] == "/") and not _is_aside(s, j, end):
                negative = True
        start = a
        if negative:
            value = -value
            if open_paren:
                start = j
            elif j >= 0 and s[j] == "-":
                start = j
        year_like = (
            not exact
            and not percent
            and scale == 1.0
            and (not negative or open_paren)  # "Revenue (2019): 5,230": a year in brackets, not a negative
            and len(num) == 4
            and 1900 <= abs(value) <= 2100
        )
        text = " ".join(s[start:end].split())
        if negative and not text.startswith(("-", "(")):
            text = "-" + text
        out.append((Quantity(value, 0.0 if exact else ulp, percent, scale, year_like, text), start, end))
    return out


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


def parse_numeric_span(span: str) -> NumericSpan:
    """Find the quantities of one answer span, in order.

    Only the part after the last ``=``/``≈`` is used when it holds a number (``8.1/56.0 = 14.46%``); a span
    that is a pure arithmetic expression (``(1500 - 1234) / 1234``) is evaluated; four-digit years are dropped
    when other numbers remain. ``hedged`` is set when two different values are offered as alternatives
    ("12 or 15").
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
    scanned = _scan(s)
    if not scanned:
        return NumericSpan((), decrease)
    hedged = False
    context: set[int] = set()  # the X and Y of "from X to Y": levels, not the answer
    for i, ((q1, a1, e1), (q2, a2, _)) in enumerate(zip(scanned, scanned[1:], strict=False)):
        between = s[e1:a2]
        if _HEDGE_RE.match(between) and q1.percent == q2.percent and not _equivalent(q1, q2):
            hedged = True
        elif _RANGE_RE.match(between):
            before = s[max(0, a1 - 12) : a1]
            if _FROM_RE.search(before):
                context.update((i, i + 1))
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
    quantities = tuple(q for i, (q, _, _) in enumerate(scanned) if i not in context) or tuple(q for q, _, _ in scanned)
    if len(quantities) > 1 and any(not q.year_like for q in quantities):
        quantities = tuple(q for q in quantities if not q.year_like)
    return NumericSpan(quantities, decrease, hedged)


def parse_reference(reference: str | float | int) -> Quantity | None:
    """Parse a gold answer: numbers keep exact precision, strings keep their written precision."""
    if isinstance(reference, bool):
        return None
    if isinstance(reference, int | float):
        v = float(reference)
        return Quantity(v, 0.0) if math.isfinite(v) else None
    span = parse_numeric_span(str(reference))
    if not span.quantities:
        return None
    return span.quantities[0]


@lru_cache(maxsize=4096)  # the same question is graded for every sampled response
def question_asks_ratio(question: str | None) -> bool:
    """True when the question asks for a percentage, ratio, rate, share, growth or margin."""
    return bool(question) and _PERCENT_Q_RE.search(question) is not None  # type: ignore[arg-type]


def _close(p: float, pu: float, r: float, ru: float, rel_tol: float, allow_round: bool) -> str | None:
    d = abs(p - r)
    if d <= 1e-9 * max(1.0, abs(r)):
        return "equal"
    if r != 0 and d <= rel_tol * abs(r):
        return "within_rel_tol"
    if not allow_round:
        return None
    if r == 0:
        return "rounded" if pu > 0 and d <= pu / 2 * (1 + 1e-9) else None
    u = max(pu, ru)
    if u > 0 and d <= u / 2 * (1 + 1e-9) + 1e-15:
        # the reference's own coarser precision decides alone; a coarser prediction must stay close too
        if ru >= pu or d <= ROUNDING_MAX_REL * abs(r):
            return "rounded"
    return None


def _equivalent(a: Quantity, b: Quantity) -> bool:
    """Whether two written quantities state the same value (``0.3446`` and ``34.46%``)."""
    if a.percent == b.percent:
        if _close(a.value, a.ulp, b.value, b.ulp, DEFAULT_REL_TOL, True) is not None:
            return True
        # "14.46 or 0.1446": a percent number and its ratio
        return (
            any(
                _close(x.value / 100, x.ulp / 100, y.value, y.ulp, DEFAULT_REL_TOL, True) is not None
                for x, y in ((a, b), (b, a))
            )
            and not a.percent
        )
    pa, pb = (a, b) if a.percent else (b, a)
    return _close(pa.value / 100, pa.ulp / 100, pb.value, pb.ulp, DEFAULT_REL_TOL, True) is not None


def compare_quantities(
    pred: Quantity,
    ref: Quantity,
    *,
    rel_tol: float = DEFAULT_REL_TOL,
    ratio_question: bool = False,
    decrease_word: bool = False,
    decrease_question: bool = False,
    question_unit: float | None = None,
    percent_units_ok: bool = True,
    decrease_asked: bool = False,
    increase_word: bool = False,
) -> str | None:
    """Return how ``pred`` matches ``ref`` (a short reason) or ``None`` when it does not.

    Args:
        pred: The predicted quantity.
        ref: The gold quantity.
        rel_tol: Relative tolerance on top of the rounding rule.
        ratio_question: The question asks for a percentage or ratio, so a bare ``14.46`` may mean 14.46%.
        decrease_word: The answer span says "decrease"/"下降", so a positive number may stand for a negative.
        decrease_question: The question asks for a decrease, so a negative answer may stand for a positive gold.
        question_unit: The question states the unit of the gold ("in millions" → 1e6).
        percent_units_ok: A bare gold may be in percent units (68.9 for "68.9%"); false when the question asks
            for something that is not a percentage (see :func:`question_allows_percent_units`).
        decrease_asked: The question asks for the size of a decrease ("by what percentage did X decrease"),
            so a positive answer may stand for a negative gold (FinQA computes new - old), unless the answer
            says it increased (``increase_word``).
        increase_word: The answer says "increase"/"rose"/"增长" next to its number.
    """
    P, Pu, R, Ru = pred.value, pred.ulp, ref.value, ref.ulp
    ref_fraction = 0 < abs(R) < 1
    pairs: list[tuple[float, float, float, float, str, bool]] = []
    if pred.percent and ref.percent:
        pairs.append((P, Pu, R, Ru, "percent", True))
    elif pred.percent:
        pairs.append((P / 100, Pu / 100, R, Ru, "percent_as_ratio", True))
        # "68.9%" for a gold written in percent units (68.9); never by rounding onto a fraction gold
        if percent_units_ok:
            pairs.append((P, Pu, R, Ru, "percent_units", abs(R) >= 1))
    elif ref.percent:
        pairs.append((P, Pu, R / 100, Ru / 100, "ratio_as_percent", True))
        pairs.append((P, Pu, R, Ru, "percent_units", abs(P) >= 1))
    else:
        pairs.append((P, Pu, R, Ru, "plain", True))
        if ratio_question:
            if abs(R) < 10:
                pairs.append((P / 100, Pu / 100, R, Ru, "percent_number_as_ratio", True))
            if abs(P) < 10:
                pairs.append((P * 100, Pu * 100, R, Ru, "ratio_as_percent_number", True))
        elif ref_fraction:
            pairs.append((P / 100, Pu / 100, R, Ru, "percent_number_as_ratio", True))
    # a unit above the written scale ("9400万" for a gold of 94 in millions) must match without rounding
    if pred.scale > 1 and ref.scale == 1 and not ref.percent and question_unit:
        # the question names the gold's unit ("in millions"): "1229.5 thousand" is not 1,229.5 million
        pairs.append((P / question_unit, Pu / question_unit, R, Ru, "question_unit", question_unit <= pred.scale))
    elif pred.scale > 1 and ref.scale == 1 and not ref.percent:
        for unit in _IMPLIED_UNITS:
            pairs.append((P / unit, Pu / unit, R, Ru, f"gold_in_units_of_{unit:g}", unit <= pred.scale))
    elif ref.scale > 1 and pred.scale == 1 and not pred.percent:
        for unit in _IMPLIED_UNITS:
            pairs.append((P, Pu, R / unit, Ru / unit, f"prediction_in_units_of_{unit:g}", unit <= ref.scale))
    if pred.scale == 1 and ref.scale == 1 and not pred.percent and not ref.percent:
        if question_unit:
            pairs.append((P / question_unit, Pu / question_unit, R, Ru, "question_unit", True))
        elif abs(P) >= 1e3 and Pu >= 1:
            # "94,000,000" for a gold of 94 from a table "in millions": whole powers of 1000 only (so 1200 is
            # never 12), and only exactly (no rounding), since nothing says which unit the table used
            for unit in (1e3, 1e6, 1e9):
                pairs.append((P / unit, 0.0, R, Ru, f"full_figure_of_{unit:g}", False))
    for p, pu, r, ru, how, allow_round in pairs:
        hit = _close(p, pu, r, ru, rel_tol, allow_round)
        if hit is None and decrease_word and p > 0 and r < 0:
            hit = _close(-p, pu, r, ru, rel_tol, allow_round)
            how += "+decrease_word"
        if hit is None and decrease_question and p < 0 and r > 0:
            hit = _close(-p, pu, r, ru, rel_tol, allow_round)
            how += "+decrease_question"
        if hit is None and decrease_asked and not increase_word and p > 0 and r < 0:
            hit = _close(-p, pu, r, ru, rel_tol, allow_round)
            how += "+size_of_decrease"
        if hit is not None:
            return f"{how}:{hit}"
    return None


@lru_cache(maxsize=4096)
def question_unit(question: str | None) -> float | None:
    """The unit a question states for its answer ("in millions" → 1e6), if any."""
    if not question:
        return None
    m = _QUESTION_UNIT_RE.search(question)
    if m is None:
        return None
    word = next(g for g in m.groups() if g)
    return _QUESTION_UNITS.get(word.lower())


@lru_cache(maxsize=4096)
def question_allows_percent_units(question: str | None) -> bool:
    """Whether a bare gold may be a percentage without its sign: no question given, or one asking for a percent."""
    return question is None or _PERCENT_UNITS_Q_RE.search(question) is not None


@lru_cache(maxsize=4096)
def decrease_asked(question: str | None) -> bool:
    """True when the question asks for the size of a fall ("by how much did X decline"), not a signed change."""
    return (
        bool(question)
        and _DECREASE_ASK_RE.search(question) is not None  # type: ignore[arg-type]
        and _SIGNED_ASK_RE.search(question) is None  # type: ignore[arg-type]
    )


def context_direction(text: str) -> tuple[bool, bool]:
    """``(decrease, increase)`` words in the text around an answer (the line holding a box)."""
    dec = _DECREASE_CTX_RE.search(text.lower()) is not None
    return dec, not dec and says_increase(text)


def says_increase(text: str) -> bool:
    """Whether an answer says its number is a rise ("increased by 7.1%", "增长7.1%")."""
    return _INCREASE_RE.search(text.lower()) is not None


@lru_cache(maxsize=4096)
def decrease_question(question: str | None) -> bool:
    """True when the question asks for a decrease/decline (so "-5%" can answer "by how much did it fall")."""
    return bool(question) and _DECREASE_Q_RE.search(question) is not None  # type: ignore[arg-type]


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

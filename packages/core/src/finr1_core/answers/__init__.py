"""Final-answer extraction and rule-based matching: judge round 1, the GRPO accuracy reward and evaluation.

Pure Python (stdlib ``re`` and ``ast``), no symbolic fallback: ``math-verify`` is not called (it is slow,
signal-based and wrong on finance conventions; see ``bench/README.md``). Undecidable items return
``correct=None`` for a judge.

Public API::

    extract_answer(response) -> Extraction(text, rule)
    match_answer(prediction, reference, answer_type, *, choices=None, labels=None, question=None,
                 rel_tol=DEFAULT_REL_TOL) -> MatchResult(extracted, rule, correct, reason)

Rules
-----
Extraction (all types):
    1. Region: the ``<answer>…</answer>`` block, else the text after the last ``</think>``, else the whole
       response. The thinking is never graded; a ``<think>`` that never closes leaves nothing (wrong).
    2. The last brace-balanced ``\\boxed{…}``/``\\fbox{…}`` (``\\(\\boxed{..}\\)``, ``\\boxed{\\frac{a}{b}}``).
       Earlier boxes are tried only when a later one holds nothing of the needed type.
    3. Answer phrases, "final answer" ones first, each from the last: "Final Answer:", "the (correct)
       answer is", "Answer:", "the correct option is", "答案是/为/：", "正确答案", "判断：", "结论：", "故选",
       "应选", "答：", "正确的有", and a later "actually, it is …" correction. The answer is read at the
       start of the text after the phrase. A region that is one short line is also read whole ("选项C").
    4. Type-aware fallbacks: numeric → the last line with a number (years alone do not count; a closing remark
       such as "Note: …", "This assumes …" or a working line "Calculation: 8.1 ÷ 56.0" without a result is
       skipped while an earlier line has a number), else an English count word when the answer has no digits
       ("three segments"; Chinese numerals are not read); choice →
       the last choice *statement* in the last 1,500 characters ("故选B", "选项C正确", "对应选项A",
       "D is correct", "A、B、D 正确"), per-option verdict lines marking one option ✓/正确, a line that is only a
       letter, option texts tagged with their own letter ("货币资金（A）、应收账款（B）"), or the last sentence
       (or the one clause) of the final lines that affirms one option's text ("X不属于…。Y属于…。" → Y;
       "应该是Y吧，不是X" → Y); boolean → a line that opens with its verdict, else the last line with an
       explicit 正确/错误/true/false word, else a plain negated statement ("did not outperform") reads as no,
       else, for a yes/no question about one direction ("did revenue increase"), an answer that states one
       direction ("revenue grew …" → yes, "fell" → no); label → "Sentiment:"/"the sentiment is"/"情感倾向："
       phrases, then the last line naming a label synonym.
    Hedges are wrong: "12 or 15", "between 14% and 15%", "B or C" for a single-answer item.

numeric:
    * Written forms: ``1,234.5``, ``53,\\!382,\\!250``, ``1{,}234``, ``$``/``¥``/``USD``/``元``, ``\\%``,
      ``percent``, ``percentage points``, ``bps``, LaTeX spacing and ``\\text{}``, ``\\frac{a}{b}`` and ``a/b``,
      ``1.2e9``/``1.2 \\times 10^{9}``, accounting negatives ``(3.5)``/``(3.2)%``, "negative 3", full-width
      digits, scale words on either side (thousand/k, million/mn/M, billion/bn/B, trillion, 千, 万, 百万,
      千万, 亿, 万亿). The part after the last ``=``/``≈`` wins; a pure arithmetic expression is evaluated;
      "12 or 15" (different values offered as alternatives) is wrong.
    * Which number: the first in the span, except that a percent is preferred when the question asks for a
      percentage/ratio (or the gold is written with %), and a plain number is preferred when a question is
      given that does not.
    * Percent vs ratio: ``14.46%`` ≡ 0.1446, and ≡ a gold written in percent units (14.46) unless the
      question asks for something that is not a percentage (a P/E of 1.5 is not 1.5%). A bare number
      is read as a percent (14.46 ≡ 0.14464) only when the question asks for a percentage/ratio/rate/share/
      growth/margin (English or Chinese) or the gold is a fraction (|gold| < 1, a FinQA ``exe_ans``). So
      1200 never matches 12.
    * Scales: with an explicit scale on one side, the other (bare) side may be in thousands/万/millions/亿/
      billions ("$94 million" ≡ gold 94; "1.2 billion" ≡ 1200000000). A full figure with no scale word
      matches a bare gold that is exactly it divided by 1000, 10^6 or 10^9 ("94,000,000" ≡ 94 from a table
      in millions), never by other factors (1200 is not 12); a question saying "in millions" allows rounding.
    * Sign always matters, except where the answer itself says "decrease/decline/fell/less/下降/负增长" next to
      a positive number, also on the line around a box ("decreased by \\boxed{7.1\\%}") (≡ negative gold); where
      the question asks for a decrease and the answer is negative; and where the question asks for the size of
      a fall ("by what percentage did X decrease", not "what was the change") and the answer is positive and
      does not say it rose (FinQA's gold is new - old, so negative).
    * A question that names the gold's unit ("in millions", "单位：万元") decides explicit scales: "1229.5
      thousand" is not a gold of 1,229.5 "in millions"; "$1.23 billion" is.
    * Brackets: "(3.5)" is an accounting negative, but not a year ("Revenue (2019): 5,230") and not an aside in
      a sentence ("Half of the price (50%) was goodwill": a noun before, the sentence going on after).
    * Rounding-aware equality: each written number has the precision of its last digit (a numeric gold is
      exact). Two values match when they differ by at most half a unit of the coarser precision: gold "34%"
      vs 34.46 → match; gold "10%" vs 9.96% → match; "14.5%" vs 0.14464 → match. A *prediction* coarser
      than the gold must also be within ``ROUNDING_MAX_REL`` = 5% of it, so 0.1 is not 0.14464.
    * Relative tolerance on top: ``DEFAULT_REL_TOL`` = 0.2% (``rel_tol=``), about one unit in the fourth
      significant digit. The gold is exact, so this only has to absorb truncation and rounding of
      intermediate values in precise-looking answers (14.45% for 0.14464; 6.77% for 0.06757 after rounding
      $6.8 million first; 3,296 for 3297.67), which careful graders accept. Wider tolerances start to accept
      answers that are neither a rounding of the gold nor the same calculation (703 for 705.25, 94.3 for 94
      and 17.0 for 16.938 are 0.3-0.4% off and are marked wrong by careful graders); coarse answers are
      covered by the rounding rule instead, which is how Fin-R1's judge example "2 vs 1.98" (1%) matches.
choice:
    Letters as sets: ``\\boxed{B}``, "答案是 B", "(B)", "B. 资产负债表", "A, B and D", "ABD" (≡ A,B,D), lower case
    only when alone (``\\boxed{b}``). A set must equal the gold set (BD ≠ ABD); two letters for a
    single-answer item are wrong. The final statement wins over options merely discussed; a letter named to reject
    it ("C 错误", "C is wrong", "B，C选项是干扰项") is not chosen. "【答案】B" and "答案ABD" are answer phrases.
    With ``choices``, an answer written as the option's text (or the option's number) maps to its letter when
    unambiguous and not rejected ("不是资产负债表").
boolean:
    yes/no, true/false, correct/incorrect, 正确/错误, 对/错, 是/否, 合规/不合规, √/×; negated forms first
    (不正确, not correct); "是否" is never read as a verdict; "是" and "对" count only standing alone. Both
    verdicts at once ("Yes and no: …", "是也不是") are wrong.
label:
    Label ids and per-benchmark synonyms (``labels``); the first label named that is not negated ("not
    bearish", "no clear positive or negative tone": a negation covers a list joined by or/nor/and/、). Bare ids
    count only inside a box or after an answer phrase. A label whose synonyms hold positive/bullish,
    negative/bearish or neutral also accepts the Chinese words (正面/积极/利好/看涨, 负面/消极/利空/看跌,
    中性/中立). Without ``labels``, only an exact id match is decided.
text / code:
    Extracted, never decided (``correct=None``): route them to the judge. Empty answers are wrong.
"""

from finr1_core.answers.extract import Extraction, answer_region, extract_answer
from finr1_core.answers.match import ANSWER_TYPES, MatchResult, match_answer
from finr1_core.answers.numeric import DEFAULT_REL_TOL, ROUNDING_MAX_REL

__all__ = [
    "ANSWER_TYPES",
    "DEFAULT_REL_TOL",
    "ROUNDING_MAX_REL",
    "Extraction",
    "MatchResult",
    "answer_region",
    "extract_answer",
    "match_answer",
]

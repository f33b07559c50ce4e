"""Final-answer extraction and rule-based matching: judge round 1, the GRPO accuracy reward and evaluation.

Pure Python (stdlib ``re`` and ``ast``), no symbolic fallback: ``math-verify`` is not called (it is slow,
signal-based and wrong on finance conventions; see ``bench/README.md``). Undecidable items return
``correct=None`` for a judge.

Public API::

    match_item(response, item, *, rel_tol=DEFAULT_REL_TOL) -> MatchResult   # the one call for a record
    match_answer(prediction, reference, answer_type, *, choices=None, labels=None, question=None,
                 rel_tol=DEFAULT_REL_TOL) -> MatchResult(extracted, rule, correct, reason)
    extract_answer(response) -> Extraction(text, rule)
    is_formatted(text), answer_block(text), split_reasoning(text)   # the <think>/<answer> contract

Judge round 1, the GRPO accuracy reward and evaluation grade through :func:`match_item`, which reads the
item's gold, type, options, labels and *question* (never the prompt with its report text) the same way.

Rules
-----
Extraction (all types):
    1. Region (:mod:`finr1_core.answers.format`): the ``<answer>…</answer>`` block, else the text after the last
       ``</think>`` (junk before ``<think>`` is ignored), else the whole response. The thinking is never graded; a
       ``<think>`` that never closes leaves nothing (wrong), whatever number or letter the thinking names.
    2. A structured answer (``{"answer": …, "reasoning": …}``, also fenced, also invalid JSON such as
       ``"answer": 13,237.4``): its ``answer``/``final_answer`` field is the answer, read by the type's rules (a
       sentence "There was a decrease of 3 films" included); ``{"answer": null}`` commits to nothing.
    3. The last brace-balanced ``\\boxed{…}``/``\\fbox{…}`` (``\\(\\boxed{..}\\)``, ``\\boxed{\\frac{a}{b}}``).
       Earlier boxes are tried only when a later one holds nothing of the needed type.
    4. Answer phrases, "final answer" ones first, each from the last: "Final Answer:", "the (correct)
       answer is", "Answer:", "the correct option is", "答案是/为/：", "正确答案", "判断：", "结论：", "故选",
       "应选", "答：", "正确的有", and a later "actually, it is …" correction. The answer is read at the
       start of the text after the phrase. A phrase in a conditional sentence ("if the question meant …, the
       answer would be C") is tried after the others. A region that is one short line is also read whole.
    5. Type-aware fallbacks: numeric → the last line with a number (years alone do not count; a closing remark
       such as "Note: …", "This assumes …" or a working line "Calculation: 8.1 ÷ 56.0" without a result is
       skipped while an earlier line has a number), else, when the answer has no Arabic digits, Chinese numerals
       ("百分之十四点四六" = 14.46%, "三千五百万元") or an English count word ("three segments"); choice →
       the last choice *statement* in the last 1,500 characters ("故选B", "选项C正确", "对应选项A",
       "D is correct", "A、B、D 正确", "I choose option B"), per-option verdict lines marking one option
       ✓/正确, a line that is only a letter, option texts tagged with their own letter ("货币资金（A）、应收账款（B）"), or the last sentence
       (or the one clause) of the final lines that affirms one option's text ("X不属于…。Y属于…。" → Y;
       "应该是Y吧，不是X" → Y); boolean → a line that opens with its verdict, else the last line with an
       explicit 正确/错误/true/false word, else a plain negated statement ("did not outperform") reads as no,
       else, for a yes/no question about one direction ("did revenue increase"), an answer that states one
       direction ("revenue grew …" → yes, "fell" → no); label → "Sentiment:"/"the sentiment is"/"情感倾向："
       phrases, then the last line naming a label synonym.
    Hedges are wrong: "12 or 15", "12 or maybe 15", "between 14% and 15%", "B or C" for a single-answer item.

numeric:
    * Written forms: ``1,234.5``, ``53,\\!382,\\!250``, ``1{,}234``, ``$``/``¥``/``USD``/``元``, ``\\%``,
      ``percent``, ``percentage points``, ``bps``, LaTeX spacing and ``\\text{}``, ``\\frac{a}{b}`` and ``a/b``,
      ``1.2e9``/``1.2 \\times 10^{9}``, accounting negatives ``(3.5)``/``(3.2)%``, "negative 3", full-width
      digits, scale words on either side (thousand/k, million/mn/M, billion/bn/B, trillion, 千, 万, 百万,
      千万, 亿, 万亿). The part after the last ``=``/``≈`` wins; a pure arithmetic expression is evaluated;
      a bracket after the number that shows the working ("20 (computed as 120 - 100)") is dropped.
    * Which number: when a short answer holds several different values, the one a verb commits to ("2019
      revenue 120, 2018 revenue 100; the change is 20" → 20; of several, the last after "so"/";"/"因此", else
      the first); otherwise the first in the span, except that a percent is preferred when the question asks
      for a percentage/ratio (or the gold is written with %), and a plain number when a question is given
      that does not.
    * Percent vs ratio: ``14.46%`` ≡ 0.1446, and ≡ a gold written in percent units (14.46) unless the
      question asks for something that is not a percentage (a P/E of 1.5 is not 1.5%). A bare number
      is read as a percent (14.46 ≡ 0.14464) only with a percent cue: the question asks for a percentage/
      ratio/rate/share/growth/margin (English or Chinese), or the gold is written with %. A fraction gold
      alone is no cue (``\\boxed{7.323}`` is not 0.07323). So 1200 never matches 12.
    * Scales: with an explicit scale on one side, the other (bare) side may be in thousands/万/millions/亿/
      billions ("$94 million" ≡ gold 94; "1.2 billion" ≡ 1200000000). A full figure with no scale word
      matches a bare gold that is exactly it divided by 1000, 10^6 or 10^9 ("94,000,000" ≡ 94 from a table
      in millions), never by other factors (1200 is not 12); a question saying "in millions" allows rounding.
    * Sign always matters, and words state it: a fall stated in the number's own clause ("a decrease of 3",
      "fell by 5.2%", "5% lower", "下降了3%", also just before a box: "decreased by \\boxed{7.1\\%}") makes it
      negative, so it matches -3 and not 3, unless the question is about a fall, which may take its size; a
      stated rise keeps it positive. Without a stated direction, a fall word elsewhere in the span ("net loss
      of 12.3") lets a positive number stand for a negative gold; a question about a decrease lets a negative
      answer stand for its size; and a question asking for the size of a fall ("by what percentage did X
      decrease", not "what was the change") lets a positive answer stand for FinQA's new - old.
    * A question that names the gold's unit ("in millions", "单位：万元") decides explicit scales: "1229.5
      thousand" is not a gold of 1,229.5 "in millions"; "$1.23 billion" is.
    * Brackets: "(3.5)" is an accounting negative, but not a year ("Revenue (2019): 5,230") and not an aside in
      a sentence ("Half of the price (50%) was goodwill": a noun before, the sentence going on after).
    * Precision (one symmetric rule, see :mod:`finr1_core.answers.numeric` for it beside FinQA's official
      evaluator and DocMath-Eval's): two values match within ``DEFAULT_REL_TOL`` = 1% of the larger
      (``rel_tol=``); how many digits either side writes plays no part, so a coarse gold is no more lenient than
      a coarse prediction: "2" ≡ 1.98, "16.6%" ≡ 0.165; "25" ≢ 25.3, gold "25" ≢ 25.3, "14%" ≢ 0.14464, 2.6 ≢ a
      gold of 3.0. Only a question that states the precision ("round your answer to two decimal places",
      "保留两位小数") also accepts a prediction that rounds to a gold written at it (0.0131 for 0.01).
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
    Label ids and per-benchmark synonyms (``labels``); the first label *name* that is not negated wins over a
    numeric id beside it (FinMA-style "0 neutral" is neutral; a bare "14.7" is no label); negated ones never
    count ("not bearish", "no clear positive or negative tone": a negation covers a list joined by or/nor/and/、). Bare ids
    count only inside a box or after an answer phrase. A label whose synonyms hold positive/bullish,
    negative/bearish or neutral also accepts the Chinese words (正面/积极/利好/看涨, 负面/消极/利空/看跌,
    中性/中立). Without ``labels``, only an exact id match is decided.
text / code:
    Extracted, never decided (``correct=None``): route them to the judge. Empty answers are wrong.
"""

from finr1_core.answers.extract import Extraction, answer_region, extract_answer
from finr1_core.answers.format import answer_block, format_turn, is_formatted, split_reasoning, strip_trailing
from finr1_core.answers.item import as_choices, as_labels, item_question, match_item
from finr1_core.answers.match import ANSWER_TYPES, MatchResult, match_answer
from finr1_core.answers.numeric import DEFAULT_REL_TOL

__all__ = [
    "ANSWER_TYPES",
    "DEFAULT_REL_TOL",
    "Extraction",
    "MatchResult",
    "answer_block",
    "answer_region",
    "as_choices",
    "as_labels",
    "extract_answer",
    "format_turn",
    "is_formatted",
    "item_question",
    "match_answer",
    "match_item",
    "split_reasoning",
    "strip_trailing",
]

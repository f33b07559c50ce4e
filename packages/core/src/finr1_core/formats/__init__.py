"""Readers for the original published formats of the Fin-R1 datasets, prompt builders and decontamination.

Shared by ``finr1-distill`` (training splits) and ``finr1-evaluate`` (test/dev splits), so both read a dataset
the same way. Readers return plain records (:mod:`~finr1_core.formats.records`); prompt builders
(:mod:`~finr1_core.formats.prompts`) turn them into chat messages. Every reader raises a one-line
:class:`~finr1_core.errors.InputError` naming the file, the row and the field for a missing file, a missing
column or a malformed row.

=================  ==========================================================  ===========================
Dataset            Reader                                                      Layout
=================  ==========================================================  ===========================
FinQA              :func:`load_finqa`, :func:`read_finqa`                      official or simplified JSON
ConvFinQA          :func:`load_convfinqa`, :func:`read_convfinqa`              official conv/turn, PoT
TFNS               :func:`load_tfns`, :func:`read_tfns`                        ``text,label`` CSV
Ant_Finance        :func:`read_ant_finance`                                    ``Ant/<ability>/<task>.csv``
FinEval            :func:`read_fineval`                                        ``SUFE/<split>/*.csv`` + map
FinanceIQ          :func:`read_financeiq`                                      ``<split>/<exam>.csv``
FinCUGE            :func:`read_fincuge`                                        ``<task>/<split>_list.json``
Finance-Instr-500k :func:`read_fi500k`                                         system/user/assistant rows
FinanceQT          :func:`read_financeqt`                                      context/question/answer
FinCorpus          :func:`read_fincorpus`, :func:`parse_exam_text`            ``{"text", "meta"}`` JSONL
FinPEE             :func:`read_finpee`                                         local JSONL (documented)
=================  ==========================================================  ===========================
"""

from finr1_core.formats.convfinqa import load_convfinqa, parse_convfinqa_row, read_convfinqa
from finr1_core.formats.decontam import EvalIndex, ngram_hashes, normalize_text, tokens
from finr1_core.formats.evalindex import build_eval_index
from finr1_core.formats.exams import (
    TFNS_LABELS,
    TFNS_NAMES,
    load_tfns,
    read_ant_finance,
    read_financeiq,
    read_fineval,
    read_tfns,
    tfns_item,
    tfns_items,
)
from finr1_core.formats.fincuge import TASKS as FINCUGE_TASKS
from finr1_core.formats.fincuge import read_fincuge, read_fincuge_file
from finr1_core.formats.finqa import dedupe_by_id, load_finqa, parse_finqa_row, read_finqa
from finr1_core.formats.instruct import (
    content_id,
    fi500k_category,
    fi500k_item,
    fi500k_split,
    financeqt_item,
    parse_exam_text,
    read_fi500k,
    read_financeqt,
    read_fincorpus,
    read_finpee,
)
from finr1_core.formats.pot import ProgramError, evaluate_program
from finr1_core.formats.records import (
    ConvTurn,
    FinQARecord,
    Item,
    display_gold,
    format_number,
    gold_number,
    gold_text,
    report_page,
)

__all__ = [
    "FINCUGE_TASKS",
    "TFNS_LABELS",
    "TFNS_NAMES",
    "ConvTurn",
    "EvalIndex",
    "FinQARecord",
    "Item",
    "ProgramError",
    "build_eval_index",
    "content_id",
    "dedupe_by_id",
    "evaluate_program",
    "fi500k_category",
    "fi500k_item",
    "fi500k_split",
    "financeqt_item",
    "display_gold",
    "format_number",
    "gold_number",
    "gold_text",
    "load_convfinqa",
    "load_finqa",
    "load_tfns",
    "ngram_hashes",
    "normalize_text",
    "parse_convfinqa_row",
    "parse_exam_text",
    "parse_finqa_row",
    "read_ant_finance",
    "read_convfinqa",
    "read_fi500k",
    "read_financeiq",
    "read_financeqt",
    "read_fincorpus",
    "read_fincuge",
    "read_fincuge_file",
    "read_fineval",
    "read_finpee",
    "read_finqa",
    "read_tfns",
    "report_page",
    "tfns_item",
    "tfns_items",
    "tokens",
]

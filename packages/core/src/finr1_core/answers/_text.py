"""Shared text clean-up for answer spans (LaTeX, markdown, full-width characters)."""

from __future__ import annotations

import re

# Full-width digits and punctuation that Chinese outputs use; mapped once with str.translate.
_FULLWIDTH = str.maketrans(
    {
        **{chr(0xFF10 + i): str(i) for i in range(10)},
        **{chr(0xFF21 + i): chr(0x41 + i) for i in range(26)},
        **{chr(0xFF41 + i): chr(0x61 + i) for i in range(26)},
        "％": "%",
        "＄": "$",
        "（": "(",
        "）": ")",
        "．": ".",
        "＋": "+",
        "－": "-",
        "−": "-",  # U+2212 minus sign
        "＝": "=",
        "／": "/",
        "\u00a0": " ",
        "\u2009": " ",
        "\u202f": " ",
        "\u3000": " ",
    }
)

# \text{..}-like wrappers whose content is kept; one level of nested braces is enough in practice.
_WRAPPER_RE = re.compile(
    r"\\(?:text|textbf|textit|textrm|textnormal|mathrm|mathbf|mathit|mathsf|mathtt|mbox|operatorname|emph|bold"
    r"|boldsymbol|underline|fbox|boxed|displaystyle|hbox)\s*\{((?:[^{}]|\{[^{}]*\})*)\}"
)
_FRAC_RE = re.compile(r"\\[dtc]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_FRAC_SHORT_RE = re.compile(r"\\[dtc]?frac\s*(\d)\s*(\d)")
_LATEX_SPACES_RE = re.compile(r"\\[!,;:>]|\\(?:quad|qquad|thinspace|enspace)\b|\\ ")
_LATEX_SUBS = (
    ("\\%", "%"),
    ("\\$", "$"),
    ("{,}", ","),
    ("\\approx", "≈"),
    ("\\simeq", "≈"),
    ("\\sim", "~"),
    ("\\times", "×"),
    ("\\cdot", "×"),
    ("\\div", "÷"),
    ("\\left", ""),
    ("\\right", ""),
    ("\\(", " "),
    ("\\)", " "),
    ("\\[", " "),
    ("\\]", " "),
    ("\\{", "{"),
    ("\\}", "}"),
    ("\\neq", "≠"),
    ("\\ne ", "≠ "),
    ("\\geq", "≥"),
    ("\\leq", "≤"),
    ("\\checkmark", "✓"),
    ("\\textendash", "-"),
)


def normalize_span(text: str) -> str:
    """Return ``text`` with LaTeX wrappers, spacing macros, markdown emphasis and full-width forms removed.

    Thousands separators written as ``53,\\!382`` or ``1{,}234`` become ``53,382`` and ``1,234``;
    ``\\frac{a}{b}`` becomes ``(a)/(b)``; ``\\%`` becomes ``%``. Cheap enough to run on every span.
    """
    if not text:
        return ""
    s = text.translate(_FULLWIDTH)
    if "\\" in s or "{" in s:
        s = _LATEX_SPACES_RE.sub("", s)
        for old, new in _LATEX_SUBS:
            if old in s:
                s = s.replace(old, new)
        for _ in range(3):  # nested wrappers such as \textbf{\text{B}}
            new = _WRAPPER_RE.sub(r" \1 ", s)
            if new == s:
                break
            s = new
        if "frac" in s:
            for _ in range(2):
                s = _FRAC_RE.sub(_frac_repl, s)
            s = _FRAC_SHORT_RE.sub(r"\1/\2", s)
    if "*" in s or "`" in s:
        s = s.replace("**", " ").replace("__", " ").replace("`", " ")
    return s.strip()


_SIMPLE_NUM_RE = re.compile(r"\s*-?\d[\d,]*(?:\.\d+)?\s*")


def _frac_repl(m: re.Match[str]) -> str:
    num, den = m.group(1), m.group(2)
    # Plain numbers stay bare so that "(2424)" is not read as an accounting negative.
    if _SIMPLE_NUM_RE.fullmatch(num) and _SIMPLE_NUM_RE.fullmatch(den):
        return f"{num.strip()}/{den.strip()}"
    return f"({num})/({den})"


_WS_RE = re.compile(r"\s+")


def squash(text: str) -> str:
    """Collapse whitespace runs to one space and strip."""
    return _WS_RE.sub(" ", text).strip()

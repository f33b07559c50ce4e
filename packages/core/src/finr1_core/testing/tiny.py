"""Tiny random Qwen2 models with a locally trained tokenizer, for fast offline tests.

:func:`make_tiny_qwen2` writes a complete model folder (``config.json``, ``model.safetensors``,
``generation_config.json``, tokenizer files and TRL's ``qwen2_5.jinja`` chat template) that every
loader of transformers, TRL and vLLM treats like a real Qwen2.5 checkpoint, in well under two seconds.

The tokenizer is a byte-level BPE trained on a small finance-flavoured corpus shipped next to this
module. It is trained with exactly the pre-tokenisation pipeline that ``Qwen2Tokenizer`` rebuilds on
load (NFC, Qwen's split regex, ByteLevel without regex, ByteLevel decoder): ``AutoTokenizer`` picks
``Qwen2Tokenizer`` when ``config.json`` says ``model_type: qwen2`` and would otherwise produce
different ids than the raw ``tokenizer.json`` (TOOLING.md §3).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import random
from pathlib import Path
from typing import TYPE_CHECKING

from finr1_core.errors import MissingDependencyError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

_HERE = Path(__file__).resolve().parent
CORPUS_FILE = _HERE / "tiny_corpus.txt"
# A byte-identical copy of trl/chat_templates/qwen2_5.jinja, used only when trl is not installed
# (finr1-core's `models` extra has no trl); a test checks it still matches the installed trl.
_BUNDLED_TEMPLATE = _HERE / "qwen2_5.jinja"

ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
SPECIAL_TOKENS = (ENDOFTEXT, IM_START, IM_END)

SYSTEM_PROMPT = (
    "You are a helpful AI Assistant that provides well-reasoned and detailed responses. You first think about "
    "the reasoning process as an internal monologue and then provide the user with the answer. Respond in the "
    "following format: <think>\n...\n</think>\n<answer>\n...\n</answer>"
)


def _require_models_extra() -> None:
    missing = [m for m in ("torch", "transformers", "tokenizers") if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingDependencyError(f"tiny test models need {', '.join(missing)}: pip install 'finr1-core[models]'")


def qwen2_5_chat_template() -> str:
    """Return TRL's bundled ``qwen2_5.jinja`` chat template, byte for byte.

    Read from the installed ``trl`` package when there is one (without importing it), otherwise from
    the copy committed next to this module.
    """
    spec = importlib.util.find_spec("trl")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / "chat_templates" / "qwen2_5.jinja"
            if candidate.is_file():
                return candidate.read_bytes().decode("utf-8")
    return _BUNDLED_TEMPLATE.read_bytes().decode("utf-8")


def _generated_entries(rng: random.Random, count: int) -> list[str]:
    """Finance-style sentences, reasoning traces and ChatML conversations with varied numbers."""
    items = ["revenue", "net income", "operating income", "total assets", "free cash flow", "interest expense"]
    companies = ["the company", "the bank", "the insurer", "the fund", "the group"]
    entries: list[str] = []
    for i in range(count):
        year = rng.randint(2005, 2023)
        old = rng.randint(100, 99_999) / rng.choice((1, 10, 100))
        new = round(old * rng.uniform(0.5, 1.8), 2)
        change = (new - old) / old * 100
        item = rng.choice(items)
        who = rng.choice(companies)
        kind = i % 6
        if kind == 0:
            entries.append(f"In {year}, {who} reported {item} of ${old:,.2f} million, up from ${new:,} in {year - 1}.")
        elif kind == 1:
            entries.append(
                f"What is the percentage change in {item} from {year - 1} to {year} if it went from "
                f"{old:,} to {new:,}?"
            )
        elif kind == 2:
            entries.append(
                f"<think>\nThe {item} moved from {old} to {new}. The difference is {new - old:.2f}, "
                f"and {new - old:.2f} / {old} = {change / 100:.4f}.\n</think>\n"
                f"<answer>\nThe change is \\boxed{{{change:.1f}\\%}}.\n</answer>"
            )
        elif kind == 3:
            letter = rng.choice("ABCD")
            entries.append(
                f"{IM_START}system\n{SYSTEM_PROMPT}{IM_END}\n{IM_START}user\nWhich option gives {item} in {year}? "
                f"A. {old} B. {new} C. {old + 1:.1f} D. {new * 2:.1f}{IM_END}\n{IM_START}assistant\n<think>\n"
                f"The table shows {item} in {year}; option {letter} matches.\n</think>\n<answer>\n"
                f"\\boxed{{{letter}}}\n</answer>{IM_END}\n{ENDOFTEXT}"
            )
        elif kind == 4:
            ratio = old / max(new, 0.01)
            entries.append(f"ratio = {old} / {new}\nprint(round(ratio, 4))  # {ratio:.4f}\n")
        else:
            entries.append(f"{who.capitalize()}的{year}年净利润为{old:,.1f}万元，同比变化{change:+.1f}%。")
    return entries


@functools.lru_cache(maxsize=4)
def _trained_tokenizer_json(vocab_size: int, seed: int) -> str:
    """Train the byte-level BPE once per process (deterministic for a given corpus, size and seed)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    seeds = [
        line
        for line in CORPUS_FILE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("# ")
    ]
    corpus = seeds + ["\n".join(seeds)] + _generated_entries(random.Random(seed), 3000)

    # Exactly the pipeline Qwen2Tokenizer rebuilds on load (transformers/models/qwen2/tokenization_qwen2.py),
    # so ids agree whichever tokenizer class a loader picks.
    tokenizer = Tokenizer(
        models.BPE(
            unk_token=None, continuing_subword_prefix="", end_of_word_suffix="", fuse_unk=False, byte_fallback=False
        )
    )
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    return tokenizer.to_str()


def make_tiny_tokenizer(vocab_size: int = 3000, seed: int = 0) -> PreTrainedTokenizerBase:
    """Build the tiny Qwen2-compatible tokenizer (eos ``<|im_end|>``, pad ``<|endoftext|>``, no bos).

    Args:
        vocab_size: Target BPE vocabulary size including the three special tokens (the corpus may
            support fewer merges; the result is then smaller).
        seed: Seed of the numeric templates that extend the corpus.

    Returns:
        A ``PreTrainedTokenizerFast`` carrying TRL's ``qwen2_5.jinja`` chat template.
    """
    _require_models_extra()
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(_trained_tokenizer_json(vocab_size, seed)),
        eos_token=IM_END,
        pad_token=ENDOFTEXT,
        unk_token=None,
        bos_token=None,
        model_max_length=32768,
        clean_up_tokenization_spaces=False,
    )
    tokenizer.chat_template = qwen2_5_chat_template()
    return tokenizer


def make_tiny_qwen2(
    path: str | Path,
    hidden_size: int = 64,
    intermediate_size: int | None = None,
    num_hidden_layers: int = 2,
    num_attention_heads: int = 4,
    num_key_value_heads: int = 2,
    vocab_size: int = 3000,
    max_position_embeddings: int = 32768,
    seed: int = 0,
) -> Path:
    """Write a tiny random Qwen2 causal LM with its tokenizer, chat template and generation config.

    The defaults give about 0.27 M parameters (1.3 MB). Use ``hidden_size=128`` for vLLM smoke tests
    (its kernels need a head dimension of at least 32). The same arguments always give the same
    weights and tokenizer.

    Args:
        path: Output folder (created; existing files of the same names are overwritten).
        hidden_size: Model width.
        intermediate_size: MLP width; defaults to ``2 * hidden_size``.
        num_hidden_layers: Number of decoder layers.
        num_attention_heads: Query heads (must divide ``hidden_size``).
        num_key_value_heads: Key/value heads (must divide ``num_attention_heads``).
        vocab_size: Target BPE vocabulary size (see :func:`make_tiny_tokenizer`).
        max_position_embeddings: Context length written to the config.
        seed: Seed for the corpus templates and the random weights.

    Returns:
        ``path`` as a :class:`~pathlib.Path`, loadable with ``from_pretrained``.
    """
    _require_models_extra()
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = make_tiny_tokenizer(vocab_size=vocab_size, seed=seed)
    eos_id = _token_id(tokenizer, IM_END)
    pad_id = _token_id(tokenizer, ENDOFTEXT)

    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or 2 * hidden_size,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=num_attention_heads,
        num_key_value_heads=num_key_value_heads,
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        dtype="float32",
    )
    # Seed a private generator state so building a model never disturbs the caller's RNG.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(bos_token_id=None, eos_token_id=eos_id, pad_token_id=pad_id)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    _mark_as_qwen2_tokenizer(path)
    logger.debug("tiny qwen2 written to %s (%d parameters)", path, model.num_parameters())
    return path


def _token_id(tokenizer: PreTrainedTokenizerBase, token: str) -> int:
    token_id = tokenizer.convert_tokens_to_ids(token)
    if not isinstance(token_id, int):
        raise TypeError(f"{token!r} is not one token of the tiny tokenizer")
    return token_id


def _mark_as_qwen2_tokenizer(path: Path) -> None:
    """Name ``Qwen2Tokenizer`` in ``tokenizer_config.json``, as real Qwen2.5 checkpoints do."""
    config_file = path / "tokenizer_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config["tokenizer_class"] = "Qwen2Tokenizer"
    config_file.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

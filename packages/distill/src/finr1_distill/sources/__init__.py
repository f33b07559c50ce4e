"""Source adapters: read each Fin-R1 dataset's original format into :class:`~finr1_core.schemas.SourceItem`.

``SOURCES`` maps a name to its adapter; :func:`get_source` also accepts ``fincuge:<task>[,<task>]``. Each adapter
has ``name``, ``category``, ``language``, ``answer_type``, ``hub_id`` and ``description``, and
``load(data=None, *, split="train", limit=None, samples=False, hub_id=None)`` yielding items with stable ids
``<source>/<original id>`` and the prompt shapes of RECIPE.md §2 (no system turn). :func:`sample_path` gives the
small sample shipped for each source; :func:`decontaminate` drops items found in evaluation sets
(build the index with :func:`build_eval_index`).
"""

from finr1_core.formats.evalindex import build_eval_index
from finr1_distill.sources.adapters import SOURCES, get_source
from finr1_distill.sources.base import OFFLINE_SAMPLES_ENV, SourceAdapter, sample_path
from finr1_distill.sources.command import sources_command
from finr1_distill.sources.decontaminate import decontaminate, item_text

__all__ = [
    "OFFLINE_SAMPLES_ENV",
    "SOURCES",
    "SourceAdapter",
    "build_eval_index",
    "decontaminate",
    "get_source",
    "item_text",
    "sample_path",
    "sources_command",
]

"""The methods registry: every row a study compares, one entry each, in table order.

Standard library only: the workflow imports it as it imports the corpus registry. A method
starts from no backbone (logmel), from the recipe's initial backbone (probe, V-FT), or from that
backbone continued by a stage-3 objective of the same name on each fold's training audio (TAPT,
P-TAPT). A new stage-3 method is its objective module (stage3.OBJECTIVES), its entry here, and
its schema section (and its name in the schema's `methods` enum, which a test keeps in step).
"""

from __future__ import annotations

from dataclasses import dataclass, field

NO_BACKBONE, INITIAL, CONTINUED = "no backbone", "initial backbone", "continued backbone"


@dataclass(frozen=True)
class Method:
    name: str
    title: str  # its row in tables and figures
    start: str  # NO_BACKBONE, INITIAL or CONTINUED
    reference: bool = False  # a reference row, not one of the methods a study compares
    finetune: dict = field(default_factory=dict)  # set on top of the recipe's finetune section
    # Stage-3 methods (start CONTINUED) only:
    unlabelled_audio: bool = False  # every training utterance, labelled or not
    pseudo_labels: bool = False  # stage 2's cluster ids of the fold are its targets
    keep_pretraining_head: bool = False  # saves the quantizer too, so it can be continued


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("logmel", "Log-mel statistics + LR", NO_BACKBONE, reference=True),
        Method(
            "probe",
            "wav2vec 2.0 w/o FT (probe)",
            INITIAL,
            reference=True,
            finetune={"mode": "frozen", "layer_weights": True},
        ),
        Method("vft", "V-FT", INITIAL),
        Method("tapt", "TAPT", CONTINUED, unlabelled_audio=True, keep_pretraining_head=True),
        Method("ptapt", "P-TAPT", CONTINUED, pseudo_labels=True),
    )
}


def names(start: str | None = None) -> list[str]:
    """Every method in table order, or those that start from `start`."""
    return [m.name for m in METHODS.values() if start is None or m.start == start]


def fine_tuned() -> list[str]:
    """The methods stage 4 trains (all but those without a backbone)."""
    return [m.name for m in METHODS.values() if m.start != NO_BACKBONE]


def compared() -> list[str]:
    """The methods a study compares, reference rows aside; the first is plain fine-tuning."""
    return [m.name for m in METHODS.values() if not m.reference]


def has_backbone(name: str) -> bool:
    """Whether its runs fine-tune a backbone (a method this version does not know: yes)."""
    return name not in METHODS or METHODS[name].start != NO_BACKBONE


def title(name: str) -> str:
    """Its row title; a method this version does not know keeps its name."""
    return METHODS[name].title if name in METHODS else name


def rank(name: str) -> tuple[int, str]:
    """Sort key: table order, then methods this version does not know, by name."""
    order = list(METHODS)
    return (order.index(name) if name in order else len(order), name)

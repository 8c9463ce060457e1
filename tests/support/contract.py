"""The intent ids of the shipped knowledge file: a contract with evaluation sets written
outside the project (see ../shared/README.md). Other knowledge files use ids of their own."""

from __future__ import annotations

INTENT_IDS: tuple[str, ...] = (
    "cso_vs_cmo", "cso_role", "cso_responsibilities", "cmo_role", "cmo_responsibilities",
    "cso_skills", "cmo_skills", "collaboration", "collaboration_tips", "when_needed",
    "small_business", "summary", "contact", "greeting", "thanks", "goodbye", "help",
)  # fmt: skip

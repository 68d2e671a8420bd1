"""Panels of the annotation window that live in their own modules (synthesis, AI mask drafts)."""

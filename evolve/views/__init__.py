"""What users see of a running search: ``progress`` (the state, kept by the loop) and
``dashboard`` (a rich Live view on a terminal, plain lines elsewhere). Nothing here
computes search state; it only renders it."""

from evolve.views.dashboard import Dashboard, PlainLog
from evolve.views.progress import CandidateRow, RunProgress

__all__ = ["CandidateRow", "Dashboard", "PlainLog", "RunProgress"]

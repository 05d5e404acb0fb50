"""Job names and their arguments: ids only, never profile data.

The API enqueues by name, so it never imports worker code.
"""

from __future__ import annotations

SCORE_EVENT = "score_event"
SCORE_PROFILE = "score_profile"
RESCORE_ALL = "rescore_all"
RESCORE_CHUNK = "rescore_chunk"
RESCORE_FINISH = "finish_rescore"
RESCORE_INDEX = "index_rescore_part"

# The outbox kind each job name serves.
JOB_FOR_KIND = {"event": SCORE_EVENT, "profile": SCORE_PROFILE, "rescore": RESCORE_ALL}


def job_id(prefix: str, kind: str, outbox_id: int) -> str:
    """Deterministic per outbox row: a retry never duplicates, a later change never collides.

    arq keys jobs globally (`arq:job:<id>`), so the id carries the deployment's prefix.
    """
    return f"{prefix}:{kind}:{outbox_id}"


# A full re-score's steps are keyed by their run: each is queued at most once at a time.
def chunk_job_id(prefix: str, run_id: int, chunk_no: int) -> str:
    return f"{prefix}:rescore-chunk:{run_id}:{chunk_no}"


def finish_job_id(prefix: str, run_id: int) -> str:
    return f"{prefix}:rescore-finish:{run_id}"


def index_job_id(prefix: str, run_id: int, chunk_no: int) -> str:
    return f"{prefix}:rescore-index:{run_id}:{chunk_no}"

"""Many recordings at once: ``reaction batch`` on a ``dask.distributed`` cluster.

One task per video (splitting a video would break viewer identities), each
running exactly what ``reaction analyze`` runs. Needs the ``batch`` extra
(``pip install 'reaction[batch]'``); the rest of the package never imports dask.
"""

from .jobs import Job, read_jobs
from .runner import BatchResult, run_batch

__all__ = ["BatchResult", "Job", "read_jobs", "run_batch"]

"""Benchmark harness: synthetic audience, accuracy and throughput measurement.

The tracker's linear algebra is tiny (a 4x4 inverse per face per frame); a
multi-threaded OpenBLAS spends far longer waking its threads than computing,
and on a shared 2-core machine that swamps the numbers (measured here: 26 ms
vs 2.6 ms per 30-face tracker update). Benchmarks therefore run numpy's BLAS
single-threaded unless the caller set ``OPENBLAS_NUM_THREADS``; this must
happen before numpy is first imported. MXNet's own OpenMP threads are left
alone.
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

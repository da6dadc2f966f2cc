"""Serve one GGUF model with llama.cpp (xllamacpp) on loopback: ``python -m ... MODEL THREADS CTX``.

Started by ``evolve.proposers.llm.local_model``; prints the listening address on its first
line, serves one request at a time (one slot: a CPU model serves requests no faster in
parallel, and queued requests would time out), and exits when its stdin closes, which
happens when the run that started it ends, however it ends.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    import xllamacpp as xlc

    path, threads, context = argv[0], int(argv[1]), int(argv[2])
    params = xlc.CommonParams()
    params.model.path = path
    params.n_ctx = context
    params.n_parallel = 1
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.hostnames = ["127.0.0.1"]
    params.port = 0
    params.endpoint_slots = True
    params.endpoint_metrics = True
    server = xlc.Server(params)
    print(server.listening_address, flush=True)
    sys.stdin.read()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

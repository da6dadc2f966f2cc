"""First program in a docker sandbox container: connect the channels, set limits, exec the worker.

Runs inside the container as the worker's unprivileged uid, from the read-only ``/sandbox``
mount. A container cannot inherit the trusted side's pipes, so the channels are unix
sockets in the bind-mounted ``IPC_DIR``: ``output.sock`` becomes stdout and stderr,
``protocol.sock`` becomes fd 3 (both the request and the reply fd of
``worker_main.py``). Then the resource limits are set (lowering needs no privilege) and
the worker program replaces this one, so no code of ours runs beside the candidate.

Usage: ``container_shim.py IPC_DIR RLIMITS_JSON MODULE MAX_REQUEST_BYTES MAX_REPLY_HEADER_BYTES``.
"""

import json
import os
import resource
import socket
import sys

PROTOCOL_FD = 3


def main(argv):
    ipc_dir, rlimits, module, max_request, max_header = argv
    output = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    output.connect(os.path.join(ipc_dir, "output.sock"))
    os.dup2(output.fileno(), 1)
    os.dup2(output.fileno(), 2)
    output.close()
    protocol = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    protocol.connect(os.path.join(ipc_dir, "protocol.sock"))
    if protocol.fileno() == PROTOCOL_FD:
        os.set_inheritable(PROTOCOL_FD, True)
        protocol.detach()  # keep the fd open past the socket object
    else:
        os.dup2(protocol.fileno(), PROTOCOL_FD)
        protocol.close()
    os.makedirs(os.environ["TMPDIR"], mode=0o700, exist_ok=True)  # inside the tmpfs scratch
    for which, soft, hard in json.loads(rlimits):
        resource.setrlimit(which, (soft, hard))
    fd = str(PROTOCOL_FD)
    worker = ["/sandbox/worker_main.py", fd, fd, f"/sandbox/{module}.py", module, max_request, max_header]
    os.execv(sys.executable, [sys.executable, "-S", "-P", "-B", "-X", "faulthandler", *worker])


if __name__ == "__main__":
    main(sys.argv[1:])

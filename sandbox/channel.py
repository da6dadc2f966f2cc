"""The trusted side's end of a worker's pipes: framed requests and replies under a deadline,
and a bounded capture of the worker's stdout/stderr.

One ``poll`` loop watches the reply pipe, the output pipe, the request pipe (while a large
request is still being written) and a pidfd for the worker's exit. Watching everything at
once is what makes the deadline hold: a worker that floods its output while we wait for a
reply cannot fill the pipe and stall, a worker that stops reading a large request cannot
block our write, and a worker that dies is noticed even when a daemon it forked still holds
the reply pipe open (so no EOF ever arrives). All fds are non-blocking; nothing here
blocks past the deadline.

Everything read from the worker is untrusted: frame sizes are checked against
``max_message_bytes`` and header sizes against ``max_header_bytes`` before allocating (the
JSON parser cannot be interrupted, so the header it may be given is kept small), and output
beyond its cap is counted, not kept.
"""

from __future__ import annotations

import math
import os
import select
import time
from typing import Any

from sandbox import wire

_READ_CHUNK = 1 << 16
_EXIT_GRACE_S = 1.0  # after EOF on the reply pipe, how long to wait for the worker's exit


class ChannelTimeout(Exception):
    """The deadline passed before a whole reply arrived."""


class WorkerExited(Exception):
    """The worker process exited before a whole reply arrived."""


class OutputFlood(Exception):
    """The worker wrote more stdout/stderr than the capture's limit."""


class ProtocolError(Exception):
    """The worker broke the protocol: closed its reply pipe while alive, or sent garbage."""


class OutputCapture:
    """The last ``limit`` bytes of the worker's stdout+stderr, and a count of all of them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.total = 0
        self._tail = bytearray()

    @property
    def exceeded(self) -> bool:
        return self.total > self.limit

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        self._tail += data
        if len(self._tail) > self.limit:
            del self._tail[: len(self._tail) - self.limit]

    def text(self) -> str:
        return self._tail.decode("utf-8", errors="replace")


class Channel:
    """Request/reply over a worker's pipes; the fds are owned (and closed) by the channel."""

    def __init__(
        self,
        *,
        pid: int,
        request_fd: int,
        reply_fd: int,
        output_fd: int,
        max_message_bytes: int,
        output: OutputCapture,
        max_header_bytes: int | None = None,
    ) -> None:
        self.pid = pid
        self.request_fd = request_fd
        self.reply_fd = reply_fd
        self.output_fd: int | None = output_fd
        self.max_message_bytes = max_message_bytes
        self.max_header_bytes = max_header_bytes
        self.output = output
        self.exited = False
        for fd in (request_fd, reply_fd, output_fd):
            os.set_blocking(fd, False)
        try:
            self._pidfd: int | None = os.pidfd_open(pid)
        except (AttributeError, OSError):  # old kernel: fall back to polling waitid
            self._pidfd = None
        self._poller = select.poll()
        for fd in (reply_fd, output_fd, self._pidfd):
            if fd is not None:
                self._poller.register(fd, select.POLLIN)
        self._pending = bytearray()  # reply bytes read but not yet part of a frame
        self._body: bytearray | None = None  # the frame being received, once its prefix is known
        self._header_len = 0
        self._got = 0

    def exchange(self, buffers: list[bytes | memoryview], deadline: float) -> tuple[dict[str, Any], Any]:
        """Send one request frame and return the next reply frame as ``(meta, value)``."""
        outgoing = [memoryview(b).cast("B") for b in buffers if len(b)]
        self._send(outgoing)
        if not outgoing:  # the usual case: the whole request fitted in the pipe
            return self.receive(deadline)
        self._poller.register(self.request_fd, select.POLLOUT)
        try:
            return self.receive(deadline, outgoing)
        finally:
            if outgoing:  # else already unregistered by receive
                self._poller.unregister(self.request_fd)

    def receive(self, deadline: float, outgoing: list[memoryview] | None = None) -> tuple[dict[str, Any], Any]:
        """Wait until ``deadline`` (monotonic) for one reply frame, draining output meanwhile.

        Raises ChannelTimeout, WorkerExited, OutputFlood, ProtocolError, or wire.WireError
        (wire.MessageTooLarge for an oversized frame, wire.HeaderRefused for a header over
        its cap or failing the structural check).
        """
        readable = bool(self._pending)
        while True:
            if readable or self.exited:
                try:
                    frame = self._read_reply()
                except EOFError:
                    if self._await_exit(min(deadline, time.monotonic() + _EXIT_GRACE_S)):
                        raise WorkerExited from None
                    raise ProtocolError("the worker closed its reply pipe") from None
                if frame is not None:
                    return frame
            if self.exited:
                raise WorkerExited
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ChannelTimeout
            wait_ms = math.ceil(remaining * 1000)
            readable = False
            for fd, _ in self._poller.poll(wait_ms if self._pidfd is not None else min(wait_ms, 50)):
                if fd == self.reply_fd:
                    readable = True
                elif fd == self.output_fd:
                    self.drain_output()
                elif fd == self._pidfd:
                    self.exited = True
                elif fd == self.request_fd and outgoing:
                    self._send(outgoing)
                    if not outgoing:  # sent, or the pipe broke: stop watching (POLLERR would spin)
                        self._poller.unregister(self.request_fd)
            if self._pidfd is None and not self.exited:
                self.exited = _has_exited(self.pid)
            if self.exited:
                self.drain_output()  # its last words, before judging why it died
            if self.output.exceeded:
                raise OutputFlood

    def drain_output(self) -> None:
        """Read whatever output is waiting, without blocking."""
        while self.output_fd is not None:
            try:
                data = os.read(self.output_fd, _READ_CHUNK)
            except BlockingIOError:
                return
            if not data:  # every writer closed it; nothing more can come
                self._poller.unregister(self.output_fd)
                os.close(self.output_fd)
                self.output_fd = None
                return
            self.output.feed(data)
            if self.output.exceeded:
                return

    def close(self) -> None:
        for fd in (self.request_fd, self.reply_fd, self.output_fd, self._pidfd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.output_fd = self._pidfd = None

    def _send(self, outgoing: list[memoryview]) -> None:
        """Write as much of ``outgoing`` as the pipe takes now, consuming it from the front."""
        while outgoing:
            try:
                written = os.writev(self.request_fd, outgoing[:64])
            except BlockingIOError:
                return
            except BrokenPipeError:  # the worker closed its end or died: the pidfd will tell
                outgoing.clear()
                return
            while written and written >= len(outgoing[0]):
                written -= len(outgoing.pop(0))
            if written:
                outgoing[0] = outgoing[0][written:]

    def _read_reply(self) -> tuple[dict[str, Any], Any] | None:
        """Advance the frame being received; return it when complete, None when it needs more."""
        while True:
            if self._body is None:
                if len(self._pending) < wire.PREFIX.size:
                    chunk = self._read(self.reply_fd, _READ_CHUNK)
                    if chunk is None:
                        return None
                    self._pending += chunk
                    continue
                prefix = self._pending[: wire.PREFIX.size]
                self._header_len, data_len = wire.parse_prefix(prefix, self.max_message_bytes, self.max_header_bytes)
                size = self._header_len + data_len
                start = wire.PREFIX.size
                self._got = min(size, len(self._pending) - start)
                self._body = bytearray(size)
                self._body[: self._got] = self._pending[start : start + self._got]
                del self._pending[: start + self._got]
            if self._got < len(self._body):
                try:
                    n = os.readv(self.reply_fd, [memoryview(self._body)[self._got :]])
                except BlockingIOError:
                    return None
                if n == 0:
                    raise EOFError
                self._got += n
                continue
            body, self._body = self._body, None
            return wire.decode_body(body, self._header_len, name="result")

    @staticmethod
    def _read(fd: int, size: int) -> bytes | None:
        try:
            data = os.read(fd, size)
        except BlockingIOError:
            return None
        if not data:
            raise EOFError
        return data

    def _await_exit(self, until: float) -> bool:
        """Whether the worker exits before ``until``: tells a death from a closed pipe."""
        while not self.exited:
            remaining = until - time.monotonic()
            if remaining <= 0:
                return False
            if self._pidfd is not None:
                self.exited = bool(select.select([self._pidfd], [], [], remaining)[0])
            else:
                time.sleep(min(remaining, 0.01))
                self.exited = _has_exited(self.pid)
        return True


def _has_exited(pid: int) -> bool:
    """Whether child ``pid`` has exited, without reaping it (pidfd-less fallback)."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None

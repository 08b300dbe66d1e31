"""Who may write a run directory: one process at a time, under an exclusive lock."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from bench.errors import BenchError
from bench.rundir import layout as art

LOCK_FILE = "bench.lock"


class RunLock:
    """An exclusive lock on a run directory, held for as long as a command writes there.

    `flock` on ``bench.lock``: the kernel drops it when its holder dies, so a lock left by a
    dead process is simply taken over; a live holder is named by its pid.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self.path = self.root / LOCK_FILE
        self.fd: int | None = None

    def __enter__(self) -> "RunLock":
        import fcntl

        art.ensure_dir(self.root)
        while True:
            try:
                # O_NOFOLLOW: a link named bench.lock must not make us create or truncate a file elsewhere.
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise art.not_regular(self.path, stat.S_IFLNK) from None
                raise art.os_error(self.path, exc) from None
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                os.close(fd)
                raise art.not_regular(self.path, mode)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise art.os_error(self.path, exc) from None
                raise BenchError(f"run directory {self.root} is in use by another bench process (pid {holder}, "
                                 f"lock {self.path}); wait for it to finish or choose another --artifacts") from None
            # The previous holder may have removed the file between our open and our lock: retry on the new one.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        try:
            # Every writer checks the whole directory once it holds it: no link or special file below it.
            art.check_tree(self.root)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            self.path.unlink(missing_ok=True)
            os.close(self.fd)
            self.fd = None

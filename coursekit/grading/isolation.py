"""How each graded kernel is isolated: decided once per batch, applied per kernel.

``Isolation`` finds out, at run time, what this machine offers (bubblewrap,
a cgroup, an unprivileged user for the sandbox) and refuses to start when
``--sandbox require`` was asked and the sandbox is missing. For each kernel,
``confine()`` gives a ``Confinement``: the command wrapped in the sandbox, a
clean environment, what runs between fork and exec (cgroup, rlimits, user),
and how to kill whatever is left at the end. Every result records
``Confinement.mechanisms``: which of them applied.

Without bubblewrap (macOS, a container without user namespaces) a kernel
still gets what can be had: rlimits, a cgroup where one can be made, a user
of its own when the grader runs as root, a session of its own, and a
read-only copy of the course. That is weaker, and every row says so.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from coursekit.grading import limits as limits_module
from coursekit.grading.course_view import CourseView
from coursekit.grading.limits import Cgroup, ResourceLimits
from coursekit.grading.sandbox import Bubblewrap, SandboxUnavailable, bubblewrap
from coursekit.grading.submission_redis import (
    RedisUnavailable,
    SubmissionRedis,
    find_redis_server,
)

__all__ = [
    "MODES",
    "Confinement",
    "Isolation",
    "IsolationError",
    "IsolationSummary",
    "remove_tree",
]

#: ``--sandbox``: use bubblewrap when it works (auto), insist on it
#: (require), or do without (off: only for machines where it misbehaves).
MODES = ("auto", "require", "off")

#: Environment variable naming one kernel's processes, for the fallback's
#: final sweep (a detached process keeps it).
MARK = "COURSEKIT_SANDBOX"

#: The range a root grader picks each kernel's own user id from: far above
#: any real account, so the kernel owns nothing on the machine but its
#: folder, cannot signal another kernel, and its process count is its own.
_UID_RANGE = (2_000_000_000, 2_100_000_000)


class IsolationError(RuntimeError):
    """Grading cannot be isolated as asked; the message says why."""


@dataclass(frozen=True)
class IsolationSummary:
    """What isolates the submissions of a batch, as printed and recorded."""

    full: bool
    mechanisms: tuple[str, ...]
    #: What is missing, each with its reason (empty when ``full``).
    missing: tuple[str, ...] = ()

    def banner(self) -> str:
        """The line the grader prints first; loud when isolation is weaker."""
        if self.full:
            return "isolation: full (" + ", ".join(self.mechanisms) + ")"
        return (
            "WARNING: isolation is WEAKER than it should be: "
            + "; ".join(self.missing)
            + ". A submission could read other submissions or the hidden "
            "checks, change the course's files or --out, signal the grader "
            "and reach the network. Applied: "
            + ", ".join(self.mechanisms)
            + ". Use --sandbox require to refuse grading without the sandbox."
        )


class Isolation:
    """The isolation of one batch: what the machine can do, for one chapter."""

    def __init__(
        self,
        *,
        mode: str = "auto",
        base: int = 0,
        resources: ResourceLimits | None = None,
        env: Mapping[str, str] | None = None,
        redis: bool = False,
    ) -> None:
        """
        Args:
            mode: one of ``MODES``.
            base: the reference chapter the exercise builds on.
            resources: the limits for each kernel.
            env: variables every kernel gets on top of the clean environment.
            redis: give each kernel a Redis of its own (``submission_redis``),
                in ``REDIS_URL``, for a chapter whose checks look into it.

        Raises:
            IsolationError: ``mode="require"`` and bubblewrap cannot run here,
                or ``redis`` and redis-server is not installed.
        """
        if mode not in MODES:
            raise IsolationError(f"--sandbox must be one of {', '.join(MODES)}")
        self.redis = redis
        if redis:
            try:
                find_redis_server()
            except RedisUnavailable as exc:
                raise IsolationError(f"{exc}; nothing was graded") from None
        self.mode = mode
        self.resources = resources or ResourceLimits()
        self.view = CourseView.for_base(base)
        self.extra_env = dict(env or {})
        self.box: Bubblewrap | None = None
        self.missing: list[str] = []
        if mode == "off":
            self.missing.append("the sandbox is off (--sandbox off)")
        else:
            try:
                self.box = bubblewrap()
            except SandboxUnavailable as exc:
                if mode == "require":
                    raise IsolationError(
                        f"--sandbox require: {exc}; nothing was graded"
                    ) from None
                self.missing.append(str(exc))
        self.root = os.geteuid() == 0
        #: Whether each kernel runs as a user of its own (root graders only;
        #: without the sandbox, only if that user can run this Python).
        self.own_user = self.root and (
            self.box is not None or _other_user_runs_python()
        )
        if self.root and not self.own_user:
            self.missing.append(
                "kernels run as root: this Python cannot be run by another "
                f"user ({sys.executable} is not readable by all)"
            )
        probe = Cgroup.create(self.resources)
        self.cgroups = probe is not None
        if probe is not None:
            probe.remove()
        if not self.cgroups and not self.root and self.box is None:
            self.missing.append(
                "no cgroup can be made here, so memory is limited per process "
                "(address space) and processes per user"
            )

    @property
    def summary(self) -> IsolationSummary:
        """What applies to every kernel of this batch."""
        return IsolationSummary(
            full=self.box is not None,
            mechanisms=tuple(self._mechanisms(cgroup=self.cgroups)),
            missing=tuple(self.missing),
        )

    def _mechanisms(self, *, cgroup: bool) -> list[str]:
        found: list[str] = []
        if self.box is not None:
            found += [
                self.box.version,
                "read-only course and environment",
                f"reference chapters 1-{self.view.base} only"
                if self.view.base
                else "no reference chapters",
                "private folder",
                "own PID namespace",
                "no network",
                "no capabilities",
            ]
        else:
            found += [
                "read-only copy of the course on PYTHONPATH",
                "own session",
            ]
        if self.own_user:
            found.append("own user id")
        if cgroup:
            found += ["cgroup memory", "cgroup processes"]
        else:
            found.append("rlimit memory (address space)")
            if self.own_user or not self.root:
                found.append("rlimit processes")
        found += ["rlimit cpu", "rlimit file size", "disk watched", "clean environment"]
        if self.redis:
            found.append("own Redis on a Unix socket")
        return found

    def confine(self, folder: Path) -> Confinement:
        """The confinement of one kernel whose own files go in ``folder``.

        ``folder`` (made by the caller, empty) gets ``box/`` (the only
        writable place: ``cwd``, ``tmp``, ``home``, ``ipc``, ``app``) and,
        without the sandbox, ``course/`` (the read-only copy).
        """
        return Confinement(self, folder)


class Confinement:
    """One kernel's isolation, from its launch to the sweep after it."""

    def __init__(self, isolation: Isolation, folder: Path) -> None:
        self.isolation = isolation
        self.folder = folder
        self.box = folder / "box"
        self.mark = secrets.token_hex(8)
        self.uid: int | None = None
        self.gid: int | None = None
        if isolation.own_user:
            self.uid = self.gid = _UID_RANGE[0] + secrets.randbelow(
                _UID_RANGE[1] - _UID_RANGE[0]
            )
        for name in ("cwd", "tmp", "home", "ipc", "app"):
            (self.box / name).mkdir(parents=True, exist_ok=True)
        # The kernel's user must get through ``folder`` to its box, and
        # nothing more (it may not list the folder: the log is there); and
        # bubblewrap, root without its capabilities, must enter the box's
        # folders before the kernel drops to its user.
        for path in [folder, self.box, *self.box.iterdir()]:
            path.chmod(0o711)
        if self.uid is not None:
            for path in [self.box, *self.box.iterdir()]:
                os.chown(path, self.uid, self.gid)
        self.pythonpath: Path | None = None
        if isolation.box is None:
            self.pythonpath = isolation.view.copy_to(folder / "course")
        self.cgroup = Cgroup.create(isolation.resources) if isolation.cgroups else None
        uid = self.uid if self.uid is not None else os.geteuid()
        self.rlimits = limits_module.rlimits(
            isolation.resources, cgroup=self.cgroup, uid=uid
        )
        self._preexec: list[limits_module.Preexec] = []
        #: The kernel's own Redis, when the isolation gives one (``start_redis``).
        self.redis: SubmissionRedis | None = None

    # -- where things are ------------------------------------------------------

    @property
    def cwd(self) -> Path:
        return self.box / "cwd"

    @property
    def ipc(self) -> Path:
        """Where the kernel's sockets and connection file go."""
        return self.box / "ipc"

    @property
    def app_socket(self) -> Path:
        """The Unix socket the grader's serve cell serves ``app`` on."""
        return self.box / "app" / "app.sock"

    @property
    def mechanisms(self) -> list[str]:
        """What isolated this kernel (a cgroup may have failed for it alone)."""
        return self.isolation._mechanisms(cgroup=self.cgroup is not None)

    # -- launching ---------------------------------------------------------------

    def wrap(self, command: Sequence[str], *, writable: bool = True) -> list[str]:
        """The kernel's command line, inside the sandbox where there is one.

        ``writable=False``: not even the box is writable (``harness``).
        """
        box = self.isolation.box
        if box is None:
            return list(command)
        read_only, files, masked = self.isolation.view.sandbox_binds()
        if self.redis is not None:
            # Read-only: the app connects to the socket, and cannot replace it.
            read_only = [*read_only, self.redis.folder]
        return box.command(
            command,
            folder=self.box,
            cwd=self.cwd,
            read_only=read_only,
            files=files,
            masked=masked,
            tmp=self.box / "tmp",
            uid=self.uid,
            writable=writable,
        )

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """A clean environment: none of the grader's variables, nothing secret."""
        bin_dir = str(Path(sys.executable).parent)
        env = {
            "PATH": os.pathsep.join([bin_dir, "/usr/local/bin", "/usr/bin", "/bin"]),
            "HOME": str(self.box / "home"),
            "TMPDIR": str(self.box / "tmp"),
            "USER": "learner",
            "LOGNAME": "learner",
            "LANG": "C.UTF-8",
            "PYTHONNOUSERSITE": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            # The ipykernel debugger's note about frozen modules, otherwise
            # written at every start.
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
            MARK: self.mark,
        }
        if self.cgroup is None:
            # Fewer malloc arenas: threads then reserve less address space,
            # which RLIMIT_AS counts.
            env["MALLOC_ARENA_MAX"] = "2"
        if self.pythonpath is not None:
            env["PYTHONPATH"] = str(self.pythonpath)
        env.update(self.isolation.extra_env)
        env.update(extra or {})
        return env

    def preexec(self) -> Callable[[], None]:
        """What runs in the kernel's process between fork and exec.

        In the sandbox, bubblewrap itself drops to the kernel's user (it must
        start as root); without it, this does.
        """
        drop = self.isolation.box is None
        run = limits_module.Preexec(
            rlimit_values=self.rlimits,
            cgroup=self.cgroup,
            uid=self.uid if drop else None,
            gid=self.gid if drop else None,
        )
        self._preexec.append(run)
        return run

    def launched(self) -> None:
        """Close what only the child needed, once it has started."""
        for run in self._preexec:
            run.close()
        self._preexec.clear()

    def hand_over(self, path: Path) -> None:
        """Let the kernel's user read ``path`` (its connection file)."""
        if self.uid is not None:
            os.chown(path, self.uid, self.gid)

    async def start_redis(self) -> SubmissionRedis:
        """Start the kernel's own Redis (before the kernel); returns it once it answers.

        Call it from the thread that launches the kernel (the sandbox's
        ``--die-with-parent`` follows that thread).

        Raises:
            RedisUnavailable: it could not be started (the message says why).
        """
        self.redis = SubmissionRedis(self)
        self.redis.launch()
        await self.redis.ready()
        return self.redis

    def stop_redis(self) -> None:
        """Stop the kernel's Redis, if it has one; safe to call twice."""
        if self.redis is not None:
            self.redis.stop()

    # -- after ---------------------------------------------------------------

    def oom_killed(self) -> bool:
        """Whether the memory limit killed one of the kernel's processes."""
        return self.cgroup is not None and self.cgroup.oom_killed()

    def disk_used(self, limit: int) -> int:
        """Bytes in the kernel's folder, counted up to a little past ``limit``."""
        return _tree_size(self.box, limit)

    def sweep(self) -> None:
        """Kill every process the kernel left, however detached, and forget them.

        The sandbox's PID namespace ends with its first process; the cgroup
        and the kernel's own user id catch what escaped a session without
        the sandbox; the mark in the environment is the last resort.
        """
        if self.cgroup is not None:
            self.cgroup.remove()
        for _ in range(3):
            pids = _marked_processes(self.mark, self.uid)
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        self.launched()

    def remove(self) -> None:
        """Stop its Redis, sweep, then delete the kernel's folder."""
        self.stop_redis()
        self.sweep()
        remove_tree(self.folder)


def _other_user_runs_python() -> bool:
    """Whether a user of no account can start this Python (for the fallback)."""
    uid = _UID_RANGE[0]
    try:
        done = subprocess.run(
            [sys.executable, "-S", "-c", "pass"],
            user=uid,
            group=uid,
            extra_groups=[],
            capture_output=True,
            timeout=30,
            cwd="/",
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _marked_processes(mark: str, uid: int | None) -> list[int]:
    needle = f"{MARK}={mark}".encode()
    found: list[int] = []
    me = os.getpid()
    for entry in os.scandir("/proc") if Path("/proc").is_dir() else ():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            if uid is not None and entry.stat().st_uid == uid:
                found.append(int(entry.name))
                continue
            environ = Path(entry.path, "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def _tree_size(folder: Path, limit: int) -> int:
    total = 0
    stack = [folder]
    while stack and total <= limit:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(info.st_mode):
                stack.append(Path(entry.path))
            else:
                # Blocks really used: a sparse file of "1 TB" costs nothing.
                total += getattr(info, "st_blocks", 0) * 512 or info.st_size
    return total


def remove_tree(folder: Path) -> None:
    """Delete ``folder``, read-only parts (the course's copy) included."""

    def writable_then_retry(
        function: Callable[..., object], path: str, _: object
    ) -> None:
        with contextlib.suppress(OSError):
            parent = os.path.dirname(path)
            os.chmod(parent, os.stat(parent).st_mode | stat.S_IWUSR | stat.S_IXUSR)
            os.chmod(path, os.stat(path).st_mode | stat.S_IWUSR)
        with contextlib.suppress(OSError):
            function(path)

    shutil.rmtree(folder, onerror=writable_then_retry)

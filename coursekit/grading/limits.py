"""Resource limits for one graded kernel: memory, processes, CPU, files.

Two mechanisms, the better one where the machine allows it:

- a **cgroup** of its own (v2, or v1's ``memory`` and ``pids`` hierarchies),
  where the grader may create one (typically as root, or with a delegated
  cgroup): memory and the number of processes counted for the kernel and
  everything it starts, however detached; an out-of-memory kill is recorded;
  and every process in it can be killed at the end;
- **rlimits**, always: CPU seconds and file size per process, no core
  dumps, open files; and, without a cgroup, the address space
  (``RLIMIT_AS``) and the user's process count (``RLIMIT_NPROC``, which
  the kernel does not enforce for root).

The defaults are in the range of PrairieLearn's graders: 2 GiB of memory and
a few hundred processes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import secrets
import signal
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Cgroup", "Preexec", "ResourceLimits", "rlimit_names", "rlimits"]

GIB = 1024**3
MIB = 1024**2


@dataclass(frozen=True)
class ResourceLimits:
    """What one submission may use; the wall clock is enforced elsewhere."""

    #: Bytes of memory for the kernel and everything it starts.
    memory: int = 2 * GIB
    #: Processes and threads at once.
    processes: int = 256
    #: CPU seconds per process (a busy loop in a detached child ends too).
    cpu_seconds: int = 600
    #: The largest file a submission may write, in bytes.
    file_size: int = 256 * MIB
    #: Bytes of files in the submission's folder, watched while it runs.
    disk: int = 512 * MIB
    #: Open files per process.
    open_files: int = 1024


class Cgroup:
    """A cgroup made for one kernel: join it at exec, kill it, remove it."""

    def __init__(self, version: int, folders: dict[str, Path]) -> None:
        self.version = version
        #: controller ("memory", "pids"; "unified" for v2) -> folder.
        self.folders = folders

    # -- making one --------------------------------------------------------

    @classmethod
    def create(cls, limits: ResourceLimits) -> Cgroup | None:
        """A new cgroup with ``limits``, or None where none can be made here."""
        name = f"coursekit-grade-{secrets.token_hex(6)}"
        for make in (_make_v2, _make_v1):
            try:
                made = make(name, limits)
            except OSError:
                made = None
            if made is not None:
                return made
        return None

    @property
    def mechanisms(self) -> list[str]:
        """What this cgroup limits, for the record of every result."""
        kind = f"cgroup v{self.version}"
        return [f"{kind} memory", f"{kind} processes"]

    def procs_files(self) -> list[Path]:
        """The files a process writes its pid to, to join this cgroup."""
        return [folder / "cgroup.procs" for folder in self.folders.values()]

    # -- reading -------------------------------------------------------------

    def oom_killed(self) -> bool:
        """Whether the kernel's memory limit killed a process."""
        if self.version == 2:
            events = _read_keys(self.folders["unified"] / "memory.events")
            return events.get("oom_kill", 0) > 0
        folder = self.folders.get("memory")
        if folder is None:
            return False
        control = _read_keys(folder / "memory.oom_control")
        if "oom_kill" in control:
            return control["oom_kill"] > 0
        return _read_int(folder / "memory.failcnt") > 0

    def pids(self) -> list[int]:
        """The processes in the cgroup now."""
        found: set[int] = set()
        for path in self.procs_files():
            with contextlib.suppress(OSError, ValueError):
                found.update(int(line) for line in path.read_text().split())
        return sorted(found)

    # -- ending --------------------------------------------------------------

    def kill(self, *, timeout: float = 5.0) -> None:
        """SIGKILL every process in the cgroup, until none is left."""
        kill_file = self.folders.get("unified", Path("/nonexistent")) / "cgroup.kill"
        deadline = time.monotonic() + timeout
        while True:
            pids = self.pids()
            if not pids:
                return
            if kill_file.exists():
                with contextlib.suppress(OSError):
                    kill_file.write_text("1")
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            if time.monotonic() > deadline:
                return
            time.sleep(0.01)

    def remove(self) -> None:
        """Kill what is left and delete the cgroup's folders."""
        self.kill()
        for folder in self.folders.values():
            for _ in range(50):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY:
                        break
                    time.sleep(0.01)


def _own_cgroup(controller: str) -> str | None:
    """This process's cgroup path in ``controller``'s hierarchy (v2: "")."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        number, controllers, path = line.split(":", 2)
        if controller == "" and number == "0" and controllers == "":
            return path
        if controller and controller in controllers.split(","):
            return path
    return None


def _mounts() -> dict[str, Path]:
    """Where each cgroup hierarchy is mounted: "unified" (v2) or a controller."""
    found: dict[str, Path] = {}
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        fields = line.split()
        if " - " not in line:
            continue
        mount_point = Path(fields[4])
        fs_type, _, options = line.split(" - ", 1)[1].split(" ", 2)
        if fs_type == "cgroup2":
            found.setdefault("unified", mount_point)
        elif fs_type == "cgroup":
            for option in options.split(","):
                if option in ("memory", "pids"):
                    found.setdefault(option, mount_point)
    return found


def _make_v2(name: str, limits: ResourceLimits) -> Cgroup | None:
    mount = _mounts().get("unified")
    own = _own_cgroup("")
    if mount is None or own is None:
        return None
    parent = mount / own.lstrip("/")
    enabled = (parent / "cgroup.subtree_control").read_text().split()
    if not {"memory", "pids"} <= set(enabled):
        return None
    folder = parent / name
    folder.mkdir()
    group = Cgroup(2, {"unified": folder})
    try:
        (folder / "memory.max").write_text(str(limits.memory))
        with contextlib.suppress(FileNotFoundError):
            (folder / "memory.swap.max").write_text("0")
        (folder / "pids.max").write_text(str(limits.processes))
    except OSError:
        group.remove()
        return None
    return group


def _make_v1(name: str, limits: ResourceLimits) -> Cgroup | None:
    mounts = _mounts()
    folders: dict[str, Path] = {}
    try:
        for controller in ("memory", "pids"):
            mount, own = mounts.get(controller), _own_cgroup(controller)
            if mount is None or own is None:
                return None
            folder = mount / own.lstrip("/") / name
            folder.mkdir()
            folders[controller] = folder
        memory = folders["memory"]
        (memory / "memory.limit_in_bytes").write_text(str(limits.memory))
        swap = memory / "memory.memsw.limit_in_bytes"
        if swap.exists():
            with contextlib.suppress(OSError):
                swap.write_text(str(limits.memory))
        (folders["pids"] / "pids.max").write_text(str(limits.processes))
    except OSError:
        Cgroup(1, folders).remove()
        return None
    return Cgroup(1, folders)


def _read_keys(path: Path) -> dict[str, int]:
    values: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            key, _, value = line.partition(" ")
            with contextlib.suppress(ValueError):
                values[key] = int(value)
    return values


def _read_int(path: Path) -> int:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return 0


def user_processes(uid: int) -> int:
    """How many processes ``uid`` has now (what RLIMIT_NPROC counts)."""
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if entry.stat().st_uid == uid:
                    count += 1
    return count


def rlimits(
    limits: ResourceLimits, *, cgroup: Cgroup | None, uid: int
) -> dict[int, int]:
    """The rlimits a kernel gets: always CPU, files, core; more without a cgroup."""
    values = {
        resource.RLIMIT_CPU: limits.cpu_seconds,
        resource.RLIMIT_FSIZE: limits.file_size,
        resource.RLIMIT_CORE: 0,
        resource.RLIMIT_NOFILE: limits.open_files,
    }
    if cgroup is None:
        values[resource.RLIMIT_AS] = limits.memory
        if uid != 0:
            # Counted per user over the whole machine: leave what it has.
            values[resource.RLIMIT_NPROC] = user_processes(uid) + limits.processes
    return values


def rlimit_names(values: dict[int, int]) -> list[str]:
    """``rlimit cpu``, ... for the record of every result."""
    names = {
        resource.RLIMIT_CPU: "cpu",
        resource.RLIMIT_FSIZE: "file size",
        resource.RLIMIT_CORE: "core dumps",
        resource.RLIMIT_NOFILE: "open files",
        resource.RLIMIT_AS: "memory (address space)",
        resource.RLIMIT_NPROC: "processes",
    }
    return [f"rlimit {names[key]}" for key in values]


class Preexec:
    """What the kernel's process runs between fork and exec (a callable).

    It joins the cgroup (before anything else can fork, so nothing escapes
    it), applies the rlimits, then drops to ``uid``/``gid``. The cgroup's
    files are opened here, in the parent, so that the child only writes:
    what runs after fork in a process with threads must not take locks.
    ``close()`` closes them once the child has started.
    """

    def __init__(
        self,
        *,
        rlimit_values: dict[int, int],
        cgroup: Cgroup | None,
        uid: int | None = None,
        gid: int | None = None,
    ) -> None:
        self._fds = [
            os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            for path in (cgroup.procs_files() if cgroup else [])
        ]
        self._limits = list(rlimit_values.items())
        self._uid, self._gid = uid, gid

    def __call__(self) -> None:
        for fd in self._fds:
            os.write(fd, b"0")
        for key, value in self._limits:
            # CPU: SIGXCPU first (Python reports it), SIGKILL 5 s later.
            hard = value + 5 if key == resource.RLIMIT_CPU else value
            resource.setrlimit(key, (value, hard))
        if self._gid is not None:
            os.setgroups([])
            os.setgid(self._gid)
        if self._uid is not None:
            os.setuid(self._uid)

    def close(self) -> None:
        """Close the cgroup files; safe to call twice."""
        fds, self._fds = self._fds, []
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)

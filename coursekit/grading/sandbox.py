"""The bubblewrap sandbox each graded kernel runs in.

A submitted notebook is a program written by a student. Its kernel runs under
``bwrap`` (Debian and Ubuntu package ``bubblewrap``) with:

- its own mount namespace, in which the root is an empty read-only tmpfs and
  only what a kernel needs is bound in, read-only: the system's programs and
  libraries, the Python environment, ``coursekit``, and of the reference
  ``course_app`` only the files of the chapters the exercise builds on
  (``course_view``). Nothing of ``solutions/``, of other submissions, of
  ``--out`` or ``--hidden`` is there to read or write;
- one writable folder, the submission's own (working folder, ``TMPDIR``, its
  kernel's sockets, the socket its app is served on), which the grader
  watches and deletes afterwards; ``/tmp`` points into it;
- its own PID namespace (no signal reaches the grader or another kernel, and
  everything started inside dies with the sandbox), no network (the app is
  served over a Unix socket), its own IPC and UTS namespaces, and no
  capabilities, so nothing can be remounted writable;
- a clean environment: none of the grader's variables reach the kernel.

Which of these the machine can do is found out at run time (``detect``):
where bubblewrap is missing or user namespaces are disabled, grading goes on
with what ``limits`` can still apply, and says so in every result.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "BWRAP",
    "Bubblewrap",
    "SandboxUnavailable",
    "SystemView",
    "bubblewrap",
]

#: The bubblewrap executable; ``COURSEKIT_BWRAP`` names another.
BWRAP = "bwrap"

#: Paths of the system a Python kernel needs, bound read-only when they
#: exist (symlinks such as Debian's ``/bin -> usr/bin`` are recreated).
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: The few files of ``/etc`` that programs read (the dynamic linker's cache,
#: names of users and hosts, time zone, MIME types); the rest of ``/etc`` may
#: hold what a student should not see.
ETC_FILES = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "passwd",
    "group",
    "nsswitch.conf",
    "hosts",
    "host.conf",
    "mime.types",
    "ssl/certs/ca-certificates.crt",
)


#: The user id the probe runs as when the grader is root (nobody's).
PROBE_UID = 65534


class SandboxUnavailable(RuntimeError):
    """bubblewrap cannot run here; the message says why."""


@dataclass(frozen=True)
class SystemView:
    """What of this machine every sandbox shows, read-only.

    ``paths`` are bound at the same place inside; ``links`` are symlinks
    recreated inside (``/bin -> usr/bin``).
    """

    paths: tuple[Path, ...]
    links: tuple[tuple[str, Path], ...] = ()

    @classmethod
    def of_this_machine(cls, python_paths: Iterable[Path] = ()) -> SystemView:
        """The system's programs and libraries, a few ``/etc`` files, Python."""
        paths: list[Path] = []
        links: list[tuple[str, Path]] = []
        for name in SYSTEM_PATHS:
            path = Path(name)
            if path.is_symlink():
                links.append((os.readlink(path), path))
            elif path.is_dir():
                paths.append(path)
        paths += [
            Path("/etc", name) for name in ETC_FILES if Path("/etc", name).exists()
        ]
        paths += python_paths
        return cls(tuple(_outermost(paths)), tuple(links))


def python_paths() -> list[Path]:
    """The Python installation and environment the kernel runs from.

    The interpreter's own prefix (where its standard library lives) and the
    virtual environment, when there is one; each resolved, since bind
    mounts follow symlinks.
    """
    prefixes = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()}
    return [p for p in prefixes if p.is_dir()]


def _outermost(paths: Iterable[Path]) -> list[Path]:
    """``paths`` without those inside another one of them, in order."""
    unique = list(dict.fromkeys(paths))
    return [
        path
        for path in unique
        if not any(other != path and path.is_relative_to(other) for other in unique)
    ]


@dataclass(frozen=True)
class Bubblewrap:
    """A working bubblewrap: its path and version, and how to wrap a command."""

    path: str
    version: str
    system: SystemView = field(repr=False)
    #: util-linux's ``setpriv``, which drops to the sandbox's own user when
    #: the grader runs as root.
    setpriv: str = "setpriv"

    def command(
        self,
        command: Sequence[str],
        *,
        folder: Path,
        cwd: Path,
        read_only: Sequence[Path] = (),
        files: Sequence[tuple[Path, Path]] = (),
        masked: Sequence[Path] = (),
        tmp: Path | None = None,
        uid: int | None = None,
        writable: bool = True,
    ) -> list[str]:
        """``command`` wrapped in a sandbox whose only writable place is ``folder``.

        Run by root, give ``uid``: bubblewrap then sets the sandbox up with
        root's rights (it must read the Python installation, which may sit
        in root's home) and the command runs as ``uid`` (and the group of
        the same number), a user of its own that owns nothing but
        ``folder``. Without ``uid``, bubblewrap works unprivileged, in a user
        namespace.

        With ``writable=False`` nothing at all is writable, ``folder`` and
        ``/dev/shm`` included: what runs inside cannot leave a trace for
        what runs after it (``harness``).

        Args:
            command: what to run inside, e.g. the kernel's command line.
            folder: bound read-write at the same path (the submission's own).
            cwd: where the command starts (inside ``folder``).
            read_only: more paths bound read-only at the same place.
            files: ``(source, destination)`` pairs bound read-only, for a
                package shown only in part (see ``course_view``).
            masked: folders replaced by an empty read-only one before
                ``files`` are bound into them (a package's other files, when
                the package sits inside a path bound whole).
            tmp: where ``/tmp`` points (a folder inside ``folder``).
        """
        if uid is None:
            # user, ipc, pid, net, uts and cgroup namespaces; no capability
            # left (a remount would make the read-only binds writable).
            namespaces = ["--unshare-all", "--cap-drop", "ALL"]
        else:
            # No user namespace: the sandbox's root would be the machine's.
            # The command drops to ``uid`` first thing, which needs these two
            # capabilities and leaves none.
            namespaces = [
                "--unshare-ipc",
                "--unshare-pid",
                "--unshare-net",
                "--unshare-uts",
                "--unshare-cgroup-try",
                "--cap-drop",
                "ALL",
                "--cap-add",
                "CAP_SETUID",
                "--cap-add",
                "CAP_SETGID",
            ]
            command = [
                self.setpriv,
                f"--reuid={uid}",
                f"--regid={uid}",
                "--clear-groups",
                "--inh-caps=-all",
                "--bounding-set=-all",
                "--",
                *command,
            ]
        args = [
            self.path,
            *namespaces,
            "--die-with-parent",
            "--hostname",
            "sandbox",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
        ]
        for target, link in self.system.links:
            args += ["--symlink", target, str(link)]
        bound = _outermost([*self.system.paths, *read_only])
        # The folders leading to each mount, made traversable: bubblewrap
        # would copy the host's modes, and /root (where pyenv puts Python)
        # is 0700 there, closed to the sandbox's own user.
        for parent in _parents([*bound, *masked, folder]):
            args += ["--perms", "0755", "--dir", str(parent)]
        for path in bound:
            args += ["--ro-bind", str(path), str(path)]
        for path in masked:
            args += ["--perms", "0755", "--tmpfs", str(path)]
        inside = [d for _, d in files]
        for parent in _parents(inside):
            if any(parent.is_relative_to(m) and parent != m for m in masked):
                args += ["--perms", "0755", "--dir", str(parent)]
        for source, destination in files:
            args += ["--ro-bind", str(source), str(destination)]
        for path in masked:
            args += ["--remount-ro", str(path)]
        # /tmp leads into ``folder``, unless ``folder`` or something bound is
        # itself under /tmp (a course installed in /tmp): /tmp then stays a
        # read-only folder holding those mounts, and TMPDIR still points
        # inside ``folder``.
        under_tmp = [folder, *bound, *masked, *inside]
        if tmp is not None and not any(p.is_relative_to("/tmp") for p in under_tmp):
            args += ["--symlink", str(tmp), "/tmp"]
        args += ["--bind" if writable else "--ro-bind", str(folder), str(folder)]
        if not writable:
            args += ["--remount-ro", "/dev"]
        # Last: the root itself (and every folder bubblewrap made for the
        # mounts above) becomes read-only, so ``folder`` is the only place
        # the submission can write to; so does /proc (its sysctls).
        args += ["--remount-ro", "/proc", "--remount-ro", "/", "--chdir", str(cwd)]
        return [*args, "--", *command]


def _parents(paths: Iterable[Path]) -> list[Path]:
    """Every folder above ``paths`` (not ``/``), outermost first, once each."""
    found: dict[Path, None] = {}
    for path in paths:
        for parent in reversed(path.parents[:-1]):
            found.setdefault(parent)
    return sorted(found, key=lambda p: len(p.parts))


def _find_bwrap() -> str | None:
    named = os.environ.get("COURSEKIT_BWRAP")
    if named:
        return shutil.which(named) or None
    return shutil.which(BWRAP)


@functools.cache
def bubblewrap() -> Bubblewrap:
    """The machine's bubblewrap, tried once with the options grading uses.

    Raises:
        SandboxUnavailable: not Linux, no ``bwrap`` on the PATH, or it fails
            here (user namespaces disabled, a container that forbids them);
            the message says which, and what to do.
    """
    if not sys.platform.startswith("linux"):
        raise SandboxUnavailable(
            f"bubblewrap needs Linux; this is {sys.platform}: grade on a Linux "
            "machine for full isolation"
        )
    path = _find_bwrap()
    if path is None:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed: install it (Debian/Ubuntu: "
            "apt-get install bubblewrap; Fedora: dnf install bubblewrap)"
        )
    try:
        done = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxUnavailable(f"{path} does not run: {exc}") from None
    version = done.stdout.strip() or "bubblewrap"
    setpriv = shutil.which("setpriv") or "setpriv"
    box = Bubblewrap(path, version, SystemView.of_this_machine(python_paths()), setpriv)
    root = os.geteuid() == 0
    if root and not shutil.which(setpriv):
        raise SandboxUnavailable(
            "setpriv (util-linux) is missing: run as root, the grader needs it "
            "to run each sandbox as a user of its own"
        )
    probe = Path(_probe_folder())
    uid = PROBE_UID if root else None
    try:
        if uid is not None:
            os.chown(probe, uid, uid)
        command = box.command(
            [sys.executable, "-S", "-c", "open('ok', 'w').write('ok')"],
            folder=probe,
            cwd=probe,
            uid=uid,
        )
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SandboxUnavailable(f"{path} failed: {exc}") from None
        if done.returncode != 0 or not (probe / "ok").exists():
            first = (done.stderr.strip().splitlines() or ["no message"])[0]
            raise SandboxUnavailable(
                f"{version} cannot make a sandbox here ({first[:200]}); user "
                "namespaces may be disabled (sysctl kernel.unprivileged_userns_clone"
                "=1, or the container's seccomp profile)"
            )
    finally:
        shutil.rmtree(probe, ignore_errors=True)
    return box


def _probe_folder() -> str:
    import tempfile

    from coursekit.grading.kernels import work_folder

    folder = tempfile.mkdtemp(prefix="coursekit-sandbox-probe-", dir=work_folder())
    # bubblewrap enters it before the command drops to its user.
    os.chmod(folder, 0o711)
    return folder

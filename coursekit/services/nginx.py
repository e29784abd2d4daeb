"""nginx in front of the app, on loopback, the way production runs it.

::

    from coursekit.services.nginx import nginx

    with serve_process("course_app.main:app") as app, nginx(
        Path("deploy/nginx.conf").read_text(), upstream=app.url
    ) as proxy:
        httpx.get(proxy.url + "/catalogue").headers["x-cache-status"]  # MISS

The config is a template, the same file a container's nginx renders
(the official image runs ``envsubst`` over ``/etc/nginx/templates/``): its
``${NGINX_...}`` placeholders (``PLACEHOLDERS``) are filled in, nginx's own
``$variables`` are left alone. Everything nginx writes (pid, logs, the temp
files of request and response bodies, the proxy cache) stays in one folder,
nginx's prefix. Where we are root, the workers run as an unprivileged user.
"""

from __future__ import annotations

import grp
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import psutil

from coursekit.services.base import (
    HOST,
    ServiceError,
    ServiceProcess,
    find_program,
    free_port,
    hand_over,
    port_answers,
    unprivileged_user,
)

__all__ = ["PLACEHOLDERS", "NginxServer", "find_programs", "nginx", "version"]

PROGRAM = "nginx"
HOW_TO_INSTALL = (
    "Install nginx: on Debian or Ubuntu `sudo apt-get install nginx`, on macOS "
    "`brew install nginx`, with conda `conda install -c conda-forge nginx`. "
    "(No wheel on PyPI ships nginx.)"
)
#: Where to look when PATH lacks it: Debian puts nginx in /usr/sbin, which is
#: not on an ordinary user's PATH; Homebrew and conda have their own bin.
SEARCH_FOLDERS: tuple[Path, ...] = (
    Path("/usr/sbin"),
    Path("/usr/local/sbin"),
    Path("/usr/local/bin"),
    Path("/opt/homebrew/bin"),
    Path(sys.prefix) / "bin",
)
#: Limits that catch a hang; nginx starts and reloads in milliseconds.
START_TIMEOUT = 15.0
RELOAD_TIMEOUT = 15.0
CONFIG_NAME = "nginx.conf"
LOGS = "logs"

#: What each placeholder of a config template becomes.
PLACEHOLDERS = {
    "NGINX_LISTEN": "the address to listen on: 127.0.0.1:<free port>",
    "NGINX_UPSTREAM_SERVERS": "one `server <host:port>;` line per upstream address",
    "NGINX_STATE": "the folder for the pid file, temp files and cache (.)",
    "NGINX_LOGS": "the folder for error.log and access.log (logs)",
}
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: Directives that keep nginx's files in its folder: without them it falls
#: back to the paths it was built with (/run, /var/lib/nginx, /var/log/nginx).
REQUIRED_DIRECTIVES = (
    "pid",
    "error_log",
    "client_body_temp_path",
    "proxy_temp_path",
    "fastcgi_temp_path",
    "uwsgi_temp_path",
    "scgi_temp_path",
)


def find_programs() -> None:
    """Raise ``ServiceMissing`` (saying how to install it) if nginx is absent."""
    _program()


def _program() -> Path:
    return find_program(PROGRAM, also_in=SEARCH_FOLDERS, how_to_install=HOW_TO_INSTALL)


def version() -> str:
    """The installed nginx's version, e.g. ``"1.22.1"``."""
    done = subprocess.run(
        [str(_program()), "-v"], capture_output=True, text=True, timeout=10
    )
    # nginx prints "nginx version: nginx/1.22.1" on stderr.
    match = re.search(r"nginx/(\S+)", done.stderr + done.stdout)
    if done.returncode != 0 or match is None:
        raise ServiceError(f"`nginx -v` did not say its version:\n{done.stderr}")
    return match.group(1)


def _address(upstream: str) -> str:
    # serve_process()'s .url is the natural thing to pass: accept it.
    address = re.sub(r"^https?://", "", upstream).rstrip("/")
    if not re.fullmatch(r"[\w.\-\[\]:]+:\d+", address):
        raise ServiceError(
            f"upstream {upstream!r} is not host:port (or http://host:port); pass "
            "the app server's address, e.g. serve_process(...).url"
        )
    return address


def render(template: str, values: dict[str, str]) -> str:
    """``template`` with each ``${NAME}`` replaced by ``values[NAME]``.

    Only ``${NAME}`` is a placeholder; nginx's ``$variables`` stay as they
    are. An unknown ``${NGINX_...}`` name is an error (a typo would otherwise
    reach nginx as a variable it does not know).
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in values:
            return values[name]
        if name.startswith("NGINX_"):
            known = ", ".join(f"${{{key}}}" for key in values)
            raise ServiceError(
                f"the nginx config uses ${{{name}}}, which nginx() does not "
                f"fill in; the placeholders are {known}"
            )
        return match.group(0)

    return _PLACEHOLDER.sub(replace, template)


def _missing_directives(config: str) -> list[str]:
    return [
        name
        for name in REQUIRED_DIRECTIVES
        if not re.search(rf"^\s*{name}\s", config, re.MULTILINE)
    ]


def _user_directive(user: pwd.struct_passwd | None) -> str:
    if user is None:
        return ""
    # Without a group nginx looks for one named like the user, and Debian's
    # nobody is in nogroup.
    return f"user {user.pw_name} {grp.getgrgid(user.pw_gid).gr_name};\n"


def nginx(
    config: str,
    folder: Path | None = None,
    *,
    upstream: str | Sequence[str] = (),
) -> NginxServer:
    """Start nginx with the config template ``config``; return once it serves.

    ``config`` is a whole ``nginx.conf``, with placeholders (``PLACEHOLDERS``):

    - ``${NGINX_LISTEN}``: ``127.0.0.1:<port>``, a free port (``.port``);
    - ``${NGINX_UPSTREAM_SERVERS}``: a ``server host:port;`` line for each
      address in ``upstream`` (one address, or a list; ``http://`` URLs such
      as ``serve_process(...).url`` are accepted);
    - ``${NGINX_STATE}``: where the pid file, temp files and proxy cache go;
    - ``${NGINX_LOGS}``: where ``error.log`` and ``access.log`` go.

    Both folders are relative to nginx's prefix, ``folder`` (made if missing;
    without one a temporary folder, removed by ``stop()``). The config must
    set ``pid``, ``error_log`` and the five ``*_temp_path`` directives, so that
    nothing is written elsewhere; it must not set ``daemon`` (nginx runs in
    the foreground, under a watchdog). Where we are root, ``user <name>;`` is
    added (unless the config has one) and ``folder`` handed over to that user.

    Raises:
        ServiceMissing: nginx is not installed (the message says how).
        ServiceError: the config is wrong (with nginx's own message, from
            ``nginx -t``), or nginx exited or did not listen in time.
    """
    addresses = [upstream] if isinstance(upstream, str) else list(upstream)
    server = NginxServer(
        _program(), folder, port=free_port(), upstream=[_address(a) for a in addresses]
    )
    try:
        server.start(config)
    except BaseException:
        server.stop()
        raise
    return server


class NginxServer:
    """A running nginx; use it in a ``with`` block, or call ``stop()``.

    Attributes:
        port: the port it listens on, on 127.0.0.1.
        folder: its prefix: ``nginx.conf`` as rendered, ``logs/``, temp files.
        upstream: the app servers' addresses, ``host:port``.
    """

    def __init__(
        self, program: Path, folder: Path | None, *, port: int, upstream: list[str]
    ) -> None:
        self.program = program
        self.port = port
        self.upstream = upstream
        self.folder = (
            Path(tempfile.mkdtemp(prefix="coursekit-nginx-"))
            if folder is None
            else Path(folder).resolve()
        )
        self._user = unprivileged_user()
        self._process: ServiceProcess | None = None
        self._template = ""
        # Removes the temporary folder even if stop() is never called.
        self._cleanup = (
            weakref.finalize(self, shutil.rmtree, self.folder, ignore_errors=True)
            if folder is None
            else None
        )

    @property
    def url(self) -> str:
        """Its base URL, ``http://127.0.0.1:PORT``."""
        return f"http://{HOST}:{self.port}"

    @property
    def config_path(self) -> Path:
        """The rendered config nginx runs with."""
        return self.folder / CONFIG_NAME

    @property
    def running(self) -> bool:
        """True from start until ``stop()`` or until nginx exits."""
        return self._process is not None and self._process.running

    def _nginx(self, config: Path, *args: str) -> list[str]:
        # The prefix is "./", the folder nginx runs in: every relative path of
        # the config is then opened relative to the working folder, which the
        # workers inherit. As root, they run as another user, who may not be
        # allowed to walk the folder's absolute path (a parent private to
        # root, such as pytest's tmp_path), but is inside the folder itself.
        return [
            str(self.program),
            "-p",
            "./",
            "-c",
            str(config),
            "-e",
            f"{LOGS}/error.log",
            *args,
        ]

    def render(self, config: str) -> str:
        """``config`` rendered for this server: placeholders and ``user``."""
        servers = "\n    ".join(f"server {address};" for address in self.upstream)
        if "${NGINX_UPSTREAM_SERVERS}" in config and not servers:
            raise ServiceError(
                "the nginx config proxies to ${NGINX_UPSTREAM_SERVERS}, but no "
                "upstream was given: pass upstream=<the app server's url>"
            )
        rendered = render(
            config,
            {
                "NGINX_LISTEN": f"{HOST}:{self.port}",
                "NGINX_UPSTREAM_SERVERS": servers,
                "NGINX_STATE": ".",
                "NGINX_LOGS": LOGS,
            },
        )
        missing = _missing_directives(rendered)
        if missing:
            raise ServiceError(
                f"the nginx config does not set {', '.join(missing)}; set each "
                "to a path inside ${NGINX_STATE} or ${NGINX_LOGS}, so that nginx "
                "writes nothing outside its folder"
            )
        if re.search(r"^\s*daemon\s", rendered, re.MULTILINE):
            raise ServiceError(
                "the nginx config sets `daemon`; remove it: nginx() runs nginx "
                "in the foreground (daemon off), so that it can stop it"
            )
        if not re.search(r"^\s*user\s", rendered, re.MULTILINE):
            rendered = _user_directive(self._user) + rendered
        return rendered

    def _test(self, config: Path) -> None:
        """``nginx -t``: a bad config raises ``ServiceError`` with nginx's message."""
        done = subprocess.run(
            self._nginx(config, "-t", "-q"),
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=30,
        )
        if done.returncode != 0:
            message = (done.stderr + done.stdout).strip()
            raise ServiceError(
                f"nginx refuses the config (nginx -t):\n    {message}\n"
                f"The rendered config is {config}."
            )

    def _write(self, config: str, name: str) -> Path:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        (self.folder / LOGS).mkdir(exist_ok=True)
        path = self.folder / name
        path.write_text(self.render(config), encoding="utf-8")
        hand_over(self.folder, self._user)
        self._test(path)
        return path

    def start(self, config: str) -> None:
        """Test ``config`` and start nginx with it; return once its workers run."""
        if self.running:
            raise ServiceError("this nginx is running already; stop() it first")
        self._write(config, CONFIG_NAME)
        self._template = config
        self._process = ServiceProcess(
            "nginx",
            self._nginx(self.config_path, "-g", "daemon off;"),
            cwd=self.folder,
        )
        # The master listens before it forks the workers, and a worker calls
        # itself "worker process" only once it is set up (as root: runs as
        # the unprivileged user). Until then a connection waits unanswered,
        # and reload() could take these workers for the new ones.
        self._process.wait_ready(
            lambda: port_answers(self.port) and bool(self._workers()),
            timeout=START_TIMEOUT,
        )

    def reload(
        self, config: str | None = None, *, upstream: str | Sequence[str] | None = None
    ) -> None:
        """Reload its config (``nginx -s reload``), as nginx is changed in production.

        ``config`` replaces the template, ``upstream`` the app servers;
        without either the current config is read again. The new config is
        tested first: a bad one raises ``ServiceError`` and nginx keeps
        serving the old one. Returns once new workers run it and the old
        ones accept no more connections (they finish their requests, then
        exit).
        """
        if self._process is None or not self.running:
            raise ServiceError("nginx is not running; start it before reload()")
        if upstream is not None:
            addresses = [upstream] if isinstance(upstream, str) else list(upstream)
            self.upstream = [_address(a) for a in addresses]
        template = config if config is not None else self._template
        candidate = self._write(template, CONFIG_NAME + ".new")
        candidate.replace(self.config_path)
        self._template = template
        before = self._workers()
        done = subprocess.run(
            self._nginx(self.config_path, "-s", "reload"),
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=30,
        )
        if done.returncode != 0:
            raise ServiceError(f"nginx -s reload failed:\n    {done.stderr.strip()}")
        deadline = time.monotonic() + RELOAD_TIMEOUT
        while not self._reloaded(before):
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"nginx started no new workers within {RELOAD_TIMEOUT:g} s of "
                    f"the reload. Its error log:\n{self.error_log()[-2000:]}"
                )
            time.sleep(0.02)

    def _workers(self) -> dict[int, str]:
        """nginx's worker processes: pid and title."""
        assert self._process is not None
        try:
            children = psutil.Process(self._process.pid).children()
        except psutil.NoSuchProcess:
            return {}
        workers = {}
        for child in children:
            try:
                title = " ".join(child.cmdline())
            except psutil.Error:
                continue  # exited meanwhile
            if "worker process" in title:
                workers[child.pid] = title
        return workers

    def _reloaded(self, before: dict[int, str]) -> bool:
        # New workers run, and no old one accepts connections any more: an
        # old worker closes its listening sockets when told to quit, then
        # calls itself "worker process is shutting down" while it finishes
        # the requests it has.
        now = self._workers()
        started = set(now) - set(before)
        accepting = [
            pid for pid in before if pid in now and "shutting down" not in now[pid]
        ]
        return bool(started) and not accepting

    def logs(self) -> str:
        """What nginx printed (its start-up messages), oldest first."""
        return "" if self._process is None else self._process.logs()

    def _log(self, name: str) -> str:
        path = self.folder / LOGS / name
        if not path.exists():
            return ""
        return path.read_text(encoding="utf-8", errors="replace")

    def error_log(self) -> str:
        """``logs/error.log``: why a request failed (upstream refused, timed out)."""
        return self._log("error.log")

    def access_log(self) -> str:
        """``logs/access.log``: a line per request, as the config formats it."""
        return self._log("access.log")

    def stop(self) -> None:
        """Stop nginx (and remove a temporary folder); safe to call twice."""
        if self._process is not None:
            # SIGTERM is nginx's fast shutdown: connections close at once.
            self._process.stop()
        if self._cleanup is not None:
            self._cleanup()

    def __enter__(self) -> NginxServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

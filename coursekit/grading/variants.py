"""Known-wrong versions of the course's solutions, with the grades they earn.

Each variant is a solution with one typical mistake; it loses exactly the
points of what it broke (and what depends on it). The grader's own tests
and ``make bench`` (grading throughput) grade them: a grader that is fast
but gives these the wrong marks is worthless.

They are built from ``solutions/`` in a checkout of the course repository.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import nbformat

__all__ = ["NAMES", "ROOT", "VARIANTS", "Variant", "course_notebook"]

#: The course repository (solutions/ and exercises/ are in it).
ROOT = Path(__file__).resolve().parents[2]

#: Each chapter's notebook file name, the same in solutions/ and exercises/.
NAMES = {
    "01": "01_hello_world.ipynb",
    "02": "02_crud.ipynb",
    "03": "03_async.ipynb",
    "04": "04_dependency_injection.ipynb",
    "05": "05_oauth2_jwt.ipynb",
    "06": "06_optimization.ipynb",
    "07": "07_production.ipynb",
    "08": "08_around_every_request.ipynb",
    "09": "09_live_updates_and_streaming.ipynb",
    "10": "10_files_and_permissions.ipynb",
    "11": "11_pages_and_cookies.ipynb",
}


@dataclass(frozen=True)
class Variant:
    """A solution with ``replacements`` made, and its points per task."""

    chapter: str
    name: str
    #: (text in the solution, replacement): each text is in exactly one cell.
    replacements: tuple[tuple[str, str], ...]
    scores: dict[str, int]
    #: Checks (by name) whose set-up the mistake breaks, and the task each
    #: names as blocking it (its result's ``blocked_by``).
    blocked: dict[str, str] = field(default_factory=dict)

    def notebook(self) -> nbformat.NotebookNode:
        """The solution with the mistake made.

        Raises:
            ValueError: a text to replace is not in exactly one code cell
                (the solution changed; update the variant).
        """
        nb = course_notebook("solutions", self.chapter)
        for old, new in self.replacements:
            cells = [c for c in nb.cells if c.cell_type == "code" and old in c.source]
            if len(cells) != 1:
                raise ValueError(
                    f"variant {self.name}: {old!r} is in {len(cells)} cells of "
                    f"the chapter {self.chapter} solution"
                )
            cells[0].source = cells[0].source.replace(old, new)
        return nb


def course_notebook(kind: str, chapter: str) -> nbformat.NotebookNode:
    """``solutions/`` or ``exercises/`` (``kind``) notebook of ``chapter``."""
    return nbformat.read(ROOT / kind / NAMES[chapter], as_version=4)


VARIANTS = [
    Variant(
        "01",
        "test_accepts_no_valid_id",  # the learner's test never tries -3
        (
            (
                '    response = client.get("/items/-3")\n'
                "    assert response.status_code == 200, response.text\n"
                '    assert response.json()["item_id"] == -3\n',
                "",
            ),
        ),
        # A route that refuses every negative id passes that test: it loses
        # that mutant's point, and only that.
        {"root": 1, "read_item": 10, "validation": 2, "docs": 5},
    ),
    Variant(
        "02",
        "test_skips_the_schema",  # the learner's test never reads /openapi.json
        (
            (
                '    schemas = client.get("/openapi.json").json()["components"]'
                '["schemas"]\n'
                '    assert not secret_keys(schemas["UserPublic"]["properties"])\n',
                "",
            ),
        ),
        # Misses the documentation's leak only.
        {
            "create_user": 9,
            "read_user": 6,
            "update_user": 9,
            "delete_user": 3,
            "hide_password": 4,
        },
    ),
    Variant(
        "02",
        "missing_404",  # GET /users/{id} of an unknown id: a 500, not a 404
        (
            (
                "    record = users.get(user_id)\n    if record is None:\n"
                "        raise HTTPException(status.HTTP_404_NOT_FOUND, "
                "detail=USER_NOT_FOUND)\n    return UserPublic.model_validate(record)",
                "    return UserPublic.model_validate(users.get(user_id))",
            ),
        ),
        # Loses the 404 check only: the delete check sees the user gone without
        # relying on GET's 404 (that is read_user's to get right).
        {
            "create_user": 9,
            "read_user": 5,
            "update_user": 9,
            "delete_user": 3,
            "hide_password": 5,
        },
    ),
    Variant(
        "02",
        "created_200",  # POST /users/ answers 200 instead of 201
        (
            (
                '@router.post("/users/", status_code=status.HTTP_201_CREATED)',
                '@router.post("/users/")',
            ),
        ),
        # Loses create_user_201 only: the checks that create a user to work
        # with take any 2xx.
        {
            "create_user": 6,
            "read_user": 6,
            "update_user": 9,
            "delete_user": 3,
            "hide_password": 5,
        },
    ),
    Variant(
        "03",
        "blocking_sleep_in_async",
        (
            (
                '    await asyncio.sleep(delay)\n    return IoResult(mode="async"',
                '    time.sleep(delay)\n    return IoResult(mode="async"',
            ),
        ),
        # Loses the concurrency checks of /io/async only.
        {"async_io": 1, "sync_io": 5, "fanout": 5, "delay_validation": 3},
    ),
    Variant(
        "04",
        "plain_password",  # the password stored as it was sent
        (
            (
                "        hashed_password=hash_password(user_in.password),",
                "        hashed_password=user_in.password,",
            ),
        ),
        # HTTP cannot tell; the grader reads the database file it wrote.
        {"items_pagination": 6, "items_search": 2, "users_pagination": 4, "health": 2},
    ),
    Variant(
        "05",
        "token_without_exp",
        (
            (
                '        "exp": now + timedelta(minutes=ACCESS_TOKEN_EXPIRE_',
                "        # ",
            ),
        ),
        # The token lacks exp (login's claims check), so /users/me, which
        # requires exp, rejects every token it issues.
        {"login": 4, "user_enumeration": 4, "current_user": 3, "reject_bad_tokens": 8},
    ),
    Variant(
        "05",
        "token_unsigned",  # jwt.encode without the key: /token answers 500
        (
            (
                "    return jwt.encode(claims, SECRET_KEY, algorithm=ALGORITHM)",
                "    return jwt.encode(claims, algorithm=ALGORITHM)",
            ),
        ),
        # A right password gets a 500, a wrong one still its 401: login keeps
        # wrong_password_401, and the checks that need a token to test
        # /users/me fail as blocked by login; the others keep their points.
        {"login": 2, "user_enumeration": 4, "current_user": 3, "reject_bad_tokens": 4},
        blocked={
            "users_me": "login",
            "tampered_token_401": "login",
            "deleted_user_token_401": "login",
        },
    ),
    Variant(
        "06",
        "stats_never_expire",  # the cached stats are kept for ever
        (
            (
                "            if self._value is not None and time.monotonic() < "
                "self._expires_at:",
                "            if self._value is not None:",
            ),
        ),
        # Loses the expiry check only: shape and HITs are right.
        {"catalogue": 2, "http_caching": 4, "stats_cache": 3, "gzip": 3},
    ),
    Variant(
        "07",
        "stats_copy_in_process",  # chapter 06's TTLCache kept in front of Redis
        (
            (
                "    def read(self) -> UserStats | None:\n"
                "        stored = self.client.get(self.key)\n"
                "        return None if stored is None else "
                "UserStats.model_validate_json(stored)\n",
                "    def read(self) -> UserStats | None:\n"
                "        # A copy in this worker too, so most requests skip Redis.\n"
                '        if time.monotonic() < getattr(self, "copy_until", 0.0):\n'
                "            return self.copy\n"
                "        stored = self.client.get(self.key)\n"
                "        if stored is None:\n"
                "            return None\n"
                "        self.copy = UserStats.model_validate_json(stored)\n"
                "        self.copy_until = time.monotonic() + self.ttl\n"
                "        return self.copy\n",
            ),
        ),
        # The first MISS and HIT go through Redis (stats_kept_in_redis), but
        # then the worker answers from its copy: a HIT once Redis is emptied
        # (what other workers would not see), and a HIT, not a computed
        # answer, while Redis is paused. The login limit is untouched.
        {"shared_cache": 2, "redis_down": 1, "login_limit": 6},
    ),
    Variant(
        "07",
        "limit_per_address",  # the attempts counted per address, for everyone
        (
            (
                '        digest = hashlib.sha256(f"{address}\\0{normalized}"'
                ".encode()).hexdigest()\n",
                "        digest = hashlib.sha256(address.encode()).hexdigest()\n",
            ),
        ),
        # One account's typos lock out every account behind that address:
        # loses login_limit_per_account only.
        {"shared_cache": 4, "redis_down": 3, "login_limit": 5},
    ),
    Variant(
        "07",
        "catches_connection_error_only",  # a stuck Redis is a timeout
        (
            (
                "        except redis.RedisError as error:",
                "        except redis.ConnectionError as error:",
            ),
        ),
        # A refused connection is caught, but a Redis that does not answer
        # raises redis.TimeoutError: both routes answer 500 while it is
        # paused, and every redis_down point is lost.
        {"shared_cache": 4, "redis_down": 0, "login_limit": 6},
    ),
    Variant(
        "08",
        "any_request_id_kept",  # the client's id kept whatever it holds
        (
            (
                "        request_id = given if SAFE_ID.fullmatch(given) else "
                "uuid.uuid4().hex\n",
                "        request_id = given or uuid.uuid4().hex\n",
            ),
        ),
        # A stranger's text lands in the header and the logs: loses
        # request_id_replaced_when_unsafe only.
        {"request_id": 3, "cors": 3, "welcome_email": 4},
    ),
    Variant(
        "08",
        "timed_before_the_route",  # the clock read before call_next
        (
            (
                "        response = await call_next(request)\n"
                "        milliseconds = (time.perf_counter() - started) * 1000\n",
                "        milliseconds = (time.perf_counter() - started) * 1000\n"
                "        response = await call_next(request)\n",
            ),
        ),
        # Server-Timing is there but near 0 for a route that waits 0.3 s.
        {"request_id": 3, "cors": 3, "welcome_email": 4},
    ),
    Variant(
        "08",
        "cors_for_every_origin",  # allow_origins=["*"]
        (
            (
                "        allow_origins=CorsSettings().cors_origins,\n",
                '        allow_origins=["*"],\n',
            ),
        ),
        # The page is allowed, and so is every other site's: loses
        # cors_other_origin_refused only.
        {"request_id": 4, "cors": 2, "welcome_email": 4},
    ),
    Variant(
        "08",
        "mail_sent_in_the_route",  # deliver() called before register()
        (
            (
                "    user = register(user_in, repo)\n"
                "    background_tasks.add_task(deliver, "
                "welcome_message(user.name, user.email))\n",
                "    deliver(welcome_message(user_in.name, user_in.email))\n"
                "    user = register(user_in, repo)\n",
            ),
        ),
        # The sign-up waits the mail server's 2 s, and a refused sign-up
        # (409) mails too: keeps welcome_email_sent only.
        {"request_id": 4, "cors": 3, "welcome_email": 2},
    ),
    Variant(
        "09",
        "one_queue_for_everyone",  # every listener reads the same queue
        (
            (
                "    def subscribe(self) -> asyncio.Queue[SignupEvent]:\n"
                "        queue: asyncio.Queue[SignupEvent] = asyncio.Queue()\n"
                "        self.queues.add(queue)\n"
                "        return queue\n",
                "    def subscribe(self) -> asyncio.Queue[SignupEvent]:\n"
                "        if not self.queues:\n"
                "            self.queues.add(asyncio.Queue())\n"
                "        return next(iter(self.queues))\n",
            ),
        ),
        # One listener alone hears everything; of two, each event reaches
        # one: loses ws_every_client_told only (the SSE checks listen alone).
        {"websocket": 3, "sse": 4, "export": 4},
    ),
    Variant(
        "09",
        "no_catching_up",  # Last-Event-ID taken, never used
        (
            (
                "        if last_event_id is not None:\n"
                "            for missed in [e for e in feed.history if e.id > "
                "last_event_id]:\n"
                "                yield as_sse(missed)\n",
                "",
            ),
        ),
        {"websocket": 4, "sse": 2, "export": 4},
    ),
    Variant(
        "09",
        "csv_by_hand",  # rows joined with commas, nothing quoted
        (
            (
                "                writer.writerow([user.id, user.name, user.email])\n",
                '                buffer.write(f"{user.id},{user.name},{user.email}'
                '\\r\\n")\n',
            ),
        ),
        # Plain names read back; Smith, "Jo" spills into the next column.
        {"websocket": 4, "sse": 4, "export": 3},
    ),
    Variant(
        "09",
        "csv_built_whole",  # the whole file in memory, then sent
        (
            (
                "    return StreamingResponse(\n        rows(),\n",
                '    return Response(\n        "".join(rows()),\n',
            ),
            (
                "from fastapi.responses import StreamingResponse\n",
                "from fastapi.responses import Response, StreamingResponse\n",
            ),
        ),
        # Right file, but with a Content-Length: loses csv_streamed only.
        {"websocket": 4, "sse": 4, "export": 3},
    ),
    Variant(
        "10",
        "any_user_may_change_it",  # the owner check left out
        (
            (
                "    if user.id != user_id:\n"
                '        raise HTTPException(403, "You can only change your own '
                'avatar")\n',
                "    pass  # logged in is enough\n",
            ),
        ),
        # Still 401 without a token; another user's token changes the picture.
        {"upload": 6, "permissions": 1, "limits": 2},
    ),
    Variant(
        "10",
        "forbidden_as_401",  # "not yours" answered as "who are you?"
        (
            (
                '        raise HTTPException(403, "You can only change your own '
                'avatar")\n',
                '        raise HTTPException(401, "You can only change your own '
                'avatar")\n',
            ),
        ),
        {"upload": 6, "permissions": 1, "limits": 2},
    ),
    Variant(
        "10",
        "limit_of_a_million_bytes",  # 1 MB, not 1 MiB
        (("MAX_PICTURE = 1024 * 1024\n", "MAX_PICTURE = 1000 * 1000\n"),),
        # A picture of exactly 1 MiB is refused: loses the limit's check.
        {"upload": 6, "permissions": 3, "limits": 0},
    ),
    Variant(
        "11",
        "cookie_readable_by_scripts",  # HttpOnly left off the session cookie
        (
            (
                '        httponly=True,\n        samesite="lax",\n    )\n'
                "    return response",
                '        httponly=False,\n        samesite="lax",\n    )\n'
                "    return response",
            ),
        ),
        # Signing in still works (the other checks' set-up), but the cookie
        # check fails; the learner's test is judged on the reference.
        {"pages": 3, "sessions": 4, "dependencies": 2, "tests": 3},
    ),
    Variant(
        "11",
        "names_not_escaped",  # autoescaping turned off
        (
            (
                'templates = Jinja2Templates(directory=site / "templates")\n',
                'templates = Jinja2Templates(directory=site / "templates")\n'
                "templates.env.autoescape = False\n",
            ),
        ),
        # The notebook's own run of test_sign_in fails on it (the test is
        # right); graded against the reference, the test keeps its points.
        {"pages": 3, "sessions": 5, "dependencies": 2, "tests": 3},
    ),
    Variant(
        "11",
        "no_origin_check",  # the router dependency lets every form through
        (
            (
                '    if request.method in {"GET", "HEAD", "OPTIONS"}:\n'
                "        return\n",
                "    return\n",
            ),
        ),
        {"pages": 3, "sessions": 6, "dependencies": 0, "tests": 3},
    ),
    Variant(
        "11",
        "test_never_tries_a_wrong_password",
        (
            (
                "    wrong = await client.post(\n"
                '        "/pages/login", data={"username": email, '
                '"password": "not-it"}\n'
                "    )\n"
                "    assert wrong.status_code == 401\n"
                '    assert "set-cookie" not in wrong.headers\n',
                "",
            ),
        ),
        # It misses the app where any password signs in.
        {"pages": 3, "sessions": 6, "dependencies": 2, "tests": 2},
    ),
]

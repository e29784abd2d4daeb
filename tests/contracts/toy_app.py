"""A small in-memory implementation of every chapter, with switchable bugs.

It is not the course's reference (that is ``course_app``): it exists so the
contract tests can break one thing at a time and see exactly which checks
notice. Each keyword of ``make_app`` turns one known mistake on.
"""

import asyncio
import hashlib
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import jwt
from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pydantic import BaseModel, EmailStr, Field

SECRET_KEY = "toy-secret-key-for-contract-tests-0123456789"
_slow_hasher = PasswordHash.recommended()
# Far below any safe cost: for the cases where no check measures hashing,
# so that a busy machine does not slow them down.
_fast_hasher = PasswordHash((Argon2Hasher(memory_cost=1024, time_cost=1),))
_DUMMY_HASHES = {
    hasher: hasher.hash("nobody's password") for hasher in (_slow_hasher, _fast_hasher)
}


class UserCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    email: EmailStr
    password: str = Field(min_length=8, max_length=128)


class UserUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    email: EmailStr | None = None
    password: str | None = Field(default=None, min_length=8, max_length=128)


class UserPublic(BaseModel):
    id: int
    name: str
    email: str


class LeakyUser(UserPublic):
    hashed_password: str


Delay = Annotated[float, Query(ge=0, le=2)]


def make_app(
    upto: int = 6,
    *,
    block_async: bool = False,
    block_sync: bool = False,
    serial_fanout: bool = False,
    leak_password: bool = False,
    token_exp: bool = True,
    dummy_hash: bool = True,
    verify_signature: bool = True,
    gzip: bool = True,
    stats_cache: bool = True,
    stats_ttl: float | None = 1.0,
    stats_expire_after: int | None = None,
    stats_lie: bool = False,
    create_status: int = 201,
    token_field: str = "access_token",
    broken: str = "",
    fast_hash: bool = False,
) -> FastAPI:
    """The system up to chapter ``upto``, with the chosen mistakes.

    ``broken`` names a route (``"POST /token"``) whose handler fails with a
    500 once the request is valid (and, for log-in and delete, once the user
    is found); ``stats_ttl=None`` is a cache that never expires,
    ``stats_expire_after=N`` one that expires after N hits instead of a time,
    ``stats_lie`` one that says HIT but counts afresh. ``fast_hash`` hashes
    passwords at a tiny cost (the timing check of log-in then judges nothing).
    """
    app = FastAPI()
    users: dict[int, dict[str, Any]] = {}
    lock = threading.Lock()
    counter = iter(range(1, 10**9))
    Public = LeakyUser if leak_password else UserPublic
    hasher = _fast_hasher if fast_hash else _slow_hasher

    def fail_if_broken(route: str) -> None:
        if broken == route:
            raise RuntimeError(f"{route} broken on purpose")

    @app.get("/")
    def root() -> dict[str, str]:
        return {"message": "Hello, FastAPI"}

    @app.get("/items/{item_id}")
    def read_item(item_id: int, q: str | None = None) -> dict[str, Any]:
        return {"item_id": item_id, "q": q}

    if upto >= 5:
        oauth2 = OAuth2PasswordBearer(tokenUrl="token")

        def current_user(token: Annotated[str, Depends(oauth2)]) -> dict[str, Any]:
            error = HTTPException(
                401, "Could not validate credentials", {"WWW-Authenticate": "Bearer"}
            )
            try:
                claims = jwt.decode(
                    token,
                    SECRET_KEY,
                    algorithms=["HS256"],
                    options={"verify_signature": verify_signature},
                )
                user = users.get(int(claims["sub"]))
            except (jwt.InvalidTokenError, KeyError, ValueError):
                raise error from None
            if user is None:
                raise error
            return user

        @app.post("/token")
        def login(
            form: Annotated[OAuth2PasswordRequestForm, Depends()],
        ) -> dict[str, str]:
            user = next(
                (u for u in users.values() if u["email"] == form.username), None
            )
            if user is None:
                if dummy_hash:
                    hasher.verify(form.password, _DUMMY_HASHES[hasher])
                ok = False
            else:
                ok = hasher.verify(form.password, user["hashed_password"])
            if not ok:
                raise HTTPException(
                    401, "Incorrect email or password", {"WWW-Authenticate": "Bearer"}
                )
            fail_if_broken("POST /token")
            now = datetime.now(UTC)
            claims: dict[str, Any] = {"sub": str(user["id"]), "iat": now}
            if token_exp:
                claims["exp"] = now + timedelta(minutes=30)
            token = jwt.encode(claims, SECRET_KEY, algorithm="HS256")
            return {token_field: token, "token_type": "bearer"}

        @app.get("/users/me")
        def me(user: Annotated[dict[str, Any], Depends(current_user)]) -> Public:  # type: ignore[valid-type]
            return Public(**user)

    if upto >= 2:

        def taken(email: str, other_than: int | None = None) -> bool:
            return any(
                u["email"] == email and u["id"] != other_than for u in users.values()
            )

        def get_or_404(user_id: int) -> dict[str, Any]:
            if user_id not in users:
                raise HTTPException(404, "User not found")
            return users[user_id]

        @app.post("/users/", status_code=create_status)
        def create_user(data: UserCreate) -> Public:  # type: ignore[valid-type]
            fail_if_broken("POST /users/")
            hashed = hasher.hash(data.password)
            with lock:
                if taken(data.email):
                    raise HTTPException(409, "A user with this email already exists")
                user = {
                    "id": next(counter),
                    "name": data.name,
                    "email": data.email,
                    "hashed_password": hashed,
                }
                users[user["id"]] = user
            return Public(**user)

        if upto >= 4:

            @app.get("/users/")
            def list_users(
                skip: Annotated[int, Query(ge=0)] = 0,
                limit: Annotated[int, Query(ge=1, le=100)] = 10,
            ) -> list[Public]:  # type: ignore[valid-type]
                ordered = sorted(users.values(), key=lambda u: u["id"])
                return [Public(**u) for u in ordered[skip : skip + limit]]

        else:

            @app.get("/users/")
            def list_all_users() -> list[Public]:  # type: ignore[valid-type]
                return [
                    Public(**u) for u in sorted(users.values(), key=lambda u: u["id"])
                ]

        @app.get("/users/{user_id}")
        def read_user(user_id: int) -> Public:  # type: ignore[valid-type]
            if user_id not in users:
                fail_if_broken("GET /users/{user_id}")  # a 500, not a 404
            return Public(**get_or_404(user_id))

        @app.patch("/users/{user_id}")
        def update_user(user_id: int, data: UserUpdate) -> Public:  # type: ignore[valid-type]
            user = get_or_404(user_id)
            changes = data.model_dump(exclude_unset=True)
            if "email" in changes and taken(changes["email"], other_than=user_id):
                raise HTTPException(409, "A user with this email already exists")
            if "password" in changes:
                user["hashed_password"] = hasher.hash(changes.pop("password"))
            user.update(changes)
            return Public(**user)

        @app.delete("/users/{user_id}", status_code=204)
        def delete_user(user_id: int) -> None:
            get_or_404(user_id)
            fail_if_broken("DELETE /users/{user_id}")
            del users[user_id]

    if upto >= 3:

        @app.get("/io/async")
        async def io_async(delay: Delay = 0.1) -> dict[str, Any]:
            if block_async:
                time.sleep(delay)
            else:
                await asyncio.sleep(delay)
            return {"mode": "async", "delay": delay}

        if block_sync:

            @app.get("/io/sync")
            async def io_sync_blocking(delay: Delay = 0.1) -> dict[str, Any]:
                time.sleep(delay)
                return {"mode": "sync", "delay": delay}

        else:

            @app.get("/io/sync")
            def io_sync(delay: Delay = 0.1) -> dict[str, Any]:
                time.sleep(delay)
                return {"mode": "sync", "delay": delay}

        @app.get("/io/fanout")
        async def fanout(
            n: Annotated[int, Query(ge=1, le=20)] = 5, delay: Delay = 0.1
        ) -> dict[str, Any]:
            async def wait(i: int) -> int:
                await asyncio.sleep(delay)
                return i

            if serial_fanout:
                results = [await wait(i) for i in range(n)]
            else:
                results = await asyncio.gather(*(wait(i) for i in range(n)))
            return {"n": n, "delay": delay, "results": list(results)}

    if upto >= 4:

        @app.get("/items/")
        def list_items(
            q: str | None = None,
            skip: Annotated[int, Query(ge=0)] = 0,
            limit: Annotated[int, Query(ge=1, le=100)] = 10,
        ) -> dict[str, Any]:
            items = [{"id": n, "name": f"Item {n}"} for n in range(1, 101)]
            if q:
                items = [i for i in items if q.lower() in i["name"].lower()]
            page = items[skip : skip + limit]
            return {
                "q": q,
                "skip": skip,
                "limit": limit,
                "total": len(items),
                "items": page,
            }

        @app.get("/health")
        def health() -> dict[str, str]:
            return {"status": "ok", "database": "ok"}

    if upto >= 6:
        if gzip:
            app.add_middleware(GZipMiddleware, minimum_size=1000, compresslevel=6)
        catalogue = [
            {
                "id": n,
                "name": f"Product {n}",
                "description": "A fine thing",
                "price": n / 4,
            }
            for n in range(1, 1001)
        ]
        body = json.dumps(catalogue).encode()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        cache: dict[str, Any] = {}

        @app.get("/catalogue")
        def get_catalogue(request: Request) -> Response:
            headers = {"ETag": etag, "Cache-Control": "public, max-age=60"}
            if request.headers.get("if-none-match") == etag:
                return Response(status_code=304, headers=headers)
            return Response(body, media_type="application/json", headers=headers)

        def count() -> dict[str, Any]:
            domains: dict[str, int] = {}
            for user in users.values():
                domain = user["email"].rsplit("@", 1)[1]
                domains[domain] = domains.get(domain, 0) + 1
            return {"users": len(users), "domains": domains}

        def alive(now: float) -> bool:
            if not stats_cache or "value" not in cache:
                return False
            if stats_expire_after is not None:
                return cache["hits"] < stats_expire_after
            return stats_ttl is None or now - cache["at"] < stats_ttl

        @app.get("/stats/users")
        def stats(response: Response) -> dict[str, Any]:
            now = time.monotonic()
            with lock:
                if alive(now):
                    cache["hits"] += 1
                    response.headers["X-Cache"] = "HIT"
                    return count() if stats_lie else cache["value"]
                cache.update(value=count(), at=now, hits=0)
                response.headers["X-Cache"] = "MISS"
                return cache["value"]

    return app

"""An honest answer to exercise 02, written without looking at the solution.

Style: small helpers (`public`, `get_or_404`), constrained types declared
once with `StringConstraints`, `response_model=` on the decorators, an
explicit loop to collect the changes, a stack instead of recursion.

Each `# task: <id>` section replaces that task's placeholder in
exercises/02_crud.ipynb (see test_similarity.py); the names it uses come from
the exercise's set-up cell.
"""

# ruff: noqa: E402, F821

# task: create_user
from typing import Annotated

from pydantic import StringConstraints

Name = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Password = Annotated[str, StringConstraints(min_length=8, max_length=128)]


class UserCreate(BaseModel):
    name: Name
    email: EmailStr
    password: Password


class UserPublic(BaseModel):
    id: int
    name: str
    email: str


def public(stored: dict[str, Any]) -> UserPublic:
    return UserPublic(id=stored["id"], name=stored["name"], email=stored["email"])


@router.post("/users/", status_code=201, response_model=UserPublic)
def signup(payload: UserCreate):
    digest = hash_password(payload.password)
    with users_lock:
        if find_by_email(payload.email):
            raise HTTPException(409, EMAIL_TAKEN)
        new_id = next(new_ids)
        users[new_id] = dict(
            id=new_id, name=payload.name, email=payload.email, hashed_password=digest
        )
        stored = users[new_id]
    return public(stored)


# task: read_user
def get_or_404(user_id: int) -> dict[str, Any]:
    try:
        return users[user_id]
    except KeyError:
        raise HTTPException(404, USER_NOT_FOUND) from None


@router.get("/users/", response_model=list[UserPublic])
def all_users():
    with users_lock:
        snapshot = list(users.items())
    snapshot.sort()
    return [public(rec) for _, rec in snapshot]


@router.get("/users/{user_id}", response_model=UserPublic)
def one_user(user_id: int):
    return public(get_or_404(user_id))


# task: update_user
class UserUpdate(BaseModel):
    name: Name | None = None
    email: EmailStr | None = None
    password: Password | None = None


@router.patch("/users/{user_id}", response_model=UserPublic)
def edit_user(user_id: int, patch: UserUpdate):
    wanted = {}
    for key, val in patch.model_dump(exclude_unset=True).items():
        if val is None:
            continue
        if key == "password":
            wanted["hashed_password"] = hash_password(val)
        else:
            wanted[key] = val
    with users_lock:
        current = get_or_404(user_id)
        new_email = wanted.get("email")
        if new_email is not None:
            holder = find_by_email(new_email)
            if holder and holder["id"] != user_id:
                raise HTTPException(409, EMAIL_TAKEN)
        for key, val in wanted.items():
            current[key] = val
        return public(current)


# task: delete_user
from fastapi import Response


@router.delete("/users/{user_id}", status_code=204)
def remove_user(user_id: int) -> Response:
    with users_lock:
        get_or_404(user_id)
        del users[user_id]
    return Response(status_code=204)


# task: hide_password
def secret_keys(value: Any) -> set[str]:
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.update(k for k in item if k in SECRET_KEYS)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def test_no_secrets(client: Client) -> None:
    email = f"{uuid.uuid4().hex}@example.org"
    r = client.post(
        "/users/", json={"name": "Ada", "email": email, "password": "correct horse"}
    )
    assert r.status_code == 201
    bodies = [r.json()]
    uid = r.json()["id"]
    r = client.get(f"/users/{uid}")
    assert r.status_code == 200
    bodies.append(r.json())
    r = client.patch(f"/users/{uid}", json={"password": "battery staple"})
    assert r.status_code == 200
    bodies.append(r.json())
    r = client.get("/users/")
    assert r.status_code == 200
    bodies.append(r.json())
    for body in bodies:
        assert secret_keys(body) == set()
    assert client.delete(f"/users/{uid}").status_code == 204
    spec = client.get("/openapi.json").json()
    props = spec["components"]["schemas"]["UserPublic"]["properties"]
    assert not secret_keys(props)

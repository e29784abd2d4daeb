"""Another honest answer to exercise 02, written independently of the first.

Style: a small store class that owns the lock, models built with
`UserPublic(**row)`, `exclude_none`, dict merging, `response_class=Response`
for the 204, structural pattern matching for the recursion, responses kept
by method in the test.

Each `# task: <id>` section replaces that task's placeholder in
exercises/02_crud.ipynb (see test_similarity.py); the names it uses come from
the exercise's set-up cell.
"""

# ruff: noqa: E402, F821


# task: create_user
class UserCreate(BaseModel):
    email: EmailStr
    name: str = Field(..., min_length=1, max_length=100)
    password: str = Field(..., min_length=8, max_length=128)


class UserPublic(BaseModel):
    id: int
    email: str
    name: str


class UserStore:
    """All writes to `users` go through here, holding `users_lock`."""

    def insert(self, name: str, email: str, hashed: str) -> dict[str, Any] | None:
        with users_lock:
            if find_by_email(email) is not None:
                return None
            uid = next(new_ids)
            users[uid] = {
                "id": uid,
                "name": name,
                "email": email,
                "hashed_password": hashed,
            }
            return users[uid]


store = UserStore()


@router.post("/users/", status_code=status.HTTP_201_CREATED)
def register(body: UserCreate) -> UserPublic:
    created = store.insert(body.name, body.email, hash_password(body.password))
    if created is None:
        raise HTTPException(status_code=409, detail=EMAIL_TAKEN)
    return UserPublic(**created)


# task: read_user
def lookup(user_id: int) -> dict[str, Any]:
    found = users.get(user_id)
    if not found:
        raise HTTPException(status_code=404, detail=USER_NOT_FOUND)
    return found


@router.get("/users/")
def index() -> list[UserPublic]:
    with users_lock:
        rows = [users[i] for i in sorted(users)]
    return [UserPublic(**row) for row in rows]


@router.get("/users/{user_id}")
def show(user_id: int) -> UserPublic:
    return UserPublic(**lookup(user_id))


# task: update_user
class UserUpdate(BaseModel):
    email: EmailStr | None = None
    name: str | None = Field(None, min_length=1, max_length=100)
    password: str | None = Field(None, min_length=8, max_length=128)


@router.patch("/users/{user_id}")
def modify(user_id: int, body: UserUpdate) -> UserPublic:
    fields = body.model_dump(exclude_unset=True, exclude_none=True)
    secret = fields.pop("password", None)
    hashed = hash_password(secret) if secret else None
    with users_lock:
        row = lookup(user_id)
        email = fields.get("email")
        if email and email != row["email"] and find_by_email(email):
            raise HTTPException(status_code=409, detail=EMAIL_TAKEN)
        row |= fields
        if hashed:
            row["hashed_password"] = hashed
        return UserPublic(**row)


# task: delete_user
from fastapi import Response


@router.delete("/users/{user_id}", status_code=204, response_class=Response)
def destroy(user_id: int):
    with users_lock:
        if user_id not in users:
            raise HTTPException(status_code=404, detail=USER_NOT_FOUND)
        users.pop(user_id)


# task: hide_password
def secret_keys(value: Any) -> set[str]:
    match value:
        case dict():
            keys = {k for k in value if k in SECRET_KEYS}
            return keys.union(*map(secret_keys, value.values()))
        case list():
            return set().union(*map(secret_keys, value))
        case _:
            return set()


def test_no_secrets(client: Client) -> None:
    user = {
        "name": "Leak Test",
        "email": f"leak+{uuid.uuid4().hex}@example.com",
        "password": "hunter2hunter2",
    }
    made = client.post("/users/", json=user)
    assert made.status_code == 201, made.text
    url = "/users/" + str(made.json()["id"])
    replies = {"POST": made}
    replies["GET"] = client.get(url)
    replies["PATCH"] = client.patch(url, json={"password": "new-password-1"})
    replies["LIST"] = client.get("/users/")
    for label, reply in replies.items():
        if label != "POST":
            assert reply.status_code == 200, (label, reply.text)
        assert secret_keys(reply.json()) == set(), label
    gone = client.delete(url)
    assert gone.status_code == 204
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert secret_keys(schemas["UserPublic"]["properties"]) == set()

from course_app import passwords


def _argon2_parameters(hashed: str) -> str:
    # $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
    return hashed.split("$")[3]


def test_hash_is_salted_argon2id() -> None:
    first = passwords.hash_password("correct horse")
    second = passwords.hash_password("correct horse")
    assert first.startswith("$argon2id$")
    assert "correct horse" not in first
    assert first != second  # a fresh salt each time


def test_hashing_is_at_least_owasps_argon2id_baseline() -> None:
    # OWASP's weakest acceptable argon2id setting: 19 MiB, 2 passes, 1 lane.
    params = dict(
        item.split("=")
        for item in _argon2_parameters(passwords.hash_password("x")).split(",")
    )
    assert int(params["m"]) >= 19_456
    assert int(params["t"]) >= 2
    assert int(params["p"]) >= 1


def test_verify_password() -> None:
    hashed = passwords.hash_password("correct horse")
    assert passwords.verify_password("correct horse", hashed)
    assert not passwords.verify_password("correct horse!", hashed)
    assert not passwords.verify_password("", hashed)


def test_dummy_hash_costs_as_much_as_a_real_one() -> None:
    # Same algorithm and parameters: checking a password against the dummy
    # takes as long as against a user's hash.
    real = passwords.hash_password("correct horse")
    assert passwords.DUMMY_HASH.startswith("$argon2id$")
    assert _argon2_parameters(passwords.DUMMY_HASH) == _argon2_parameters(real)
    assert not passwords.verify_password("", passwords.DUMMY_HASH)

"""Password hashing (argon2 via pwdlib): chapter 2 stores only hashes."""

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

# argon2id at OWASP's baseline (Password Storage Cheat Sheet): 19 MiB, two
# passes, one lane. pwdlib's PasswordHash.recommended() (64 MiB, three passes,
# four lanes) is stronger and about five times slower per hash; every sign-up
# and login pays it, and so do the course's checks and graders, which sign up
# dozens of users. Hashes record their parameters, so either kind verifies.
password_hash = PasswordHash(
    (Argon2Hasher(memory_cost=19_456, time_cost=2, parallelism=1),)
)

# Verified against when a login names an unknown email, so that the answer
# takes as long as for a wrong password and does not reveal which emails
# have accounts.
DUMMY_HASH = password_hash.hash("not the password of any user")


def hash_password(password: str) -> str:
    """The argon2 hash of `password`, salted, ready to store."""
    return password_hash.hash(password)


def verify_password(password: str, hashed: str) -> bool:
    """Whether `password` matches the stored hash `hashed`."""
    return password_hash.verify(password, hashed)

"""Worked answers for notebook 12's exercises (kept out of the notebook on purpose)."""

import hashlib


def solution_1(body: bytes) -> str:
    """A strong ETag: a quoted digest of exactly the bytes sent."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def solution_2() -> dict:
    """Only the user's own browser may keep it, and it checks back (cheap 304s) before reuse."""
    return {"Cache-Control": "private, no-cache"}


# Deliberately wrong answers: the tests make sure each self-check rejects them.
def wrong_1(body: bytes) -> str:
    return '"hash-of-content"'  # the brief's placeholder: every version shares it


def wrong_2() -> dict:
    # The brief's API headers: public invites shared caches, and Vary is all that keeps users apart.
    return {"Cache-Control": "public, max-age=60, s-maxage=300", "Vary": "Authorization"}


SOLUTIONS = {1: solution_1, 2: solution_2}
WRONG = {1: wrong_1, 2: wrong_2}

"""Chapter 11: who a browser is signed in as, kept in a session cookie.

A page cannot send an `Authorization` header the way a script does: a
browser sends cookies. The cookie holds the same signed, expiring JWT that
`/token` hands out (chapter 5), so `get_current_user` checks both alike.
"""

from datetime import timedelta
from typing import Annotated

from fastapi import Cookie, Depends, HTTPException, Request, Response

from . import tokens
from .config import Settings
from .current_user import get_current_user
from .deps import SettingsDep, UserRepoDep
from .repositories import UserRecord

#: The cookie's name. `__Host-` would bind it to https and one host; the
#: course also serves plain http on localhost, where browsers refuse it.
SESSION_COOKIE = "session"


def start_session(
    response: Response, request: Request, user: UserRecord, settings: Settings
) -> None:
    """Sign the browser in as `user`: set the session cookie on `response`."""
    lifetime = timedelta(minutes=settings.access_token_expire_minutes)
    token = tokens.create_access_token(
        str(user.id), secret_key=settings.signing_key, expires_delta=lifetime
    )
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(lifetime.total_seconds()),
        path="/",
        # No script of any page reads it, so an injected one cannot steal it.
        httponly=True,
        # Other sites' pages may link here, but their forms and fetches
        # arrive without it: the first defence against forged requests.
        samesite="lax",
        # Sent only over https, when that is how this request came (uvicorn
        # sets the scheme from X-Forwarded-Proto behind a trusted proxy).
        secure=request.url.scheme == "https",
    )


def end_session(response: Response) -> None:
    """Sign the browser out: tell it to drop the session cookie."""
    # Its name, path and domain must be the ones it was set with: another
    # path names another cookie, and the browser would keep the old one.
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")


def get_session_user(
    repo: UserRepoDep,
    settings: SettingsDep,
    session: Annotated[str | None, Cookie()] = None,
) -> UserRecord | None:
    """The user the session cookie was issued to, or None if signed out.

    A missing, forged, expired or stale cookie (its user deleted since) is
    "signed out", not an error: the page is shown to a visitor.
    """
    if session is None:
        return None
    try:
        return get_current_user(session, repo, settings)
    except HTTPException:
        return None


SessionUserDep = Annotated[UserRecord | None, Depends(get_session_user)]

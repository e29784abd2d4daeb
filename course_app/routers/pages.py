"""Chapter 11: pages for people: the catalogue in HTML, a sign-in form.

The pages are Jinja2 templates (`templates/`), their stylesheet a static
file (`static/`, mounted at `/static` by `create_app`). Every route of the
router depends on `same_origin`; the sign-in form also on the login limit.
"""

from functools import cache
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.security import OAuth2PasswordRequestForm
from fastapi.templating import Jinja2Templates

from ..deps import SettingsDep, UserRepoDep
from ..sessions import SessionUserDep, end_session, start_session
from .auth import authenticate_user
from .catalogue import CatalogueItem, build_catalogue

#: The package's folder: templates and static files sit beside the modules.
PACKAGE_DIR = Path(__file__).resolve().parent.parent
STATIC_DIR = PACKAGE_DIR / "static"
templates = Jinja2Templates(directory=PACKAGE_DIR / "templates")

CATALOGUE_PATH = "/pages/catalogue"
LOGIN_PATH = "/pages/login"
PAGE_SIZE = 20
#: Sent with every page. What a page shows depends on who is signed in, so
#: no cache may keep it; the pages run no script and load only their own
#: stylesheet, so the browser is told to allow nothing else.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def same_origin(request: Request) -> None:
    """Refuse with 403 a form another site's page sent here.

    Browsers send `Origin` with every POST; a POST whose `Origin` is not
    this host came from a page elsewhere (a forged request, CSRF). Clients
    that are not browsers send none, and have no cookies to abuse.
    """
    if request.method in SAFE_METHODS:
        return
    origin = request.headers.get("origin")
    if origin is None:
        return
    if urlsplit(origin).netloc != request.headers.get("host"):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"Cross-site form refused: it was sent from a page of {origin}, "
            "not of this site. Use this site's own pages to send it.",
        )


def limit_sign_ins(
    request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> None:
    """Chapter 7's login limit, for the sign-in form too, when Redis is set."""
    if getattr(request.app.state, "login_limiter", None) is None:
        return
    from ..rate_limit import limit_login_attempts

    limit_login_attempts(request, form)


router = APIRouter(
    prefix="/pages",
    tags=["pages"],
    # A router's dependencies run for each of its routes, before the route's
    # own; their results are not passed on, only their errors matter.
    dependencies=[Depends(same_origin)],
    default_response_class=HTMLResponse,
)


@cache
def _catalogue() -> tuple[CatalogueItem, ...]:
    return tuple(build_catalogue())


@router.get("/catalogue")
def catalogue_page(
    request: Request,
    user: SessionUserDep,
    page: Annotated[int, Query(ge=1, le=50)] = 1,
) -> HTMLResponse:
    """The catalogue, twenty items a page, and who is signed in."""
    items = _catalogue()
    pages = -(-len(items) // PAGE_SIZE)
    start = (page - 1) * PAGE_SIZE
    return templates.TemplateResponse(
        request,
        "catalogue.html",
        {
            "user": user,
            "items": items[start : start + PAGE_SIZE],
            "page": page,
            "pages": pages,
        },
        headers=PAGE_HEADERS,
    )


@router.get("/login")
def login_page(request: Request, user: SessionUserDep) -> HTMLResponse:
    """The sign-in form."""
    return templates.TemplateResponse(
        request, "login.html", {"user": user, "error": None}, headers=PAGE_HEADERS
    )


@router.post(
    "/login",
    # A route's own dependencies: the limit counts only sign-in attempts.
    dependencies=[Depends(limit_sign_ins)],
    status_code=status.HTTP_303_SEE_OTHER,
    responses={401: {"description": "Wrong email or password: the form again"}},
)
def sign_in(
    request: Request,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    repo: UserRepoDep,
    settings: SettingsDep,
) -> HTMLResponse:
    """Check the form's email and password; on success, set the session cookie."""
    user = authenticate_user(repo, username, password)
    if user is None:
        return templates.TemplateResponse(
            request,
            "login.html",
            {"user": None, "error": "Wrong email or password.", "email": username},
            status_code=status.HTTP_401_UNAUTHORIZED,
            headers=PAGE_HEADERS,
        )
    # 303: the browser follows with a GET, so reloading the page it lands
    # on does not send the password again.
    response = RedirectResponse(CATALOGUE_PATH, status.HTTP_303_SEE_OTHER)
    start_session(response, request, user, settings)
    return response


@router.post("/logout", status_code=status.HTTP_303_SEE_OTHER)
def sign_out() -> RedirectResponse:
    """Drop the session cookie and go back to the sign-in form."""
    response = RedirectResponse(LOGIN_PATH, status.HTTP_303_SEE_OTHER)
    end_session(response)
    return response

"""Chapter 10: a picture per user, uploaded as a file and served back.

`PUT` takes a multipart form with one file field, `file` (what an HTML
`<input type="file">` sends), from the user themselves: changing another
user's picture is 403 Forbidden, which is not 401. A 401 says "who are
you?"; a 403 says "I know who you are, and no".
"""

import hashlib
from typing import Annotated

from fastapi import APIRouter, File, Header, HTTPException, Response, UploadFile, status

from ..avatars import (
    MAX_AVATAR_BYTES,
    delete_avatar,
    image_type,
    read_avatar,
    save_avatar,
)
from ..current_user import CurrentUserDep
from ..deps import SessionDep
from ..schemas import Message

__all__ = ["router"]

router = APIRouter(prefix="/users/{user_id}/avatar", tags=["avatars"])

NOT_YOURS = "You can only change your own avatar"
NO_AVATAR = "This user has no avatar"
#: The most a request to upload may carry: the picture and the multipart
#: form around it (boundaries, headers). FastAPI refuses a larger body with
#: 413 as it arrives, before any of it is parsed or spooled to disk.
MAX_UPLOAD_BYTES = MAX_AVATAR_BYTES + 16 * 1024

_auth: dict[int | str, dict[str, object]] = {
    401: {"model": Message, "description": "Not authenticated"},
    403: {"model": Message, "description": NOT_YOURS},
}


def _only_yourself(user_id: int, user: CurrentUserDep) -> None:
    if user.id != user_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, NOT_YOURS)


def _read_limited(upload: UploadFile) -> bytes:
    # One byte more than allowed tells a picture that is too large.
    data = upload.file.read(MAX_AVATAR_BYTES + 1)
    if len(data) > MAX_AVATAR_BYTES:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"The picture is larger than {MAX_AVATAR_BYTES // 1024} KiB",
        )
    return data


@router.put(
    "",
    status_code=status.HTTP_204_NO_CONTENT,
    max_body_size=MAX_UPLOAD_BYTES,
    responses=_auth
    | {
        413: {"model": Message, "description": "Larger than 1 MiB"},
        415: {"model": Message, "description": "Not a PNG or JPEG image"},
    },
)
def upload_avatar(
    user_id: int,
    file: Annotated[
        UploadFile, File(description="A PNG or JPEG picture, 1 MiB at most")
    ],
    user: CurrentUserDep,
    session: SessionDep,
) -> None:
    """Set your picture: a PNG or a JPEG of at most 1 MiB."""
    # A plain def: FastAPI has received and spooled the form by now, and
    # what is left (reading the spooled file, the database) blocks.
    _only_yourself(user_id, user)
    data = _read_limited(file)
    content_type = image_type(data)
    if content_type is None:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            "The file is not a PNG or JPEG image",
        )
    etag = f'"{hashlib.sha256(data).hexdigest()[:32]}"'
    save_avatar(session, user_id, data, content_type, etag)


@router.get(
    "",
    response_class=Response,
    responses={
        200: {
            "content": {"image/png": {}, "image/jpeg": {}},
            "description": "The picture",
        },
        304: {"description": "The client's copy is current"},
        404: {"model": Message, "description": NO_AVATAR},
    },
)
def get_avatar(
    user_id: int,
    session: SessionDep,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """A user's picture, as it was uploaded; anyone may see it."""
    avatar = read_avatar(session, user_id)
    if avatar is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NO_AVATAR)
    headers = {
        "ETag": avatar.etag,
        "Cache-Control": "public, max-age=60",
        # Served as the image it is, never sniffed as HTML by a browser.
        "X-Content-Type-Options": "nosniff",
    }
    if if_none_match is not None and avatar.etag in if_none_match:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(avatar.data, media_type=avatar.content_type, headers=headers)


@router.delete(
    "",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_auth | {404: {"model": Message, "description": NO_AVATAR}},
)
def remove_avatar(user_id: int, user: CurrentUserDep, session: SessionDep) -> None:
    """Remove your picture."""
    _only_yourself(user_id, user)
    if not delete_avatar(session, user_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, NO_AVATAR)

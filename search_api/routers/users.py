"""User and camera-group administration (issue #17, ACCESS_ADMIN): users, their camera grants,
camera groups. Passwords are hashed (argon2id) before they reach the catalog; every change is
audited. The CLI (`skynet user …`, `skynet camera-group …`) does the same."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, Field

from index.catalog import Principal, Session, append_audit
from index.catalog.accounts import (
    DuplicateUserError,
    UnknownUserError,
    create_user,
    disable_user,
    get_user,
    list_users,
)
from index.catalog.camera_groups import (
    CameraGroup,
    DuplicateCameraGroupError,
    UnknownCameraGroupError,
    create_camera_group,
    list_camera_groups,
    set_camera_group,
)
from index.catalog.grants import add_grant, grants_of, remove_grants
from index.passwords import hash_password
from search_api.access import ACCESS_ADMIN
from search_api.account_schemas import GrantIn, GrantOut, UserIn, UserOut
from search_api.deps import PrincipalDep, SessionDep, requires
from search_api.errors import Conflict, InvalidInput, NotFound
from search_api.openapi import AUTH_RESPONSES

router = APIRouter(tags=["users"], responses=AUTH_RESPONSES, dependencies=[requires(ACCESS_ADMIN)])


class CameraGroupIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=2000)


class CameraGroupOut(BaseModel):
    name: str
    description: str
    camera_ids: list[str]

    @classmethod
    def of(cls, group: CameraGroup) -> CameraGroupOut:
        return cls(
            name=group.name, description=group.description, camera_ids=list(group.camera_ids)
        )


class CameraGroupAssign(BaseModel):
    group: str | None = Field(description="the camera's group; null: none")


def _audit(
    session: Session, principal: Principal, action: str, target: str, **filters: object
) -> None:
    append_audit(
        session, principal=principal.name, role=principal.role, action=action, target=target,
        filters=filters,
    )  # fmt: skip


def _user_id(session: Session, name: str) -> int:
    user = get_user(session, name)
    if user is None:
        raise NotFound(f"user {name!r} not found")
    return user.id


@router.get("/users", response_model=list[UserOut], summary="Users (never their passwords)")
def read_users(session: SessionDep) -> list[UserOut]:
    return [UserOut.of(user) for user in list_users(session)]


@router.post("/users", response_model=UserOut, status_code=201, summary="Add a user")
def add_user(body: UserIn, principal: PrincipalDep, session: SessionDep) -> UserOut:
    """422 naming a bad name, role or too short a password; 409 for a taken name. A new user
    sees no camera until granted one."""
    try:
        user = create_user(session, body.name, body.role, hash_password(body.password))
    except DuplicateUserError as error:
        raise Conflict(str(error)) from error
    except ValueError as error:
        raise InvalidInput(str(error)) from error
    _audit(session, principal, "user_create", f"user:{user.name}", role=user.role)
    session.commit()
    return UserOut.of(user)


@router.post("/users/{name}/disable", response_model=UserOut, summary="Disable a user")
def disable(name: str, principal: PrincipalDep, session: SessionDep) -> UserOut:
    """Its sessions end at once and it cannot log in."""
    try:
        user = disable_user(session, name)
    except UnknownUserError as error:
        raise NotFound(str(error)) from error
    _audit(session, principal, "user_disable", f"user:{name}")
    session.commit()
    return UserOut.of(user)


@router.get("/users/{name}/grants", response_model=list[GrantOut], summary="A user's cameras")
def read_grants(name: str, session: SessionDep) -> list[GrantOut]:
    return [GrantOut.of(g) for g in grants_of(session, user_id=_user_id(session, name))]


@router.post(
    "/users/{name}/grants", response_model=GrantOut, status_code=201, summary="Grant cameras"
)
def grant(name: str, body: GrantIn, principal: PrincipalDep, session: SessionDep) -> GrantOut:
    """One camera, one camera group, or (neither) every camera; applies to live sessions at
    their next request. 422 naming an unknown camera or group."""
    user_id = _user_id(session, name)
    try:
        made = add_grant(
            session, principal.name, user_id=user_id, camera_id=body.camera_id,
            group_name=body.group,
        )  # fmt: skip
    except (LookupError, ValueError) as error:
        raise InvalidInput(str(error)) from error
    _audit(session, principal, "grant_add", f"user:{name}", grant=made.target)
    session.commit()
    return GrantOut.of(made)


@router.delete(
    "/users/{name}/grants", status_code=status.HTTP_204_NO_CONTENT, summary="Remove a grant"
)
def ungrant(
    name: str,
    principal: PrincipalDep,
    session: SessionDep,
    camera_id: Annotated[str | None, Query(max_length=64)] = None,
    group: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    """The grant of `camera_id`, of `group`, or (neither) the every-camera grant; 404 if the
    user holds no such grant."""
    user_id = _user_id(session, name)
    try:
        removed = remove_grants(session, user_id=user_id, camera_id=camera_id, group_name=group)
    except ValueError as error:
        raise InvalidInput(str(error)) from error
    if not removed:
        raise NotFound(f"user {name!r} holds no such grant")
    _audit(session, principal, "grant_remove", f"user:{name}", camera_id=camera_id, group=group)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/camera-groups", response_model=list[CameraGroupOut], summary="Camera groups")
def read_camera_groups(session: SessionDep) -> list[CameraGroupOut]:
    return [CameraGroupOut.of(g) for g in list_camera_groups(session)]


@router.post(
    "/camera-groups", response_model=CameraGroupOut, status_code=201, summary="Add a group"
)
def add_camera_group(
    body: CameraGroupIn, principal: PrincipalDep, session: SessionDep
) -> CameraGroupOut:
    try:
        made = create_camera_group(session, body.name, body.description)
    except DuplicateCameraGroupError as error:
        raise Conflict(str(error)) from error
    except ValueError as error:
        raise InvalidInput(f"name: {error}") from error
    _audit(session, principal, "camera_group_create", f"group:{made.name}")
    session.commit()
    return CameraGroupOut.of(made)


@router.put(
    "/cameras/{camera_id}/group",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Put a camera in a group (or in none)",
)
def assign_camera_group(
    camera_id: str, body: CameraGroupAssign, principal: PrincipalDep, session: SessionDep
) -> Response:
    """A camera is in at most one group: this moves it. 404 for an unknown camera, 422 for an
    unknown group."""
    try:
        set_camera_group(session, camera_id, body.group)
    except UnknownCameraGroupError as error:
        raise InvalidInput(str(error)) from error
    _audit(session, principal, "camera_group_assign", f"camera:{camera_id}", group=body.group)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)

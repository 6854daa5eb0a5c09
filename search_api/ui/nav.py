"""The interface's pages in the top bar: path, text key (i18n/*.json) and the capabilities of
which the user needs one for the link to show. Add a line for a new page."""

from __future__ import annotations

from dataclasses import dataclass

from search_api.access import (
    AUDIT_READ,
    CAMERAS_VIEW,
    CASE_REVIEW,
    CASES,
    EVENTS_VIEW,
    FOOTAGE_UPLOAD,
    OBJECT_SEARCH,
    REINDEX,
)


@dataclass(frozen=True)
class NavItem:
    path: str
    label_key: str
    capabilities: frozenset[str]


NAV: tuple[NavItem, ...] = (
    NavItem("/ui/search", "nav.search", frozenset({OBJECT_SEARCH})),
    NavItem("/ui/cameras", "nav.cameras", frozenset({CAMERAS_VIEW})),
    NavItem("/ui/events", "nav.events", frozenset({EVENTS_VIEW})),
    NavItem("/ui/jobs", "nav.jobs", frozenset({FOOTAGE_UPLOAD, REINDEX})),
    NavItem("/ui/cases", "nav.cases", frozenset({CASES, CASE_REVIEW})),
    NavItem("/ui/audit", "nav.audit", frozenset({AUDIT_READ})),
)

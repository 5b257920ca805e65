"""HTTP caching (notebook 12): header policies, a real origin, shared caches, browsers.

Import it as ``cachelab.http``; inside this package ``import http.server`` still means the
standard library (imports are absolute), so nothing is shadowed.
"""

from .client import CLIENTS, Browser, Fetch, run_pattern
from .edge import NginxEdge, NginxUnavailable, PyEdge, find_nginx
from .headers import (
    BRIEF_PROFILES,
    PROFILES,
    CachePolicy,
    HeaderMistake,
    audit,
    check_etag,
    etag_for,
    response_headers,
)
from .origin import Origin

__all__ = [
    "BRIEF_PROFILES", "PROFILES", "CLIENTS", "Browser", "CachePolicy", "Fetch", "HeaderMistake",
    "NginxEdge", "NginxUnavailable", "Origin", "PyEdge", "audit", "check_etag", "etag_for",
    "find_nginx", "response_headers", "run_pattern",
]

"""Cache-Control policies, ETags and response headers that refuse the mistakes caches punish."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from email.utils import formatdate, parsedate_to_datetime

from ..checks import CachelabTypeError

__all__ = [
    "HeaderMistake", "CachePolicy", "parse_cache_control", "etag_for", "check_etag",
    "etags_match", "http_date", "parse_http_date", "response_headers", "audit",
    "freshness_lifetime", "PROFILES", "BRIEF_PROFILES",
]

#: RFC 9111 §1.2.2: caches treat delta-seconds above 2**31 as 2**31.
MAX_DELTA = 2**31
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_ETAG = re.compile(r'^(W/)?"[\x21\x23-\x7e\x80-\xff]*"$')
# Words that only ever appear in an ETag copied from an example, never computed from content.
_PLACEHOLDER = re.compile(r"hash[-_ ]?of|placeholder|todo|changeme|xxx|your[-_]?etag", re.I)
# Vary fields that split a response per user: a shared cache must never share them.
_PER_USER = {"authorization", "cookie"}


class HeaderMistake(ValueError):
    """A header combination that caches get wrong; the message says what to send instead."""

    def __init__(self, *problems: str):
        super().__init__(" · ".join(problems))
        self.problems = list(problems)


def _delta(name: str, value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise HeaderMistake(f"{name} takes whole seconds (an int), not {type(value).__name__} {value!r}")
    if value < 0:
        raise HeaderMistake(f"{name}={value}: a negative age is invalid; use 0 to mean 'stale at once'")
    if value > MAX_DELTA:
        raise HeaderMistake(f"{name}={value} exceeds 2**31 s, which caches cap anyway; a year is 31536000")


@dataclass(frozen=True)
class CachePolicy:
    """One Cache-Control (+ Vary) policy; building it refuses contradictions (:class:`HeaderMistake`)."""

    public: bool = False
    private: bool = False
    max_age: int | None = None
    s_maxage: int | None = None
    no_cache: bool = False
    no_store: bool = False
    must_revalidate: bool = False
    immutable: bool = False
    stale_while_revalidate: int | None = None
    stale_if_error: int | None = None
    vary: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.vary, str):
            object.__setattr__(self, "vary", tuple(v.strip() for v in self.vary.split(",") if v.strip()))
        if not isinstance(self.vary, (tuple, list)) or not all(isinstance(v, str) for v in self.vary):
            raise CachelabTypeError(f"vary is a tuple of request header names, e.g. "
                                    f"('Accept-Encoding',), got {self.vary!r:.80}")
        for name in ("max_age", "s_maxage", "stale_while_revalidate", "stale_if_error"):
            _delta(name.replace("_", "-"), getattr(self, name))
        problems = self.problems()
        if problems:
            raise HeaderMistake(*problems)

    def problems(self) -> list[str]:
        """Every contradiction in this policy, in plain words (empty when it is sound)."""
        out = []
        vary = {v.lower() for v in self.vary}
        if self.public and self.private:
            out.append("public and private contradict each other: private keeps it out of shared "
                       "caches, public invites them in; choose one")
        if (self.public or self.s_maxage is not None) and vary & _PER_USER:
            which = "public" if self.public else "s-maxage"
            out.append(f"{which} with Vary: {', '.join(sorted(vary & _PER_USER))}: {which} lets a shared "
                       "cache store answers to authenticated requests, so it keeps one copy per user, and "
                       "any cache that ignores Vary hands one user's response to the next; send `private` "
                       "(or make the response the same for everyone)")
        if self.private and self.s_maxage is not None:
            out.append("s-maxage only speaks to shared caches, which may not store a private response")
        if self.no_store:
            extra = [d for d, on in (("public", self.public), ("max-age", self.max_age is not None),
                                     ("s-maxage", self.s_maxage is not None), ("no-cache", self.no_cache),
                                     ("must-revalidate", self.must_revalidate),
                                     ("immutable", self.immutable),
                                     ("stale-while-revalidate", self.stale_while_revalidate is not None),
                                     ("stale-if-error", self.stale_if_error is not None)) if on]
            if extra:
                out.append(f"no-store with {', '.join(extra)}: no-store means nothing is kept, so "
                           f"{' and '.join(extra)} {'has' if len(extra) == 1 else 'have'} nothing to apply to: drop "
                           f"{'it' if len(extra) == 1 else 'them'}, or drop no-store "
                           "and use no-cache to keep the response but revalidate it every time")
        if self.immutable and (self.max_age is None or self.no_cache):
            out.append("immutable only means something while the response is fresh: give it a long "
                       "max-age (and a versioned URL), without no-cache")
        if self.must_revalidate and self.stale_if_error is not None:
            out.append("must-revalidate forbids serving stale, so stale-if-error can never apply")
        if "*" in vary:
            out.append("Vary: * makes every request a miss; say no-store if that is what you mean")
        bad = [v for v in self.vary if not _TOKEN.match(v)]
        if bad:
            out.append(f"Vary takes header names, not {bad}")
        return out

    def cache_control(self) -> str:
        """The Cache-Control header value, directives in a stable order."""
        parts = []
        for f in fields(self):
            if f.name == "vary":
                continue
            value = getattr(self, f.name)
            name = f.name.replace("_", "-")
            if value is True:
                parts.append(name)
            elif value is not None and value is not False:
                parts.append(f"{name}={value}")
        return ", ".join(parts)

    def headers(self) -> dict[str, str]:
        """Cache-Control, and Vary when set."""
        out = {"Cache-Control": self.cache_control()} if self.cache_control() else {}
        if self.vary:
            out["Vary"] = ", ".join(self.vary)
        return out

    @classmethod
    def parse(cls, value: str | None, vary: str | None = None) -> CachePolicy:
        """A policy from header values; raises :class:`HeaderMistake` for what it would refuse."""
        cc = parse_cache_control(value)
        kwargs: dict[str, object] = {}
        for f in fields(cls):
            name = f.name.replace("_", "-")
            if f.name == "vary" or name not in cc:
                continue
            raw = cc[name]
            if f.type in ("bool",):
                kwargs[f.name] = True
            else:
                try:
                    kwargs[f.name] = int(raw) if raw is not None else None
                except ValueError:
                    raise HeaderMistake(f"{name}={raw!r} is not a number of seconds") from None
        unknown = set(cc) - {f.name.replace("_", "-") for f in fields(cls)}
        if unknown:
            raise HeaderMistake(f"unknown Cache-Control directives {sorted(unknown)}")
        return cls(vary=vary or (), **kwargs)


def parse_cache_control(value: str | None) -> dict[str, str | None]:
    """``'public, max-age=60'`` -> ``{'public': None, 'max-age': '60'}`` (lenient, lower-case names)."""
    out: dict[str, str | None] = {}
    for part in (value or "").split(","):
        name, _, arg = part.strip().partition("=")
        if name:
            out[name.strip().lower()] = arg.strip().strip('"') if arg else None
    return out


def etag_for(body: bytes, *, weak: bool = False) -> str:
    """A strong (or weak) ETag computed from the bytes sent: it changes whenever they do."""
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise TypeError(f"etag_for() hashes the bytes you send, not {type(body).__name__}")
    digest = base64.urlsafe_b64encode(hashlib.sha256(bytes(body)).digest()[:18]).decode()
    return f'{"W/" if weak else ""}"{digest}"'


def check_etag(tag: str) -> str:
    """Return ``tag`` if it is a real entity-tag; refuse unquoted or placeholder values."""
    problems = []
    if not isinstance(tag, str) or not _ETAG.match(tag):
        problems.append(f"ETag {tag!r} is not an entity-tag: it must be a quoted string such as "
                        '"3q2-7w" (W/"..." for a weak one)')
    if isinstance(tag, str) and _PLACEHOLDER.search(tag):
        problems.append(f"ETag {tag!r} is a placeholder copied from an example: every version would "
                        "share it, so revalidation answers 304 and caches keep old content forever")
    if problems:
        raise HeaderMistake(*problems, "compute the ETag from the content: etag_for(body)")
    return tag


def etags_match(header: str | None, tag: str | None) -> bool:
    """If-None-Match's weak comparison: does ``header`` ('*' or a list) name ``tag``?"""
    if not header or not tag:
        return False
    if header.strip() == "*":
        return True
    bare = tag.removeprefix("W/")
    return any(t.strip().removeprefix("W/") == bare for t in header.split(","))


def http_date(ts: float) -> str:
    """An IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``) for a Unix time."""
    return formatdate(ts, usegmt=True)


def parse_http_date(value: str | None) -> float | None:
    """Unix time of an HTTP date, or None when it is missing or not a date (like ``Expires: 0``)."""
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def freshness_lifetime(headers: Mapping[str, str], *, shared: bool) -> float | None:
    """RFC 9111 §4.2.1: s-maxage (shared caches), else max-age, else Expires - Date; None if unset."""
    lower = {k.lower(): v for k, v in headers.items()}
    cc = parse_cache_control(lower.get("cache-control"))
    for name in (("s-maxage", "max-age") if shared else ("max-age",)):
        if cc.get(name) is not None:
            try:
                return float(int(cc[name]))
            except ValueError:
                return 0.0
    if "expires" in lower:
        expires, date = parse_http_date(lower["expires"]), parse_http_date(lower.get("date"))
        return max(expires - date, 0.0) if expires is not None and date is not None else 0.0
    return None


def response_headers(body: bytes, policy: CachePolicy | None, *, last_modified: float | None = None,
                     etag: str | None = None,
                     content_type: str = "text/plain; charset=utf-8") -> dict[str, str]:
    """Headers for ``body``: Cache-Control/Vary from ``policy``, a real ETag, Last-Modified.

    An explicit ``etag`` must be a real entity-tag (placeholders are refused); by default it
    is computed from ``body``. Pragma and Expires are never emitted: Cache-Control replaces them.
    """
    if policy is not None and not isinstance(policy, CachePolicy):
        raise TypeError(f"policy must be a CachePolicy, not {type(policy).__name__}")
    out = {"Content-Type": content_type, "ETag": check_etag(etag) if etag else etag_for(body)}
    if last_modified is not None:
        out["Last-Modified"] = http_date(last_modified)
    if policy is not None:
        out.update(policy.headers())
    return out


def audit(headers: Mapping[str, str]) -> list[str]:
    """What is wrong with a response's caching headers, in plain words (empty: nothing found)."""
    bad = [(k, v) for k, v in headers.items() if not (isinstance(k, str) and isinstance(v, str))]
    if bad:  # str(None) would be audited as the header text "None"
        raise CachelabTypeError(f"header names and values are str (as a response carries them), "
                                f"got {bad[0]!r:.80}; leave a missing header out")
    lower = {k.lower(): v for k, v in headers.items()}
    problems = []
    if "cache-control" in lower:
        try:
            CachePolicy.parse(lower["cache-control"], lower.get("vary"))
        except HeaderMistake as exc:
            problems.extend(exc.problems)
    vary = {v.strip().lower() for v in lower.get("vary", "").split(",") if v.strip()}
    if "accept-language" in vary:
        problems.append("Vary: Accept-Language splits the cache by every distinct language header "
                        "browsers send (hundreds); put the language in the URL instead")
    if "etag" in lower:
        try:
            check_etag(lower["etag"])
        except HeaderMistake as exc:
            problems.extend(exc.problems[:-1])
    if "pragma" in lower:
        problems.append("Pragma is an HTTP/1.0 request header; in a response it means nothing to "
                        "caches (RFC 9111 deprecates it): Cache-Control already says it")
    if "expires" in lower:
        when = parse_http_date(lower["expires"])
        if when is None:
            problems.append(f"Expires: {lower['expires']} is not a date, which caches read as "
                            "'already expired'; it is HTTP/1.0's way to say what Cache-Control "
                            "already says: drop it")
        elif "max-age" in lower.get("cache-control", ""):
            problems.append("Expires is ignored when Cache-Control has max-age: drop it")
    return problems


#: The brief's four header profiles, verbatim: shown, audited and served live in notebook 12.
BRIEF_PROFILES: dict[str, dict[str, str]] = {
    "static asset": {"Cache-Control": "public, max-age=31536000, immutable", "ETag": "hash-of-content"},
    "dynamic page": {"Cache-Control": "public, max-age=300, must-revalidate", "ETag": "hash-of-content",
                     "Vary": "Accept-Encoding, Accept-Language"},
    "API response": {"Cache-Control": "public, max-age=60, s-maxage=300", "ETag": "hash-of-response",
                     "Vary": "Authorization"},
    "private page": {"Cache-Control": "private, no-cache, no-store, must-revalidate",
                     "Pragma": "no-cache", "Expires": "0"},
}

#: The same four needs, fixed (ETag and Last-Modified come from the content, per response).
PROFILES: dict[str, CachePolicy] = {
    # Versioned URL (app.3f2a9c.css): safe to keep for a year and never revalidate.
    "static asset": CachePolicy(public=True, max_age=31536000, immutable=True),
    # Short browser life, longer at the CDN, served stale while refreshing or when the origin fails.
    "dynamic page": CachePolicy(public=True, max_age=60, s_maxage=300, stale_while_revalidate=60,
                                stale_if_error=86400, vary=("Accept-Encoding",)),
    # The same JSON for every caller: share it; per-user API data takes the private profile.
    "API response": CachePolicy(public=True, max_age=60, s_maxage=300, vary=("Accept-Encoding",)),
    # Per user: the browser may keep it but revalidates each use (cheap 304s); shared caches never.
    "private page": CachePolicy(private=True, no_cache=True),
    # Secrets (a bank statement): never written to any cache, the browser's included.
    "sensitive": CachePolicy(no_store=True),
}

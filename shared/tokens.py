"""Issuing lowkey's bearer secrets: a profile's token and feed token, an organiser's key,
each with the keyed hash it is stored and looked up by (and the feed token's copy sealed
under the profile token, so `GET /v1/me` can show it again). The API and the demo both
issue through here, so prefixes and purposes are the same everywhere.
"""

from __future__ import annotations

from typing import NamedTuple

from shared.crypto import new_token, seal, token_hash, unseal

PROFILE_TOKEN_PREFIX = "lk_usr_"
ORGANISER_KEY_PREFIX = "lk_org_"
# token_hash purposes: a hash made for one kind of token never finds another kind.
_PROFILE, _FEED, _ORGANISER = "profile", "feed", "organiser"
_FEED_SEAL = "feed-token"


class FeedToken(NamedTuple):
    """A fresh feed token with its lookup hash and its copy sealed under the profile token."""

    token: str
    hash: bytes
    sealed: bytes


class ProfileTokens(NamedTuple):
    """A new profile's token (shown once) with its lookup hash, and its first feed token."""

    token: str
    hash: bytes
    feed: FeedToken


class OrganiserKey(NamedTuple):
    """A new organiser's key (shown once) and the hash it is stored by."""

    key: str
    hash: bytes


def issue_profile_tokens(secret_key: str) -> ProfileTokens:
    token = new_token(PROFILE_TOKEN_PREFIX)
    return ProfileTokens(
        token, profile_token_hash(secret_key, token), issue_feed_token(secret_key, token)
    )


def issue_feed_token(secret_key: str, profile_token: str) -> FeedToken:
    """A feed token for a profile (on creation, and each time the user rotates it)."""
    token = new_token()
    sealed = seal(token.encode(), secret_key, profile_token, purpose=_FEED_SEAL)
    return FeedToken(token, feed_token_hash(secret_key, token), sealed)


def issue_organiser_key(secret_key: str) -> OrganiserKey:
    key = new_token(ORGANISER_KEY_PREFIX)
    return OrganiserKey(key, organiser_key_hash(secret_key, key))


def open_feed_token(secret_key: str, sealed: bytes, profile_token: str) -> str:
    """The feed token sealed for this profile token; `crypto.SealError` under another one."""
    return unseal(sealed, secret_key, profile_token, purpose=_FEED_SEAL).decode()


def profile_token_hash(secret_key: str, token: str) -> bytes:
    return token_hash(secret_key, token, purpose=_PROFILE)


def feed_token_hash(secret_key: str, token: str) -> bytes:
    return token_hash(secret_key, token, purpose=_FEED)


def organiser_key_hash(secret_key: str, key: str) -> bytes:
    return token_hash(secret_key, key, purpose=_ORGANISER)

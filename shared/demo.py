"""`lowkey up --demo`: a realistic demo city around Leeds (fixed seed) loaded into an
empty database through the same checks, hashes and seals as the API, then scored.
"""

from __future__ import annotations

import logging
import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import msgspec

from shared import bulk_scoring, match_copy
from shared.db import buddies, checkins, matches, scoring_inputs, stats
from shared.db.events import insert_event
from shared.db.organisers import insert_organiser
from shared.db.pool import create_pool
from shared.db.profiles import insert_profile
from shared.models.events import EventCreate, check_event
from shared.models.profiles import ProfileCreate
from shared.settings import Settings
from shared.timeutil import Refusal, stored_schedule
from shared.tokens import issue_organiser_key, issue_profile_tokens

log = logging.getLogger("lowkey.demo")

SEED = 20240917
TZ = "Europe/London"
EVENTS = 300
PROFILES = 3000
# (name, lat, lon) of Leeds neighbourhoods; venues and homes scatter around them.
AREAS = [
    ("City Centre", 53.7997, -1.5492),
    ("Headingley", 53.8194, -1.5806),
    ("Hyde Park", 53.8100, -1.5650),
    ("Chapel Allerton", 53.8290, -1.5380),
    ("Roundhay", 53.8360, -1.5000),
    ("Meanwood", 53.8330, -1.5720),
    ("Kirkstall", 53.8160, -1.6000),
    ("Armley", 53.7990, -1.5900),
    ("Holbeck", 53.7880, -1.5620),
    ("Beeston", 53.7750, -1.5600),
    ("Harehills", 53.8100, -1.5150),
    ("Horsforth", 53.8420, -1.6390),
]
# title, tags, group sizes, structure, noise, talking optional, newcomers, cost (pence), venue
KINDS = [
    (
        "Quiet board games",
        ["board-games"],
        (6, 12),
        "structured",
        "quiet",
        True,
        True,
        (0, 300),
        "Library",
    ),
    (
        "Anxiety peer support circle",
        ["support-group", "mental-health"],
        (5, 10),
        "structured",
        "quiet",
        True,
        True,
        (0,),
        "Community Centre",
    ),
    (
        "Gentle walking group",
        ["walking", "nature"],
        (6, 20),
        "semi",
        "quiet",
        True,
        True,
        (0,),
        "Park Gates",
    ),
    (
        "Library book club",
        ["book-club", "reading"],
        (5, 12),
        "structured",
        "quiet",
        False,
        True,
        (0,),
        "Library",
    ),
    (
        "Food bank volunteering shift",
        ["volunteering"],
        (4, 15),
        "structured",
        "moderate",
        True,
        True,
        (0,),
        "Food Bank",
    ),
    (
        "Knit and natter",
        ["knitting", "crafts"],
        (5, 14),
        "semi",
        "moderate",
        True,
        True,
        (0, 200),
        "Café",
    ),
    (
        "Beginners' chess club",
        ["chess", "board-games"],
        (6, 24),
        "structured",
        "quiet",
        True,
        False,
        (0, 250),
        "Community Centre",
    ),
    (
        "Park conservation morning",
        ["volunteering", "nature"],
        (8, 25),
        "structured",
        "moderate",
        True,
        True,
        (0,),
        "Park Gates",
    ),
    ("Pub quiz for newcomers", ["quiz"], (20, 60), "semi", "loud", False, True, (200, 500), "Pub"),
    (
        "Community choir taster",
        ["singing", "music"],
        (15, 40),
        "structured",
        "moderate",
        True,
        True,
        (0, 500),
        "Church Hall",
    ),
    (
        "Language exchange evening",
        ["languages"],
        (10, 40),
        "open",
        "moderate",
        False,
        False,
        (0, 300),
        "Café",
    ),
    (
        "Sketching in the museum",
        ["drawing", "crafts"],
        (4, 12),
        "semi",
        "quiet",
        True,
        False,
        (0, 500),
        "Museum",
    ),
]
TIMES = [(10, 2), (11, 2), (14, 2), (18, 2), (19, 2), (19, 3)]  # start hour, hours
# What a newcomer can expect, by kind of place (SPEC "What to expect"); a third of the
# events carry one, chosen by index so the seeded city is otherwise the same.
FIRST_VISITS: dict[str, dict[str, object]] = {
    "Library": {
        "greeter": "Priya at the front desk welcomes newcomers and walks you to the room",
        "how_to_find": "main entrance, then the reading room on the first floor",
        "leaving_early_ok": True,
    },
    "Community Centre": {
        "greeter": "Tom, wearing a blue lanyard, greets newcomers at the door",
        "how_to_find": "side entrance on the car park, room 2",
        "what_to_bring": "nothing; tea and biscuits are provided",
    },
    "Park Gates": {
        "greeter": "A volunteer in a green vest meets everyone at the gates",
        "what_to_bring": "comfortable shoes and a waterproof",
        "leaving_early_ok": True,
    },
    "Café": {"how_to_find": "the back room, past the counter", "leaving_early_ok": True},
    "Food Bank": {
        "greeter": "The shift lead, in a red apron, shows newcomers what to do",
        "what_to_bring": "closed shoes",
    },
}
# The support demo events give and demo users would like (SPEC "Support"), by index so
# the rest of the city stays as it was; "not said" is the most common answer.
SUPPORT_MIX: tuple[tuple[str, ...], ...] = (
    (),
    ("companionship",),
    (),
    ("emotional", "companionship"),
    ("informational",),
    ("practical", "informational"),
)
SEEKING_MIX: tuple[tuple[str, ...], ...] = (
    (),
    ("companionship",),
    (),
    ("emotional",),
    ("informational", "practical"),
)
# The demo event (by index) that began in the past, and how many days ago; a few of the
# users it matched say how its ended occurrences went (SPEC "Check-ins").
PAST_SERIES = 1
PAST_SERIES_DAYS = 15
DEMO_ANSWERS = ("went_fine", "didnt_go", "too_much", "went_fine")
# Every fifth demo profile (not the demo user) keeps a discreet calendar.
DISCREET_EVERY = 5
DISCREET_LABELS = ("Plans", "Evenings", "Week ahead")
NEEDS = ["step_free", "quiet_room", "transit_nearby", "hearing_loop", "seating"]


def _near(rng: random.Random, lat: float, lon: float, km: float) -> tuple[float, float]:
    return lat + rng.gauss(0, km / 111.0), lon + rng.gauss(0, km / 66.0)


def _event(rng: random.Random, i: int, today: date) -> EventCreate:
    title, tags, sizes, structure, noise, talking, newcomers, costs, place = rng.choice(KINDS)
    area, lat, lon = rng.choice(AREAS)
    hour, hours = rng.choice(TIMES)
    days = rng.randint(1, 40)
    # One series began two weeks ago: its ended occurrences are there to check in on.
    days = -PAST_SERIES_DAYS if i == PAST_SERIES else days
    start = datetime.combine(today + timedelta(days=days), datetime.min.time())
    start = start.replace(hour=hour)
    online = i % 15 == 0
    hybrid = not online and i % 11 == 0
    vlat, vlon = _near(rng, lat, lon, 0.8)
    cost = rng.choice(costs)
    venue = {"name": f"{area} {place}", "address": f"{area}, Leeds", "lat": vlat, "lon": vlon}
    return msgspec.convert(
        {
            # Named after where it happens: a hybrid is in its area and online too.
            "title": f"{title} (online)"
            if online
            else f"{title} ({area} and online)"
            if hybrid
            else f"{title} ({area})",
            "description": f"{title}: small and friendly; come as you are.",
            "starts_at": start.isoformat(timespec="seconds"),
            "ends_at": (start + timedelta(hours=hours)).isoformat(timespec="seconds"),
            "timezone": TZ,
            "recurrence": "FREQ=WEEKLY" if rng.random() < 0.4 or i == PAST_SERIES else None,
            "format": "online" if online else "hybrid" if hybrid else "in_person",
            "venue": None if online else venue,
            "online_url": "https://meet.example.org/lowkey-demo" if online or hybrid else None,
            "tags": list(tags),
            "group_size": rng.randint(*sizes),
            "structure": structure,
            "noise": noise,
            "talking_optional": talking,
            "newcomer_support": newcomers,
            "cost_cents": cost,
            "currency": "GBP",
            "accessibility": rng.sample(NEEDS, rng.randint(0, 3)),
            "languages": ["en"],
            "first_visit": _first_visit(place, i, online),
            "support": list(SUPPORT_MIX[i % len(SUPPORT_MIX)]),
        },
        EventCreate,
    )


def _first_visit(place: str, i: int, online: bool) -> dict[str, object] | None:
    if i % 3 != 0:
        return None
    if online:
        return {"how_to_find": "the link opens a few minutes early", "leaving_early_ok": True}
    return FIRST_VISITS.get(place, {"leaving_early_ok": True})


def _profile(rng: random.Random, n: int) -> ProfileCreate:
    _, lat, lon = rng.choice(AREAS)
    hlat, hlon = _near(rng, lat, lon, 1.5)
    tags = sorted({t for k in KINDS for t in k[1]})
    return msgspec.convert(
        {
            "home": {"lat": round(hlat, 3), "lon": round(hlon, 3)},
            "radius_km": rng.choice([1.5, 2, 3, 5, 8]),
            "interests": {
                t: round(rng.uniform(0.3, 1.0), 2) for t in rng.sample(tags, rng.randint(1, 4))
            },
            "comfort_level": rng.choice([1, 2, 2, 3, 3, 4, 5]),
            "open_to_stretch": rng.random() < 0.4,
            "formats": rng.choice([["in_person"], ["in_person", "online"], ["online"]]),
            **rng.choice(
                [
                    {},
                    {"max_cost_cents": 0, "currency": "GBP"},
                    {"max_cost_cents": 300, "currency": "GBP"},
                    {"max_cost_cents": 500, "currency": "GBP"},
                ]
            ),
            "timezone": TZ,
            "max_events_per_week": rng.choice([1, 2, 3]),
            **_calendar_style(n),
            "seeking": list(SEEKING_MIX[n % len(SEEKING_MIX)]),
        },
        ProfileCreate,
    )


def _calendar_style(n: int) -> dict[str, str]:
    if n % DISCREET_EVERY != 0:
        return {}
    label = DISCREET_LABELS[(n // DISCREET_EVERY) % len(DISCREET_LABELS)]
    return {"feed_style": "discreet", "calendar_label": label}


def demo_user() -> ProfileCreate:
    return msgspec.convert(
        {
            "display_name": "Demo user",
            "home": {"lat": 53.800, "lon": -1.549},
            "radius_km": 5,
            "interests": {"board-games": 0.9, "book-club": 0.8, "walking": 0.6, "knitting": 0.5},
            "comfort_level": 2,
            "open_to_stretch": True,
            "timezone": TZ,
        },
        ProfileCreate,
    )


async def load_demo(settings: Settings) -> str | None:
    """Load and score the demo city; the printable block, or None when the database
    already holds organisers, events or profiles (never mixed into real data)."""
    assert settings.database_url and settings.secret_key
    secret = settings.secret_key
    rng = random.Random(SEED)
    pool = await create_pool(settings.database_url, max_size=2)
    try:
        async with pool.acquire() as conn, conn.transaction():
            if not await scoring_inputs.lock_and_check_empty(conn):
                log.info("demo skipped: database holds data")
                return None
            org_key = issue_organiser_key(secret)
            organiser = await insert_organiser(
                conn, "Leeds Low-Key Events (demo)", "demo@example.org", org_key.hash
            )
            today = datetime.now(UTC).date()
            event_ids = []
            for i in range(EVENTS):
                event = await insert_event(
                    conn, organiser.id, check_event(_event(rng, i, today), can_geocode=False)
                )
                event_ids.append(event.id)
            user = issue_profile_tokens(secret)
            ids = []
            for n in range(PROFILES + 1):
                tokens = user if n == 0 else issue_profile_tokens(secret)
                profile = await insert_profile(
                    conn,
                    demo_user() if n == 0 else _profile(rng, n),
                    token_hash=tokens.hash,
                    feed_token_hash=tokens.feed.hash,
                    feed_token_sealed=tokens.feed.sealed,
                )
                ids.append(profile.id)
            # A trusted pair among the demo users (not the demo user: linking is theirs).
            await buddies.link(conn, ids[1], ids[2])
            await score_everything(conn)
            count = await stats.count_matches(conn)
            answered = await _demo_checkins(conn, event_ids[PAST_SERIES])
    finally:
        await pool.close()
    feed_url = f"{settings.feed_base_url}/feeds/{user.feed.token}.ics"
    log.info(
        "demo city loaded", extra={"events": EVENTS, "profiles": PROFILES + 1, "matches": count}
    )
    return "\n".join(
        [
            "lowkey demo city (Leeds) loaded:",
            f"  {EVENTS} events, {PROFILES + 1} profiles, {count} matches, 1 trusted pair,"
            f" {answered} check-ins",
            f"  demo organiser key: {org_key.key}",
            f"  demo user token:    {user.token}",
            f"  demo user's feed:   {feed_url}",
            f"  webcal:             webcal://{feed_url.split('://', 1)[1]}",
            f"  admin console:      {settings.public_url}/admin",
        ]
    )


async def _demo_checkins(conn: asyncpg.Connection, event_id: int) -> int:
    """The past series' ended occurrences recorded for the users it matches (as the
    worker's recorder does at each start), and a few of them answered: how many."""
    now = datetime.now(UTC)
    event = await checkins.event_times(conn, event_id)
    assert event is not None
    schedule = stored_schedule(*event, now)
    assert not isinstance(schedule, Refusal), "the demo's series passes the rules"
    tz = ZoneInfo(event.timezone)
    ended = [
        (event.id, start.astimezone(tz).replace(tzinfo=None), start, start + schedule.duration)
        for start in schedule.starts_between(now - timedelta(days=14), now)
        if start + schedule.duration <= now
    ]
    await checkins.record_occurrences(conn, ended)
    if not ended:
        return 0
    _, local, utc_start, _ = ended[-1]
    answered = 0
    for pid, answer in zip(
        await checkins.recorded_profiles(conn, event.id, local, len(DEMO_ANSWERS)),
        DEMO_ANSWERS,
        strict=False,
    ):
        record = await checkins.match_record(conn, pid, event.id, local)
        assert record is not None
        await checkins.save_answer(conn, pid, event.id, local, utc_start, answer, record)
        answered += 1
    return answered


async def score_everything(conn: asyncpg.Connection) -> int:
    """A full re-score inline, COPYed into the empty matches; how many eligible pairs."""
    now = datetime.now(UTC)
    events = await scoring_inputs.load_live_events(conn, now)
    profiles = await scoring_inputs.load_profile_range(conn, 0, 2**62)
    found = bulk_scoring.score_all(events, profiles, now=now)
    code_ids = await match_copy.code_ids(conn, found.texts)
    await matches.copy_binary(conn, "matches", match_copy.encode(found, code_ids))
    return len(found)

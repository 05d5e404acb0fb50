"""/start: the sign-up, one topic a step. Each step is a plain form that carries the earlier
answers along as hidden fields, so nothing is stored until the last step creates the
profile through the JSON API's own handler (its validation, SQL and rate limit).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any, NamedTuple

from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect

from services.api.pages import answers as form
from services.api.pages.choices import reach_choices
from services.api.pages.render import page
from services.api.pages.session import start_session
from services.api.pages.words import (
    ACCESS_WORDS,
    COMFORT_LEVELS,
    SUPPORT_CHOICES,
    currencies_for,
    language_name,
    zone_names,
)
from services.api.profiles import ProfilesController
from services.api.ratelimit import profile_creation_limit
from shared import geocoding
from shared.http.deps import PoolDep, QueueDep, SettingsDep
from shared.http.problems import TooManyRequests
from shared.settings import Settings

Reader = Callable[[form.Answers, form.Errors], dict[str, Any]]


class Step(NamedTuple):
    name: str
    title: str
    readers: tuple[Reader, ...]
    owns: tuple[str, ...]  # the form fields this step asks (a skip clears them)
    skippable: bool


STEPS = (
    Step("where", "Where are you?", (form.read_where,), ("lat", "lon"), False),
    Step(
        "distance",
        "How far would you go?",
        (form.read_radius,),
        ("radius_km", "radius_other"),
        False,
    ),
    Step("interests", "What do you enjoy?", (form.read_interests,), ("interests_other",), True),
    Step(
        "comfort",
        "How busy may an event feel?",
        (form.read_comfort,),
        ("comfort_level", "open_to_stretch", "adapt_comfort"),
        False,
    ),
    Step(
        "formats",
        "In person, online, or both?",
        (form.read_formats,),
        ("formats", "formats_seen"),
        True,
    ),
    Step("cost", "What may it cost?", (form.read_cost,), ("cost", "cost_amount", "currency"), True),
    Step(
        "languages",
        "Which languages do you speak?",
        (form.read_languages,),
        ("languages", "languages_other"),
        True,
    ),
    Step("access", "Anything that makes it easier to go?", (form.read_access,), ("access",), True),
    Step(
        "times",
        "When are you usually free?",
        (form.read_times, form.read_timezone),
        ("slots", "timezone"),
        True,
    ),
    Step(
        "pace",
        "How many suggestions a week?",
        (form.read_pace, form.read_name),
        ("max_events_per_week", "display_name"),
        True,
    ),
    Step(
        "support",
        "What kind of support would you like?",
        (form.read_support,),
        ("support",),
        True,
    ),
    Step(
        "calendar",
        "How should your calendar look?",
        (form.read_calendar,),
        ("feed_style", "calendar_label"),
        True,
    ),
)
BY_NAME = {step.name: i for i, step in enumerate(STEPS)}
ALL_READERS = tuple(reader for step in STEPS for reader in step.readers)
STEP_OF_FIELD = {
    "where": "where",
    "radius_km": "distance",
    "interests": "interests",
    "comfort_level": "comfort",
    "formats": "formats",
    "cost": "cost",
    "languages": "languages",
    "access": "access",
    "times": "times",
    "timezone": "times",
    "max_events_per_week": "pace",
    "display_name": "pace",
    "support": "support",
    "feed_style": "calendar",
    "calendar_label": "calendar",
}
# What a skipped step leaves as it was: the time zone is needed even with no times chosen.
KEPT_ON_SKIP = frozenset({"timezone"})


def _owned(step: Step, key: str) -> bool:
    return key in step.owns or (step.name == "interests" and key.startswith(form.TAG_PREFIX))


async def _step_page(
    request: Request[Any, Any, Any],
    index: int,
    answers: form.Answers,
    *,
    settings: Settings,
    pool: Any,
    errors: form.Errors | None = None,
    status_code: int = 200,
) -> Response[str]:
    step = STEPS[index]
    carried = {k: v for k, v in answers.items() if not _owned(step, k)}
    choices = await reach_choices(pool, answers) if step.name != "where" else None
    return page(
        request,
        "start.html",
        {
            "nav": "start",
            "step": step,
            "number": index + 1,
            "total": len(STEPS),
            "last": index == len(STEPS) - 1,
            "answers": answers,
            "carried": carried,
            "errors": errors or {},
            "choices": choices,
            "can_geocode": settings.geocoder is not None,
            "zones": zone_names(),
            "form": form,
            "comfort_words": COMFORT_LEVELS,
            "access_words": ACCESS_WORDS,
            "support_words": SUPPORT_CHOICES,
            "currencies": currencies_for(choices.currencies if choices else ()),
            "offered_languages": choices.languages if choices else [],
            "language_name": language_name,
        },
        status_code=status_code,
    )


async def _geocoded(
    address: str, answers: form.Answers, settings: Settings, pool: Any, queue: Any
) -> str | None:
    """Puts the place's point, rounded as it is kept, into the answers; or the problem.
    Never cached and never logged: only the rounded point goes on."""
    try:
        lat, lon = await geocoding.geocode(
            address, settings=settings, pool=pool, redis=queue, cache=False
        )
    except geocoding.AddressUnknown:
        return (
            "We could not find that place. Try a postcode or a nearby street, or use coordinates."
        )
    except geocoding.GeocoderUnavailable:
        return (
            "Finding places is not working just now. Please try again shortly, or use coordinates."
        )
    answers["lat"], answers["lon"] = [f"{lat:.3f}"], [f"{lon:.3f}"]
    return None


def _guess_defaults(answers: form.Answers, nearby: Counter[str], currencies: Counter[str]) -> None:
    """The browser's time zone, else the one most events in reach use, and their currency,
    until the person chooses."""
    browser_zone = form.first(answers, "browser_zone")
    if not form.first(answers, "timezone"):
        if browser_zone in zone_names():
            answers["timezone"] = [browser_zone]
        elif nearby:
            answers["timezone"] = [nearby.most_common(1)[0][0]]
    if not form.first(answers, "currency") and currencies:
        answers["currency"] = [currencies.most_common(1)[0][0]]


class StartPages(Controller):
    path = "/start"
    include_in_schema = False

    @get("/")
    async def first_step(
        self, request: Request[Any, Any, Any], settings: SettingsDep, pool: PoolDep
    ) -> Response[str]:
        return await _step_page(request, 0, {}, settings=settings, pool=pool)

    @post("/", status_code=200)
    async def next_step(
        self,
        request: Request[Any, Any, Any],
        settings: SettingsDep,
        pool: PoolDep,
        queue: QueueDep,
    ) -> Response[Any]:
        posted = await request.form()
        answers = form.answers_from_form(posted)
        index = BY_NAME.get(str(posted.get("step", "")), 0)
        step = STEPS[index]
        go = str(posted.get("go", "next"))
        if go == "back":
            return await _step_page(
                request, max(index - 1, 0), answers, settings=settings, pool=pool
            )
        errors: form.Errors = {}
        if go == "skip" and step.skippable:
            answers = {k: v for k, v in answers.items() if not _owned(step, k) or k in KEPT_ON_SKIP}
        else:
            address = str(posted.get("address", "")).strip()
            if step.name == "where" and address and settings.geocoder is not None:
                problem = await _geocoded(address, answers, settings, pool, queue)
                if problem:
                    errors["where"] = problem
            if not errors:
                wire = form.read_all(answers, step.readers, errors)
                form.check_fields(wire, errors)
            if errors:
                return await _step_page(
                    request,
                    index,
                    answers,
                    settings=settings,
                    pool=pool,
                    errors=errors,
                    status_code=422,
                )
        if step.name == "where":
            choices = await reach_choices(pool, answers)
            _guess_defaults(answers, choices.zones, choices.currencies)
        if index + 1 < len(STEPS):
            return await _step_page(request, index + 1, answers, settings=settings, pool=pool)
        return await self._create(request, answers, settings=settings, pool=pool, queue=queue)

    async def _create(
        self,
        request: Request[Any, Any, Any],
        answers: form.Answers,
        *,
        settings: Settings,
        pool: Any,
        queue: Any,
    ) -> Response[Any]:
        errors: form.Errors = {}
        profile = form.check_profile(form.read_all(answers, ALL_READERS, errors), errors)
        if profile is None:
            field = next(iter(errors))
            index = BY_NAME[STEP_OF_FIELD.get(field, "where")]
            return await _step_page(
                request,
                index,
                answers,
                settings=settings,
                pool=pool,
                errors=errors,
                status_code=422,
            )
        try:
            # The same limit as POST /v1/profiles, counted in the same bucket.
            await profile_creation_limit(request, request.route_handler)
        except TooManyRequests as exc:
            return page(
                request,
                "busy.html",
                {"nav": "start", "carried": answers, "retry_after": exc.headers or {}},
                status_code=429,
                headers=exc.headers,
            )
        # The JSON API's own handler: the page creates exactly what POST /v1/profiles does.
        created = await ProfilesController.create_profile.fn(
            None,
            request=request,
            data=profile,
            settings=settings,
            pool=pool,
            queue=queue,
            idempotency_key=None,
        )
        cookie = await start_session(request, created.id, created.token, key_pending=True)
        return Redirect("/me/calendar", status_code=303, cookies=[cookie])

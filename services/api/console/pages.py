"""Console pages: the overview, and the weights page with its live preview, save,
history, re-activation and re-score progress. Rendered on the server; htmx swaps parts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import msgspec
from litestar import Controller, get, post
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect, Template

from services.api.console.forms import FIELDS, parse_preview, parse_update
from services.api.console.session import signed_in
from services.api.stats import collect_stats
from services.api.weights import MAX_VERSION, activate_version, save_weights, weight_history
from shared.db.weights import active_version, get_version, last_rescore_run
from shared.http.deps import PoolDep, QueueDep, SettingsDep
from shared.http.problems import NotFound
from shared.models.weights import PreviewResult
from shared.preview import SampleTooSmall, run_preview

Form = URLEncodedBody[dict[str, str]]
HISTORY_ROWS = 20
SHOWN_USERS = 6  # changed users shown side by side; the counts cover the whole sample


class OverviewController(Controller):
    path = "/admin"
    guards = [signed_in]

    @get("/")
    async def overview(self, pool: PoolDep, queue: QueueDep, settings: SettingsDep) -> Template:
        stats = await collect_stats(pool, queue, settings)
        return Template("overview.html", context={"page": "overview", "stats": stats})


class WeightsPageController(Controller):
    path = "/admin/weights"
    guards = [signed_in]

    @get("/")
    async def weights_page(self, pool: PoolDep) -> Template:
        return await _weights_page(pool)

    @post("/", status_code=303)
    async def save(self, data: Form, pool: PoolDep) -> Redirect | Template:
        update, errors = parse_update(data)
        if update is None:
            return await _weights_page(pool, form=data, errors=errors, status_code=422)
        await save_weights(pool, update)
        return Redirect("/admin/weights", status_code=303)

    @post("/preview", status_code=200)
    async def preview(self, data: Form, pool: PoolDep) -> Template:
        request, errors = parse_preview(data)
        result = None
        if request is not None:
            try:
                result = await run_preview(
                    pool,
                    request.weights,
                    sample_size=request.sample_size,
                    seed=request.seed,
                )
            except SampleTooSmall as exc:
                errors = {"sample": str(exc)}
        return Template("_preview.html", context=_preview_context(result, errors))

    @get("/{version:int}/activate")
    async def confirm_activate(self, version: FromPath[int], pool: PoolDep) -> Template | Redirect:
        """Re-activating changes every user's matches at once: say so, and what it would
        change, before the button that does it (a plain form: no JavaScript needed)."""
        async with pool.acquire() as conn:
            active = await active_version(conn)
            chosen = await get_version(conn, version) if 1 <= version <= MAX_VERSION else None
        if chosen is None:
            raise NotFound(f"no weight version {version}")
        if chosen.active:
            return Redirect("/admin/weights", status_code=303)
        try:
            preview = await run_preview(pool, chosen.to_weights(), sample_size=50, seed=0)
        except SampleTooSmall:
            preview = None
        return Template(
            "confirm_activate.html",
            context={
                "page": "weights",
                "version": version,
                "v": chosen,
                "active": active,
                "preview": preview,
            },
        )

    @post("/{version:int}/activate", status_code=303)
    async def activate(
        self,
        version: FromPath[int],
        data: Form,
        pool: PoolDep,
    ) -> Redirect:
        if data.get("confirm") != "yes":  # not from the confirmation page: ask first
            return Redirect(f"/admin/weights/{version}/activate", status_code=303)
        await activate_version(pool, version)
        return Redirect("/admin/weights", status_code=303)

    @get("/progress")
    async def progress(self, pool: PoolDep) -> Template:
        async with pool.acquire() as conn:
            run = await last_rescore_run(conn)
        return Template("_progress.html", context={"run": run})


async def _weights_page(
    pool: asyncpg.Pool,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    async with pool.acquire() as conn:
        active = await active_version(conn)
        run = await last_rescore_run(conn)
    history = await weight_history(pool, limit=HISTORY_ROWS, cursor=None)
    values = {f.name: getattr(active, f.name) for f in FIELDS}
    if form:
        values.update({k: v for k, v in form.items() if k in values})
    return Template(
        "weights.html",
        status_code=status_code,
        context={
            "page": "weights",
            "active": active,
            "fields": FIELDS,
            "values": values,
            "form": form or {},
            "errors": errors or {},
            "history": history.items,
            "run": run,
        },
    )


def _preview_context(result: PreviewResult | None, errors: dict[str, str]) -> dict[str, Any]:
    if result is None:
        return {"result": None, "errors": errors}
    changed = [u for u in result.users if u.changed][:SHOWN_USERS]
    peak = max([*result.histogram.before, *result.histogram.after, 1])
    bins = [
        {"label": f"{lo:.1f} to {hi:.1f}", "before": b, "after": a}
        for lo, hi, b, a in zip(
            result.histogram.edges,
            result.histogram.edges[1:],
            result.histogram.before,
            result.histogram.after,
            strict=False,
        )
    ]
    return {
        "result": msgspec.to_builtins(result, builtin_types=(datetime,)),
        "changed": msgspec.to_builtins(changed, builtin_types=(datetime,)),
        "bins": bins,
        "peak": peak,
        "errors": errors,
    }

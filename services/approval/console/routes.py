"""The console's pages and forms. Reads go through ``reads`` inside the official's
jurisdiction; every change goes through the approval service's commands in one unit of work,
exactly as the JSON API's do, so a refusal by the rules writes nothing and is shown on the
form in Vietnamese."""

from __future__ import annotations

import time
from datetime import date
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.approval import commands, queries
from services.approval.console import export, labels, reads
from services.approval.console.session import Official, official_from_session, sign_in, sign_out
from services.approval.console.settings import ConsoleSettings
from services.approval.domain.model import ApprovalCase, ApprovalError, ChainCase, ClaimConflictError, ExemplaryTitle
from shared.contracts.inbound import (
    ExemplaryDecisionSubmitted,
    ExemplaryRevocationSubmitted,
    RecognitionRevocationSubmitted,
    ReviewDecisionSubmitted,
)
from shared.contracts.jurisdiction import may_decide
from shared.infra.auth import development_officials
from shared.infra.errors import DomainError
from shared.infra.http import http_command
from shared.infra.logging import get_logger
from shared.infra.outbox import ConcurrencyConflict
from shared.infra.runtime import ServiceRuntime

log = get_logger(__name__)

BASE = "/console"
HERE = Path(__file__).parent
HTMX_DIR = Path(str(files("js_lib_htmx") / "static" / "htmx"))


class NotSignedIn(Exception):
    pass


def current(request: Request) -> Official:
    official = official_from_session(request)
    if official is None:
        raise NotSignedIn
    return official


def hx_redirect(url: str) -> Response:
    return Response(status_code=200, headers={"HX-Redirect": url})


def hx_refresh() -> Response:
    """Reload the page the form is on: the unit-year's page, often opened at ``#exemplary``,
    where a redirect to the same address differing only in its fragment would not reload."""
    return Response(status_code=200, headers={"HX-Refresh": "true"})


def build_console(runtime: ServiceRuntime, settings: ConsoleSettings) -> FastAPI:
    app = FastAPI(title="Bảng điều khiển xét công nhận ANTT", docs_url=None, redoc_url=None, openapi_url=None)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    service = runtime.settings
    #: the development sign-in exists only outside production; its officials are the named
    #: development tokens (``api_tokens.json``), whom a supervisor may also reassign to
    dev_signin = not service.is_production
    officials = {o.id: Official.of(o) for o in development_officials(service)}
    oidc = service.identity_provider().enabled
    env = templates.env
    env.globals.update(base=BASE, L=labels, poll_s=settings.poll_interval_s, dev_signin=dev_signin, oidc=oidc)
    env.filters["vn_date"] = lambda d: (date.fromisoformat(d) if isinstance(d, str) else d).strftime("%d/%m/%Y") if d else ""
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.mount("/vendor/htmx", StaticFiles(directory=str(HTMX_DIR)), name="htmx")

    def page(request: Request, name: str, ctx: dict[str, Any], status: int = 200) -> HTMLResponse:
        return templates.TemplateResponse(request, name, {"official": official_from_session(request), **ctx}, status_code=status)

    @app.middleware("http")
    async def timing(request: Request, call_next: Any) -> Response:
        """Server-Timing on every answer, and a log line per page: what a page costs."""
        t0 = time.perf_counter()
        response: Response = await call_next(request)
        ms = (time.perf_counter() - t0) * 1000
        response.headers["Server-Timing"] = f"app;dur={ms:.1f}"
        if not request.url.path.startswith((f"{BASE}/static", f"{BASE}/vendor")):
            log.info(
                "console.request", method=request.method, path=request.url.path, status=response.status_code, ms=round(ms, 1)
            )
        return response

    @app.exception_handler(NotSignedIn)
    async def _signin(request: Request, _exc: NotSignedIn) -> Response:
        if request.headers.get("HX-Request"):
            return hx_redirect(f"{BASE}/login")
        return RedirectResponse(f"{BASE}/login", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        titles = {403: "Không có quyền truy cập", 404: "Không tìm thấy"}
        return page(
            request,
            "error.html",
            {"title": titles.get(exc.status_code, "Lỗi"), "message": exc.detail if isinstance(exc.detail, str) else ""},
            status=exc.status_code,
        )

    async def load_case(official: Official, unit_year_id: str) -> ApprovalCase:
        case = await runtime.read(lambda s: queries.case(s, unit_year_id))
        if case is None:
            raise StarletteHTTPException(404, f"Không có hồ sơ {unit_year_id}.")
        if not reads.in_scope(official, case):
            raise StarletteHTTPException(
                403, f"Hồ sơ {unit_year_id} không thuộc phạm vi quản lý của đồng chí ({official.jurisdiction})."
            )
        return case

    # ------------------------------------------------------------------ sign-in
    @app.get("/", include_in_schema=False)
    async def home(request: Request) -> Response:
        official = current(request)
        return RedirectResponse(f"{BASE}/{'follow' if official.role == 'follow' else 'queue'}", status_code=303)

    @app.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request) -> Response:
        if not dev_signin:
            return page(request, "login.html", {"groups": [], "production": True})
        groups: dict[str, list[Official]] = {}
        for o in officials.values():
            groups.setdefault(labels.LEVEL.get(o.level, o.level), []).append(o)
        order = [labels.LEVEL[lv] for lv in ("commune", "district", "province", "ministry")]
        return page(
            request, "login.html", {"groups": sorted(groups.items(), key=lambda g: order.index(g[0]) if g[0] in order else 9)}
        )

    @app.post("/login")
    async def login(request: Request) -> Response:
        if not dev_signin:
            raise StarletteHTTPException(404, "Đăng nhập phát triển không dùng trong môi trường vận hành.")
        form = await request.form()
        o = officials.get(str(form.get("official", "")))
        if o is None:
            return page(request, "_flash.html", {"error": "Không có cán bộ này trong danh sách."})
        sign_in(request, o)
        log.info("console.signed_in", official=o.id, role=o.role, jurisdiction=o.jurisdiction)
        return hx_redirect(f"{BASE}/{'follow' if o.role == 'follow' else 'queue'}")

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        sign_out(request)
        return hx_redirect(f"{BASE}/login")

    # ------------------------------------------------------------------ queue
    def queue_filter(request: Request, official: Official) -> reads.QueueFilter:
        q = request.query_params
        try:
            pg = int(q.get("page", "1"))
        except ValueError:
            pg = 1
        step = q.get("step", reads.default_step(official) if "step" not in q else "")
        return reads.QueueFilter(
            level=q.get("level", ""),
            commune=q.get("commune", ""),
            kind=q.get("kind", ""),
            state=q.get("state", ""),
            step=step if step in ("", "review", "decide") else "",
            late=q.get("late") in ("1", "on", "true"),
            claim=q.get("claim", "") if q.get("claim", "") in ("mine", "unclaimed", "others") else "",
            page=pg,
            track="exemplary" if q.get("track") == "exemplary" else "",
        )

    async def queue_context(request: Request, official: Official) -> dict[str, Any]:
        f = queue_filter(request, official)
        today = queries.today()

        def read(s: Session) -> tuple[reads.QueuePage, int, int]:
            # the page of the chosen track, and how many wait on each track (the tabs' counts)
            if f.track == "exemplary":
                qp = reads.exemplary_queue_page(s, official, f, page_size=settings.page_size)
            else:
                qp = reads.queue_page(s, official, f, today=today, page_size=settings.page_size)
            return qp, reads.antt_waiting(s, official, f), reads.exemplary_waiting(s, official, f)

        qp, antt_n, exemplary_n = await runtime.read(read)
        params = f.query()
        if "step" not in params:
            params["step"] = ""

        def page_url(n: int) -> str:
            return f"{BASE}/queue?" + urlencode({**params, "page": n})

        return {
            "f": f,
            "q": qp,
            "levels": reads.levels_for(official),
            "level": f.level if f.level in reads.levels_for(official) else official.level,
            "page_url": page_url,
            "rows_url": f"{BASE}/queue/rows?" + urlencode(params | {"page": qp.page}),
            "now": time.strftime("%H:%M:%S"),
            "today": today,
            "waiting": {"antt": antt_n, "exemplary": exemplary_n},
            "tab_url": lambda track: f"{BASE}/queue?" + urlencode({"track": track} if track else {}),
        }

    @app.get("/queue", response_class=HTMLResponse)
    async def queue_page(request: Request) -> Response:
        official = current(request)
        return page(request, "queue.html", await queue_context(request, official))

    @app.get("/queue/rows", response_class=HTMLResponse)
    async def queue_rows(request: Request) -> Response:
        official = current(request)
        ctx = await queue_context(request, official)
        return page(request, "_exemplary_rows.html" if ctx["f"].track == "exemplary" else "_queue_rows.html", ctx)

    # ------------------------------------------------------------------ a unit-year
    @app.get("/unit-years/{unit_year_id}", response_class=HTMLResponse)
    async def unit_year(request: Request, unit_year_id: str) -> Response:
        official = current(request)
        await load_case(official, unit_year_id)
        today = queries.today()

        def read(s: Session) -> dict[str, Any]:
            case = queries.case(s, unit_year_id)
            assert case is not None
            return reads.unit_year_page(s, case, official, today=today)

        view = await runtime.read(read)
        case = view["case"]
        view["assignable"] = assignable(official, case, may_act=view["may_act"])
        x = view["exemplary"]
        if x is not None:
            x["assignable"] = assignable(official, x["title"], may_act=x["may_act"])
        view["today"] = today
        return page(request, "unit_year.html", view)

    def assignable(official: Official, case: ChainCase, *, may_act: bool) -> list[Official]:
        """The officials a supervisor may give the case's pending step to (none for others)."""
        if not (official.supervisor and may_act):
            return []
        return [
            o
            for o in officials.values()
            if o.id != official.id
            and o.role in ("appraise", "decide", "supervise")
            and may_decide([o.jurisdiction], case.pending_level or "", case.unit)
            and o.may_take(case.pending_role)
        ]

    async def refused(request: Request, exc: DomainError, unit_year_id: str, target: str, *, exemplary: bool = False) -> Response:
        """Render a refusal in Vietnamese where the form shows its errors (``exemplary``: a
        refusal on the unit-year's exemplary title, whose state and verdict it explains)."""
        ctx: dict[str, Any] = {"exemplary": exemplary}
        if isinstance(exc, ClaimConflictError):
            ctx["holder"] = exc.holder

        def read(s: Session) -> None:
            if exemplary:
                ctx["case"] = queries.exemplary_title(s, unit_year_id)
                return
            case = queries.case(s, unit_year_id)
            ctx["case"] = case
            if case is not None and case.kind == "commune":
                ctx["rollup"] = queries.commune_rollup(s, case).view()

        await runtime.read(read)
        message = labels.refusal(exc.code, exc.reason, ctx)
        log.info("console.refused", unit_year_id=unit_year_id, error_code=exc.code, reason=exc.reason)
        return page(request, "_flash.html", {"error": message, "code": exc.code, "detail": exc.reason, "target": target})

    async def run_command(
        request: Request,
        unit_year_id: str,
        fn: Any,
        target: str,
        expected_version: int | None = None,
        *,
        exemplary: bool = False,
    ) -> Response | None:
        def tx(uow: Any) -> Any:
            if expected_version is not None:
                c = uow.get(ApprovalCase, unit_year_id)
                if c is not None and c.version != expected_version:
                    raise ApprovalError(
                        "conflict",
                        f"unit-year {unit_year_id} changed since the form was opened (version {expected_version} -> {c.version})",
                    )
            return fn(uow)

        try:
            await runtime.transaction(tx)
        except DomainError as exc:
            return await refused(request, exc, unit_year_id, target, exemplary=exemplary)
        except (StaleDataError, ConcurrencyConflict, IntegrityError):
            conflict = ApprovalError("conflict", "changed concurrently")
            return await refused(request, conflict, unit_year_id, target, exemplary=exemplary)
        return None

    def back(request: Request, unit_year_id: str, form: Any) -> str:
        nxt = str(form.get("next", ""))
        return nxt if nxt.startswith(f"{BASE}/") else f"{BASE}/unit-years/{unit_year_id}"

    def decision_payload(model: Any, form: Any, unit_year_id: str, level: str, official: Official, **extra: Any) -> Any:
        """The decision form as the inbound contract's payload (``model``: the ANTT decision's
        or the exemplary title's), or what is wrong with it, in Vietnamese."""
        reasons = [line.strip() for line in str(form.get("reasons", "")).splitlines() if line.strip()]
        try:
            return model.model_validate(
                {
                    "unit_year_id": unit_year_id,
                    "level": level,
                    "decision": str(form.get("decision", "")),
                    "reasons": reasons,
                    "decided_by": official.name,
                    "decision_no": str(form.get("decision_no", "")).strip() or None,
                    "decided_on": str(form.get("decided_on", "")).strip() or None,
                    "certificate_no": str(form.get("certificate_no", "")).strip() or None,
                    **extra,
                }
            )
        except ValidationError as exc:
            fields = {
                "decision": "loại quyết định",
                "decided_on": "ngày quyết định (dd/mm/yyyy)",
                "decision_no": "số quyết định",
                "certificate_no": "số giấy chứng nhận",
                "level": "cấp xét duyệt",
                "step": "bước xét duyệt",
                "expected_version": "phiên bản hồ sơ",
            }
            bad = sorted({fields.get(str(e["loc"][0]), str(e["loc"][0])) for e in exc.errors()})
            return f"Thông tin chưa hợp lệ: {', '.join(bad)}."

    @app.post("/unit-years/{unit_year_id}/decide")
    async def decide(request: Request, unit_year_id: str) -> Response:
        official = current(request)
        form = await request.form()
        case = await load_case(official, unit_year_id)
        if not official.may_take(case.pending_role):
            step = labels.STEP_ROLE.get(case.pending_role or "", "—")
            return page(
                request,
                "_flash.html",
                {
                    "error": f"{labels.REFUSAL['wrong_role']} Bước đang chờ: {step}; vai trò của đồng chí: {labels.ROLE.get(official.role)}.",
                    "target": "decide-errors",
                },
            )
        try:
            version = int(str(form.get("version", "")))
        except ValueError:
            version = None
        parsed = decision_payload(
            ReviewDecisionSubmitted, form, unit_year_id, str(form.get("level") or case.pending_level), official
        )
        if isinstance(parsed, str):
            return page(request, "_flash.html", {"error": parsed, "target": "decide-errors"})
        payload = parsed
        cmd = http_command("ReviewDecisionSubmitted", payload, official.actor())
        err = await run_command(request, unit_year_id, lambda uow: commands.decide(uow, cmd), "decide-errors", version)
        return err or hx_redirect(f"{BASE}/unit-years/{unit_year_id}")

    @app.post("/unit-years/{unit_year_id}/revoke")
    async def revoke(request: Request, unit_year_id: str) -> Response:
        official = current(request)
        form = await request.form()
        await load_case(official, unit_year_id)
        target = str(form.get("target", "revoke-errors"))
        if official.role not in ("decide", "supervise"):
            return page(request, "_flash.html", {"error": labels.REFUSAL["forbidden"], "target": target})
        reasons = [line.strip() for line in str(form.get("reasons", "")).splitlines() if line.strip()]
        try:
            payload = RecognitionRevocationSubmitted.model_validate(
                {
                    "unit_year_id": unit_year_id,
                    "reasons": reasons,
                    "decided_by": official.name,
                    "decision_no": str(form.get("decision_no", "")).strip() or None,
                    "decided_on": str(form.get("decided_on", "")).strip() or None,
                }
            )
        except ValidationError:
            return page(
                request,
                "_flash.html",
                {"error": "Quyết định thu hồi phải ghi rõ lý do (và ngày hợp lệ, nếu có).", "target": target},
            )
        cmd = http_command("RecognitionRevocationSubmitted", payload, official.actor())
        err = await run_command(request, unit_year_id, lambda uow: commands.revoke(uow, cmd), target)
        return err or hx_redirect(back(request, unit_year_id, form))

    # ------------------------------------------------------------------ the exemplary title
    async def load_title(official: Official, unit_year_id: str) -> ExemplaryTitle:
        await load_case(official, unit_year_id)  # the unit-year, inside the jurisdiction
        title = await runtime.read(lambda s: queries.exemplary_title(s, unit_year_id))
        if title is None:
            raise StarletteHTTPException(404, f"Đơn vị {unit_year_id} chưa được đề nghị công nhận điển hình.")
        return title

    # ------------------------------------------------------------------ claims ("Tôi xử lý")
    def claim_routes(prefix: str, *, exemplary: bool) -> None:
        """Claim, release and reassign the pending step of one track's case: the ANTT
        recognition's (``/unit-years/{id}/claim``, ...) or the exemplary title's
        (``/unit-years/{id}/exemplary/claim``, ...). The two tracks' claims are separate."""

        async def load(official: Official, unit_year_id: str) -> None:
            await (load_title(official, unit_year_id) if exemplary else load_case(official, unit_year_id))

        def request_of(official: Official, unit_year_id: str, **kw: Any) -> commands.ClaimRequest:
            return commands.ClaimRequest(
                unit_year_id=unit_year_id, official=official.ref, supervisor=official.supervisor, exemplary=exemplary, **kw
            )

        async def run(
            request: Request, official: Official, unit_year_id: str, name: str, body: commands.ClaimRequest, fn: Any
        ) -> Response:
            form = await request.form()
            cmd = http_command(name, body, official.actor())
            err = await run_command(request, unit_year_id, lambda uow: fn(uow, cmd), "flash", exemplary=exemplary)
            return err or hx_redirect(back(request, unit_year_id, form))

        @app.post(f"/unit-years/{{unit_year_id}}{prefix}/claim")
        async def claim(request: Request, unit_year_id: str) -> Response:
            official = current(request)
            await load(official, unit_year_id)
            body = request_of(official, unit_year_id)
            return await run(request, official, unit_year_id, "CaseClaimRequested", body, commands.claim)

        @app.post(f"/unit-years/{{unit_year_id}}{prefix}/release")
        async def release(request: Request, unit_year_id: str) -> Response:
            official = current(request)
            form = await request.form()
            await load(official, unit_year_id)
            reason = str(form.get("reason", "")).strip() or None
            body = request_of(official, unit_year_id, reason=reason)
            return await run(request, official, unit_year_id, "CaseReleaseRequested", body, commands.release)

        @app.post(f"/unit-years/{{unit_year_id}}{prefix}/reassign")
        async def reassign(request: Request, unit_year_id: str) -> Response:
            official = current(request)
            form = await request.form()
            await load(official, unit_year_id)
            to = officials.get(str(form.get("assign_to", "")))
            if to is None:
                return page(request, "_flash.html", {"error": "Hãy chọn cán bộ được phân công.", "target": "flash"})
            reason = str(form.get("reason", "")).strip() or None
            body = request_of(official, unit_year_id, reason=reason, assign_to=to.ref, assign_to_jurisdiction=to.jurisdiction)
            return await run(request, official, unit_year_id, "CaseReassignRequested", body, commands.reassign)

    claim_routes("", exemplary=False)
    claim_routes("/exemplary", exemplary=True)

    @app.post("/unit-years/{unit_year_id}/exemplary/decide")
    async def decide_exemplary(request: Request, unit_year_id: str) -> Response:
        """A decision of the exemplary title's chain, through ``commands.decide_exemplary``: the
        form names the step and the title's version it was opened on, so a decision taken on a
        step already decided (another official, a second click) is refused, with nothing written."""
        official = current(request)
        form = await request.form()
        title = await load_title(official, unit_year_id)
        target = "exemplary-errors"
        # a step awaits and is not the official's to take (none awaiting: the command says why)
        if title.pending_role is not None and not official.may_take(title.pending_role):
            step = labels.STEP_ROLE.get(title.pending_role or "", "—")
            return page(
                request,
                "_flash.html",
                {
                    "error": f"{labels.REFUSAL['wrong_role']} Bước đang chờ: {step}; vai trò của đồng chí: {labels.ROLE.get(official.role)}.",
                    "target": target,
                },
            )
        parsed = decision_payload(
            ExemplaryDecisionSubmitted,
            form,
            unit_year_id,
            str(form.get("level") or title.pending_level),
            official,
            step=str(form.get("step") or title.pending_role or "") or None,
            expected_version=str(form.get("version", "")).strip() or None,
        )
        if isinstance(parsed, str):
            return page(request, "_flash.html", {"error": parsed, "target": target})
        cmd = http_command("ExemplaryDecisionSubmitted", parsed, official.actor())
        err = await run_command(request, unit_year_id, lambda uow: commands.decide_exemplary(uow, cmd), target, exemplary=True)
        return err or hx_refresh()

    @app.post("/unit-years/{unit_year_id}/exemplary/revoke")
    async def revoke_exemplary(request: Request, unit_year_id: str) -> Response:
        """Thu hồi the exemplary title alone (the ANTT recognition stays), by its recognising level."""
        official = current(request)
        form = await request.form()
        title = await load_title(official, unit_year_id)
        target = "exemplary-revoke-errors"
        if official.role not in ("decide", "supervise"):
            return page(request, "_flash.html", {"error": labels.REFUSAL["forbidden"], "target": target})
        reasons = [line.strip() for line in str(form.get("reasons", "")).splitlines() if line.strip()]
        try:
            payload = ExemplaryRevocationSubmitted.model_validate(
                {
                    "unit_year_id": unit_year_id,
                    "reasons": reasons,
                    "decided_by": official.name,
                    "decision_no": str(form.get("decision_no", "")).strip() or None,
                    "decided_on": str(form.get("decided_on", "")).strip() or None,
                    "expected_version": str(form.get("version", "")).strip() or title.version,
                }
            )
        except ValidationError:
            return page(
                request,
                "_flash.html",
                {"error": "Quyết định thu hồi danh hiệu điển hình phải ghi rõ lý do (và ngày hợp lệ, nếu có).", "target": target},
            )
        cmd = http_command("ExemplaryRevocationSubmitted", payload, official.actor())
        err = await run_command(request, unit_year_id, lambda uow: commands.revoke_exemplary(uow, cmd), target, exemplary=True)
        return err or hx_refresh()

    # ------------------------------------------------------------------ following
    async def follow_context(request: Request, official: Official) -> dict[str, Any]:
        yrs = await runtime.read(lambda s: reads.years(s, official))
        try:
            year = (
                int(request.query_params.get("year", ""))
                if request.query_params.get("year")
                else (yrs[0] if yrs else queries.today().year)
            )
        except ValueError:
            year = yrs[0] if yrs else queries.today().year
        commune = request.query_params.get("commune", "")
        if official.jurisdiction.startswith("commune:"):
            commune = official.jurisdiction.partition(":")[2]
        today = queries.today()
        d = await runtime.read(lambda s: reads.dashboard(s, official, year=year, commune=commune, today=today))
        return {
            **d,
            "years": yrs,
            "today": today,
            "export_q": urlencode({"year": year, **({"commune": commune} if commune else {})}),
        }

    @app.get("/follow", response_class=HTMLResponse)
    async def follow(request: Request) -> Response:
        official = current(request)
        return page(request, "follow.html", await follow_context(request, official))

    async def export_items(request: Request) -> tuple[Official, int, str, list[dict[str, Any]]]:
        official = current(request)
        try:
            year = int(request.query_params.get("year", str(queries.today().year)))
        except ValueError:
            raise StarletteHTTPException(400, "Năm không hợp lệ.") from None
        commune = request.query_params.get("commune", "")
        if official.jurisdiction.startswith("commune:"):
            commune = official.jurisdiction.partition(":")[2]
        items = await runtime.read(lambda s: reads.recognised(s, official, year=year, commune=commune))
        return official, year, commune, items

    @app.get("/export.xlsx")
    async def export_xlsx(request: Request) -> Response:
        official, year, commune, items = await export_items(request)
        where = f"{official.jurisdiction}{', ' + commune if commune else ''}"
        title = f"Danh sách đơn vị được công nhận đạt tiêu chuẩn “An toàn về an ninh, trật tự” năm {year} ({where})"
        exemplary = await runtime.read(lambda s: reads.recognised_exemplary(s, official, year=year, commune=commune))
        ex_title = (
            f"Danh sách đơn vị được công nhận điển hình, kiểu mẫu về ANTT và phong trào toàn dân bảo vệ ANTQ năm {year} ({where})"
        )
        return Response(
            export.to_xlsx(items, title=title, exemplary=exemplary, exemplary_title=ex_title),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="danh-sach-cong-nhan-{year}.xlsx"'},
        )

    @app.get("/export.csv")
    async def export_csv(request: Request) -> Response:
        _official, year, _commune, items = await export_items(request)
        return Response(
            export.to_csv(items),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="danh-sach-cong-nhan-{year}.csv"'},
        )

    return app

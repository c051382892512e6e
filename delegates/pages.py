"""The delegates' web pages: a delegate's mandates, report-backs, and the federation council.

Built on `node.web.extend`, so that the pages look and behave like the node's own while `node`
never imports this package.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from flask import Flask, current_app, redirect, request, url_for
from flask_babel import gettext, lazy_gettext
from pydantic import ValidationError
from sqlalchemy import select

from delegates import council, documents, recall, schemas, trust
from delegates import mandate as mandates
from delegates.models import (
    Act,
    CouncilProposal,
    CouncilStatus,
    Mandate,
    MandateStatus,
    PetitionSignature,
    PetitionStatus,
    RecallPetition,
)
from federation.models import Peer, PeerStatus, Relation
from node.assemblies import service as assemblies
from node.assemblies.methods import ALLOWED
from node.assemblies.models import Minute, Proposal, ProposalStatus
from node.db import get_session, utcnow
from node.errors import Forbidden, Problem
from node.members.models import Member
from node.web import forms
from node.web.assemblies import STANCE_ORDER
from node.web.base import done, page_member, render
from node.web.extend import add_to_menu, pages_blueprint
from node.web.forms import FormErrors
from node.web.listings import local_time

bp = pages_blueprint("delegates_pages", __name__)


def _app() -> Flask:
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    return app


def _names(ids: set[str]) -> dict[str, str]:
    """Federations and nodes by name where this node knows them, else by a short id."""
    known = {p.id: p.name for p in get_session().scalars(select(Peer).where(Peer.id.in_(ids)))} if ids else {}
    return {i: known.get(i) or i[:12] for i in ids}


@bp.get("/mandates")
def index() -> Any:
    """The member's own mandates first, then the node's other delegates."""
    member, db = page_member(), get_session()
    rows = list(db.scalars(select(Mandate).order_by(Mandate.received_at.desc()).limit(50)))
    mine = [m for m in rows if m.member_id == member.id]
    others = [m for m in rows if m.member_id != member.id and m.member_id is not None]
    return render(
        "delegates/index.html",
        mine=mine,
        others=others,
        names=_names({m.federation for m in rows}),
        now=utcnow(),
    )


def _reports(mandate: Mandate) -> list[Minute]:
    if mandate.assembly_id is None or mandate.member_id is None:
        return []
    stmt = select(Minute).where(
        Minute.assembly_id == mandate.assembly_id,
        Minute.kind == "report",
        Minute.author_id == mandate.member_id,
    )
    return list(get_session().scalars(stmt.order_by(Minute.id.desc()).limit(30)))


def _mandate_page(mandate: Mandate, status: int = 200, **extra: Any) -> Any:
    member, db = page_member(), get_session()
    questions = list(
        db.scalars(
            select(CouncilProposal)
            .where(CouncilProposal.federation == mandate.federation)
            .order_by(CouncilProposal.opened_at.desc())
            .limit(20)
        )
    )
    carried = [(q, council.position_for(mandate, q)) for q in questions]
    return render(
        "delegates/mandate.html",
        status=status,
        mandate=mandate,
        mine=mandate.member_id == member.id,
        live=mandate.status is MandateStatus.LIVE and mandate.expires_at > utcnow(),
        reports=_reports(mandate),
        names=_names({mandate.federation, mandate.issuer}),
        carried=carried,
        **_recall_state(mandate, member),
        **extra,
    )


def _recall_state(mandate: Mandate, member: Member) -> dict[str, Any]:
    """What the recall part of the mandate page shows: whether this node's assembly can still
    recall the mandate, the petition for a recall vote, and the recall vote if one is open."""
    db = get_session()
    recallable = (
        mandate.assembly_id is not None
        and mandate.issuer == trust.local_id(_app(), db)
        and mandate.status is not MandateStatus.RECALLED
        and mandate.expires_at > utcnow()
    )
    if not recallable:
        return {"recallable": False}
    petition = db.scalar(
        select(RecallPetition)
        .where(RecallPetition.mandate_id == mandate.id, RecallPetition.status == PetitionStatus.OPEN)
        .limit(1)
    )
    signed = petition is not None and db.scalar(
        select(PetitionSignature.id).where(
            PetitionSignature.petition_id == petition.id, PetitionSignature.member_id == member.id
        )
    ) is not None
    votes = db.scalars(
        select(Proposal).where(
            Proposal.assembly_id == mandate.assembly_id,
            Proposal.kind == recall.RECALL_KIND,
            Proposal.status == ProposalStatus.OPEN,
        )
    )
    return {
        "recallable": True,
        "petition": petition,
        "petition_signatures": recall.signatures(db, petition) if petition else 0,
        "petition_signed": signed,
        "recall_vote": next((p for p in votes if p.payload.get("mandate") == str(mandate.id)), None),
    }


@bp.get("/mandates/<uuid:mandate_id>")
def detail(mandate_id: uuid.UUID) -> Any:
    """One mandate: what it covers, the positions to carry, and the delegate's report-backs."""
    page_member()
    return _mandate_page(mandates.get_mandate(get_session(), mandate_id))


def _own(mandate_id: uuid.UUID) -> Mandate:
    member = page_member()
    mandate = mandates.get_mandate(get_session(), mandate_id)
    if mandate.member_id != member.id:
        raise Forbidden("only the delegate holding this mandate may do this")
    return mandate


@bp.post("/mandates/<uuid:mandate_id>/key")
def key(mandate_id: uuid.UUID) -> Any:
    """The elected delegate takes a key made by the node; its private half is shown this once."""
    db, mandate = get_session(), _own(mandate_id)
    mandate, private_key = mandates.register_key(db, _app(), mandate, page_member(), None)
    db.commit()
    return _mandate_page(mandate, private_key=private_key)


@bp.post("/mandates/<uuid:mandate_id>/report")
def report(mandate_id: uuid.UUID) -> Any:
    """Report back to the assembly that gave the mandate; it goes into its minutes."""
    db, mandate = get_session(), _own(mandate_id)
    text = (request.form.get("text") or "").strip()
    if not text or len(text) > 10_000:
        reason = (
            gettext("Fill this in.") if not text else gettext("Too long: at most %(n)s characters.", n=10_000)
        )
        return _mandate_page(mandate, 422, errors=FormErrors({"text": reason}), values={"text": text})
    assemblies.add_minute(db, mandates.assembly_of(db, mandate), "report", text, page_member())
    db.commit()
    return done(
        gettext("Your report is in the assembly's minutes."), "delegates_pages.detail", mandate_id=mandate.id
    )


def _reason_or_page(mandate: Mandate, form_name: str) -> tuple[str, Any]:
    """The reason a member gave for a recall, or the mandate page saying what is missing."""
    reason = (request.form.get(form_name) or "").strip()
    if reason and len(reason) <= 1000:
        return reason, None
    why = gettext("Fill this in.") if not reason else gettext("Too long: at most %(n)s characters.", n=1000)
    errors = FormErrors({form_name: why})
    return reason, _mandate_page(mandate, 422, recall_errors=errors, recall_values={form_name: reason})


def _recall_refused(mandate: Mandate, problem: Problem) -> Any:
    get_session().rollback()
    errors = forms.from_problem(problem)
    return _mandate_page(mandate, 422, recall_errors=errors, recall_values={}, recall_detail=problem.detail)


@bp.post("/mandates/<uuid:mandate_id>/petition")
def open_petition(mandate_id: uuid.UUID) -> Any:
    """Open a petition for a vote to recall the delegate; the member who opens it signs it."""
    member, db = page_member(), get_session()
    mandate = mandates.get_mandate(db, mandate_id)
    reason, refused = _reason_or_page(mandate, "petition_reason")
    if refused is not None:
        return refused
    try:
        petition = recall.open_petition(db, _app(), mandate, member, reason)
        db.commit()
    except Problem as exc:
        return _recall_refused(mandate, exc)
    return _signed(petition)


@bp.post("/petitions/<uuid:petition_id>/sign")
def sign_petition(petition_id: uuid.UUID) -> Any:
    """Sign a petition for a recall vote; at the threshold the vote opens in the assembly."""
    member, db = page_member(), get_session()
    petition = recall.get_petition(db, petition_id)
    try:
        recall.sign_petition(db, _app(), petition, member)
        db.commit()
    except Problem as exc:
        return _recall_refused(mandates.get_mandate(db, petition.mandate_id), exc)
    return _signed(petition)


def _signed(petition: RecallPetition) -> Any:
    if petition.proposal_id is not None:
        message = gettext("Enough members signed: the assembly now votes on the recall.")
        return done(message, "web.assemblies.proposal", proposal_id=petition.proposal_id)
    message = gettext(
        "You signed the petition. The recall vote opens when %(n)s members have signed.", n=petition.threshold
    )
    return done(message, "delegates_pages.detail", mandate_id=petition.mandate_id, _anchor="recall-h")


@bp.get("/petitions/<uuid:petition_id>")
def petition(petition_id: uuid.UUID) -> Any:
    """A petition lives on the page of the mandate it would recall."""
    page_member()
    found = recall.get_petition(get_session(), petition_id)
    return redirect(url_for("delegates_pages.detail", mandate_id=found.mandate_id, _anchor="recall-h"))


@bp.post("/mandates/<uuid:mandate_id>/recall")
def propose_recall(mandate_id: uuid.UUID) -> Any:
    """Put the recall of the delegate straight to the assembly, decided by its own method."""
    member, db = page_member(), get_session()
    mandate = mandates.get_mandate(db, mandate_id)
    reason, refused = _reason_or_page(mandate, "recall_reason")
    if refused is not None:
        return refused
    try:
        proposal = recall.propose_recall(db, _app(), mandate, member, reason)
        db.commit()
    except Problem as exc:
        return _recall_refused(mandate, exc)
    message = gettext("The recall is put to the assembly. Take your position.")
    return done(message, "web.assemblies.proposal", proposal_id=proposal.id)


# --- electing a delegate ---------------------------------------------------------------

POSITION_ROWS = 3
POSITION_STANCES = ("for", "against", "abstain", "free")


def _federations() -> list[Peer]:
    stmt = select(Peer).where(Peer.relation == Relation.FEDERATION, Peer.status == PeerStatus.ALLOWED)
    return list(get_session().scalars(stmt.order_by(Peer.name)))


def _election_form(assembly: Any, status: int = 200, **extra: Any) -> Any:
    db = get_session()
    federations = _federations()
    chosen = (extra.get("values") or {}).get("federation") or (federations[0].id if federations else "")
    candidates = []
    for row in db.scalars(select(Member).order_by(Member.handle).limit(500)):
        candidates.append((row.handle, mandates.eligibility(db, assembly, row, chosen) if chosen else None))
    candidates.sort(key=lambda c: (c[1] is not None, c[0]))
    questions = list(
        db.scalars(
            select(CouncilProposal)
            .where(CouncilProposal.status == CouncilStatus.OPEN)
            .order_by(CouncilProposal.opened_at.desc())
            .limit(50)
        )
    )
    return render(
        "delegates/elect.html",
        status=status,
        assembly=assembly,
        federations=federations,
        candidates=candidates,
        questions=questions,
        rows=range(POSITION_ROWS),
        stances=POSITION_STANCES,
        **extra,
    )


def _election_values(form: Any) -> dict[str, Any]:
    names = ["delegate", "federation", "scope", "term_days", "public_key", "closes_at", "text"]
    for i in range(POSITION_ROWS):
        names += [f"pos{i}_topic", f"pos{i}_question", f"pos{i}_stance", f"pos{i}_note"]
    values = forms.text(form, *names)
    for i in range(POSITION_ROWS):
        values[f"pos{i}_allowed"] = [v for v in form.getlist(f"pos{i}_allowed") if v in POSITION_STANCES[:3]]
    return values


def _election_input(values: dict[str, Any]) -> schemas.MandateProposalIn:
    """The service input for the election form, or FormErrors naming the fields at fault."""
    topics = str(values.get("scope", "")).replace(";", ",").split(",")
    scope = [t.strip().lower() for t in topics if t.strip()]
    positions: list[documents.PositionEntry] = []
    errors: dict[str, str] = {}
    for i in range(POSITION_ROWS):
        topic, question = values.get(f"pos{i}_topic"), values.get(f"pos{i}_question")
        stance = values.get(f"pos{i}_stance")
        if not (topic or question):
            continue
        if topic and question:
            errors[f"pos{i}_topic"] = gettext("Give a topic or choose a council question, not both.")
            continue
        if stance not in POSITION_STANCES:
            errors[f"pos{i}_stance"] = gettext("Choose one of the options.")
            continue
        entry: dict[str, Any] = {"stance": stance}
        if values.get(f"pos{i}_note"):
            entry["note"] = values[f"pos{i}_note"]
        entry["topic" if topic else "proposal"] = topic.lower() if topic else question
        if stance == "free":
            entry["allowed"] = values[f"pos{i}_allowed"]
        try:
            # Judged as JSON, as the API judges it (the model is strict).
            positions.append(documents.PositionEntry.model_validate_json(json.dumps(entry)))
        except ValidationError:
            errors[f"pos{i}_topic"] = gettext("Write a topic like relief: small letters, digits, - or _.")
    data: dict[str, Any] = {k: values[k] for k in ("delegate", "federation", "public_key", "text")
                            if k in values}
    data.update(scope=scope, positions=positions, term_days=values.get("term_days"))
    data["closes_at"] = local_time(values.get("closes_at"), "closes_at")
    try:
        parsed = forms.parse(schemas.MandateProposalIn, data)
    except FormErrors as exc:
        fields = dict(exc.fields)
        if "scope" in fields:
            fields["scope"] = gettext("Write one or more topics, like relief, housing.")
        errors.update(fields)
    if errors:
        raise FormErrors(errors)
    return parsed


@bp.route("/assemblies/<uuid:assembly_id>/elect", methods=["GET", "POST"])
def elect(assembly_id: uuid.UUID) -> Any:
    """Propose to the assembly the election of a delegate to a federation, with a mandate."""
    member, db = page_member(), get_session()
    assembly = assemblies.get_assembly(db, assembly_id)
    if request.method == "GET":
        term = min(30, assembly.delegate_term_days)
        return _election_form(assembly, values={"term_days": str(term), "pos0_stance": "for"})
    values = _election_values(request.form)
    try:
        body = _election_input(values)
        delegate = db.scalar(select(Member).where(Member.handle == body.delegate))
        if delegate is None:
            raise FormErrors({"delegate": gettext("Choose one of the options.")})
        federation = _names({body.federation})[body.federation]
        text = body.text or gettext(
            "Elect @%(handle)s as delegate to %(federation)s for %(days)s days.",
            handle=delegate.handle, federation=federation, days=body.term_days,
        )
        proposal = mandates.propose_mandate(
            db, assembly, member, delegate, body.federation, scope=list(body.scope),
            positions=[documents.position_data(p) for p in body.positions], term_days=body.term_days,
            public_key=body.public_key, title=gettext("Delegate to %(federation)s: @%(handle)s",
                                                       federation=federation, handle=delegate.handle)[:120],
            text=text, closes_at=body.closes_at,
        )
        db.commit()
    except FormErrors as exc:
        db.rollback()
        return _election_form(assembly, 422, values=values, errors=exc)
    except Problem as exc:
        db.rollback()
        return _election_form(assembly, 422, values=values, errors=forms.from_problem(exc), detail=exc.detail)
    message = gettext("The election is put to the assembly.")
    return done(message, "web.assemblies.proposal", proposal_id=proposal.id)


@bp.get("/council")
def council_index() -> Any:
    """Questions before the councils of this node's federations."""
    return _council_index_page()


def _council_index_page(status: int = 200, **extra: Any) -> Any:
    member = page_member()
    rows = list(
        get_session().scalars(select(CouncilProposal).order_by(CouncilProposal.opened_at.desc()).limit(50))
    )
    mine = _live_mandates(member)
    return render(
        "delegates/council.html",
        status=status,
        open=[r for r in rows if r.status is CouncilStatus.OPEN],
        decided=[r for r in rows if r.status is not CouncilStatus.OPEN],
        names=_names({r.federation for r in rows} | {m.federation for m in mine}),
        my_mandates=mine,
        **extra,
    )


@bp.get("/council/<uuid:proposal_id>")
def council_detail(proposal_id: uuid.UUID) -> Any:
    """One council question: the count so far and what each delegate said."""
    page_member()
    return _council_page(council.get_proposal(get_session(), proposal_id))


def _council_page(proposal: CouncilProposal, status: int = 200, **extra: Any) -> Any:
    member, db = page_member(), get_session()
    acts = list(db.scalars(select(Act).where(Act.proposal_id == proposal.id).order_by(Act.created)))
    delegates = (
        {
            m.id: m.delegate_handle
            for m in db.scalars(select(Mandate).where(Mandate.id.in_({a.mandate_id for a in acts})))
        }
        if acts
        else {}
    )
    tally = council.current_tally(db, proposal) if proposal.status is CouncilStatus.OPEN else None
    mine = _live_mandates(member, proposal.federation) if proposal.status is CouncilStatus.OPEN else []
    return render(
        "delegates/council_proposal.html",
        status=status,
        proposal=proposal,
        acts=acts,
        delegates=delegates,
        tally=tally,
        names=_names({proposal.federation, *(a.node for a in acts)}),
        my_mandates=[(m, council.position_for(m, proposal)) for m in mine],
        stances=[s for s in STANCE_ORDER if s in ALLOWED[proposal.method]],
        **extra,
    )


# --- a delegate's acts at the council ----------------------------------------------------
#
# An act is signed with the key the mandate binds, and that key stays with the delegate: the
# page prepares the unsigned act, the delegate signs it on their own device
# (`python -m delegates.sign`, or any client that signs the same way) and pastes it back.

ACT_TOPIC = re.compile(r"^[a-z][a-z0-9_-]{1,39}$")


def _live_mandates(member: Member, federation: str | None = None) -> list[Mandate]:
    stmt = select(Mandate).where(
        Mandate.member_id == member.id,
        Mandate.status == MandateStatus.LIVE,
        Mandate.expires_at > utcnow(),
    )
    if federation is not None:
        stmt = stmt.where(Mandate.federation == federation)
    return list(get_session().scalars(stmt.order_by(Mandate.issued_at.desc())))


def _chosen_mandate(member: Member, federation: str | None, wanted: str | None) -> Mandate:
    mine = _live_mandates(member, federation)
    found = next((m for m in mine if str(m.id) == wanted), mine[0] if len(mine) == 1 else None)
    if found is None:
        if not mine:
            raise Forbidden("only a delegate with a live mandate to this federation may act at its council")
        raise FormErrors({"mandate": gettext("Choose one of the options.")})
    return found


def _sign_page(mandate: Mandate, unsigned: str, status: int = 200, **extra: Any) -> Any:
    act = json.loads(unsigned)
    proposal = get_session().get(CouncilProposal, uuid.UUID(act["proposal"])) if act.get("proposal") else None
    return render(
        "delegates/sign.html", status=status, mandate=mandate, unsigned=unsigned, act=act, proposal=proposal,
        names=_names({mandate.federation}), **extra,
    )


@bp.post("/council/<uuid:proposal_id>/prepare")
def prepare_act(proposal_id: uuid.UUID) -> Any:
    """Prepare a delegate's vote or statement on a council question, for them to sign."""
    member, db = page_member(), get_session()
    proposal = council.get_proposal(db, proposal_id)
    values = forms.text(request.form, "mandate", "act", "stance", "text")
    try:
        mandate = _chosen_mandate(member, proposal.federation, values.get("mandate"))
        act, stance, said = values.get("act"), values.get("stance"), values.get("text", "")
        errors = {}
        if act not in ("vote", "statement"):
            errors["act"] = gettext("Choose one of the options.")
        elif act == "vote" and stance not in {s.value for s in ALLOWED[proposal.method]}:
            errors["stance"] = gettext("Choose one of the options.")
        elif act == "statement" and not said:
            errors["text"] = gettext("Fill this in.")
        if len(said) > 4000:
            errors["text"] = gettext("Too long: at most %(n)s characters.", n=4000)
        if errors:
            raise FormErrors(errors)
    except FormErrors as exc:
        return _council_page(proposal, 422, errors=exc, values=values)
    unsigned = documents.act_document(
        mandate_id=str(mandate.id), federation=mandate.federation, act=str(act), created=utcnow(),
        proposal=str(proposal.id), stance=stance if act == "vote" else None, text=said,
    )
    return _sign_page(mandate, json.dumps(unsigned, ensure_ascii=False, indent=1))


@bp.post("/council/prepare")
def prepare_proposal() -> Any:
    """Prepare a delegate's new question for the council, for them to sign."""
    member = page_member()
    values = forms.text(request.form, "mandate", "title", "topic", "text")
    try:
        mandate = _chosen_mandate(member, None, values.get("mandate"))
        errors = {}
        if not values.get("title") or len(values["title"]) > 120:
            errors["title"] = gettext("Fill this in.") if not values.get("title") else gettext(
                "Too long: at most %(n)s characters.", n=120)
        if not ACT_TOPIC.match(values.get("topic", "")):
            errors["topic"] = gettext("Write a topic like relief: small letters, digits, - or _.")
        if not values.get("text") or len(values["text"]) > 4000:
            errors["text"] = gettext("Fill this in.") if not values.get("text") else gettext(
                "Too long: at most %(n)s characters.", n=4000)
        if errors:
            raise FormErrors(errors)
    except FormErrors as exc:
        return _council_index_page(422, errors=exc, values=values)
    unsigned = documents.act_document(
        mandate_id=str(mandate.id), federation=mandate.federation, act="proposal", created=utcnow(),
        title=values["title"], topic=values["topic"], text=values["text"],
    )
    return _sign_page(mandate, json.dumps(unsigned, ensure_ascii=False, indent=1))


@bp.post("/mandates/<uuid:mandate_id>/acts")
def submit_act(mandate_id: uuid.UUID) -> Any:
    """Send the delegate's signed act to the federation, after the same checks it will make."""
    db, mandate = get_session(), _own(mandate_id)
    unsigned = request.form.get("unsigned") or "{}"
    upload = request.files.get("signed_file")
    pasted = (upload.read().decode("utf-8", "replace") if upload and upload.filename else "") or (
        request.form.get("signed") or "")
    try:
        json.loads(unsigned)
    except ValueError:
        unsigned = "{}"
    try:
        value = json.loads(pasted)
    except ValueError:
        errors = FormErrors({"signed": gettext("Paste the whole signed act, from { to }.")})
        return _sign_page(mandate, unsigned, 422, errors=errors, signed=pasted)
    try:
        act = council.submit(db, _app(), mandate, value)
        if mandate.assembly_id is not None:
            member = page_member()
            what = f"{act.kind} {act.stance.value if act.stance else ''}".strip()
            said = f"{member.handle} as delegate: {what}. {act.text}".strip()
            assemblies.add_minute(db, mandates.assembly_of(db, mandate), "delegate", said, member)
        db.commit()
    except Problem as exc:
        db.rollback()
        reason = getattr(exc, "reason", None)
        errors = FormErrors({"signed": exc.detail}, gettext("The federation would refuse this act."))
        return _sign_page(mandate, unsigned, 422, errors=errors, signed=pasted, reason=reason)
    message = gettext("Your signed act is on its way to the federation.")
    if act.proposal_id is not None:
        return done(message, "delegates_pages.council_detail", proposal_id=act.proposal_id)
    return done(message, "delegates_pages.council_index")


def init_app(app: Flask) -> None:
    """Serve the pages and put them in the menu."""
    app.register_blueprint(bp)
    add_to_menu(app, lazy_gettext("Delegates"), "delegates_pages.index", ("/mandates", "/council"))

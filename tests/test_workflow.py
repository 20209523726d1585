"""The approval workflow: every allowed transition and every forbidden one, who may do what,
N-of-M approvals, racing clicks on real threads, resuming after a crash, reminders and expiry."""

import threading
from collections.abc import Callable, Collection
from typing import Any

import pytest

from bot.config import Account, Approvals, Config, Policy, Quotas, Settings
from bot.domain import RequestInvalid, RoleRequest, parse_role_request
from bot.domain.retire import RoleToRetire
from bot.lifecycle import RequestKind, Sentence, Status
from bot.presenter import slack_mention
from bot.store import FormSubmission, RequestRecord, Store, SubmissionTaken
from bot.workflow import TRANSITIONS, ActionRefused, Workflow

ACCOUNT = "111122223333"
PROD = "999988887777"
APPROVERS = [f"UAPP{n}" for n in range(1, 21)]
GROUP = "S0APPROVERS"
GROUP_MEMBERS = {GROUP: {"UGROUP1"}}
HOUR = 3600.0


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_config(**approvals: Any) -> Config:
    return Config(
        settings=Settings(_env_file=None, approver_ids=APPROVERS),
        policy=Policy(
            accounts=[Account(id=PROD, name="prod", approvers=["UPROD1", "UPROD2"])],
            approvals=Approvals(approver_usergroup=GROUP, high_risk_approvals=2, **approvals),
        ),
    )


def members(group: str) -> Collection[str]:
    return GROUP_MEMBERS[group]


def role(account: str = ACCOUNT) -> RoleRequest:
    return parse_role_request(
        {"role_type": "user", "account_id": account, "justification": "CI deploys", "role_name": "deployer"}
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(open_store: Callable[..., Store], clock: Clock) -> Store:
    """The store on each engine (SQLite, PostgreSQL)."""
    return open_store(clock=clock)


@pytest.fixture
def workflow(store: Store) -> Workflow:
    return Workflow(store, make_config(), usergroup_members=members)


def submit(workflow: Workflow, *, requester: str = "UREQ", high_risk: bool = False, account: str = ACCOUNT) -> str:
    return workflow.submit(role(account), requester, findings=[], high_risk=high_risk).id


def kinds(store: Store, request_id: str) -> list[str]:
    return [event.kind for event in store.events(request_id)]


def as_slack(reason: Sentence | None) -> str | None:
    """What the person reads in Slack: the workflow names people, the presenter mentions them."""
    return None if reason is None else reason.render(slack_mention)


def refusal(action: Callable[[], Any]) -> str:
    with pytest.raises(ActionRefused) as refused:
        action()
    return refused.value.reason.render(slack_mention)


# --- the state machine -------------------------------------------------------------------------


def test_the_transitions_are_exactly_those_of_the_issue() -> None:
    allowed = {(old.value, new.value) for old, news in TRANSITIONS.items() for new in news}
    assert allowed == {
        ("submitted", "approved"),
        ("approved", "provisioning"),
        ("provisioning", "created"),
        ("provisioning", "deleted"),  # a delete request (issue 17)
        ("provisioning", "extended"),  # an extend request (issue 17)
        ("provisioning", "edited"),  # an edit request (issue 17)
        ("provisioning", "accepted"),  # drift accepted as the approved state (issue 17)
        ("provisioning", "restored"),  # drift undone: the approved state restored (issue 17)
        ("provisioning", "failed"),
        ("submitted", "rejected"),
        ("submitted", "cancelled"),
        ("submitted", "expired"),
        ("failed", "provisioning"),
    }
    assert set(TRANSITIONS) == set(Status)


PATHS: dict[Status, list[tuple[str, str]]] = {
    Status.SUBMITTED: [],
    Status.APPROVED: [("approved", "approved")],
    Status.PROVISIONING: [("approved", "approved"), ("provisioning", "provisioning")],
    Status.CREATED: [("approved", "approved"), ("provisioning", "provisioning"), ("created", "created")],
    Status.DELETED: [("approved", "approved"), ("provisioning", "provisioning"), ("deleted", "deleted")],
    Status.EXTENDED: [("approved", "approved"), ("provisioning", "provisioning"), ("extended", "extended")],
    Status.EDITED: [("approved", "approved"), ("provisioning", "provisioning"), ("edited", "edited")],
    Status.ACCEPTED: [("approved", "approved"), ("provisioning", "provisioning"), ("accepted", "accepted")],
    Status.RESTORED: [("approved", "approved"), ("provisioning", "provisioning"), ("restored", "restored")],
    Status.FAILED: [("approved", "approved"), ("provisioning", "provisioning"), ("failed", "failed")],
    Status.REJECTED: [("rejected", "rejected")],
    Status.CANCELLED: [("cancelled", "cancelled")],
    Status.EXPIRED: [("expired", "expired")],
}


def put_in(store: Store, request_id: str, status: Status) -> None:
    """Walk a request along allowed transitions to ``status`` (set-up only, straight through the store)."""
    for new, kind in PATHS[status]:
        current = store.get(request_id).status
        assert store.transition(request_id, expected=current, new=new, actor="USETUP", kind=kind)
        if new == Status.APPROVED:
            store.enqueue_job(request_id)  # as the approval that completes the votes does


ACTIONS: dict[str, tuple[Status, Status, Callable[[Workflow, str], Any]]] = {
    "approve": (Status.SUBMITTED, Status.APPROVED, lambda w, i: w.approve(i, "UAPP1")),
    "reject": (Status.SUBMITTED, Status.REJECTED, lambda w, i: w.reject(i, "UAPP1", "Too broad")),
    "cancel": (Status.SUBMITTED, Status.CANCELLED, lambda w, i: w.cancel(i, "UREQ")),
    "expire": (Status.SUBMITTED, Status.EXPIRED, lambda w, i: w.expire_due(w.clock() + 1000 * HOUR)),
    "claim": (Status.APPROVED, Status.PROVISIONING, lambda w, i: w.claim_provisioning(i, "bot")),
    "created": (Status.PROVISIONING, Status.CREATED, lambda w, i: w.mark_created(i, {"role_arn": "arn"})),
    "deleted": (Status.PROVISIONING, Status.DELETED, lambda w, i: w.mark_deleted(i, {"removed": []})),
    "extended": (Status.PROVISIONING, Status.EXTENDED, lambda w, i: w.mark_extended(i)),
    "edited": (Status.PROVISIONING, Status.EDITED, lambda w, i: w.mark_edited(i, {"changed": []})),
    "accepted": (Status.PROVISIONING, Status.ACCEPTED, lambda w, i: w.mark_accepted(i)),
    "restored": (Status.PROVISIONING, Status.RESTORED, lambda w, i: w.mark_restored(i, {"changed": []})),
    "failed": (Status.PROVISIONING, Status.FAILED, lambda w, i: w.mark_failed(i, "Throttled")),
    "retry": (Status.FAILED, Status.PROVISIONING, lambda w, i: w.retry(i, "UAPP1")),
}
EXPECTED_KIND = {
    "approve": "approved",
    "reject": "rejected",
    "cancel": "cancelled",
    "expire": "expired",
    "claim": "provisioning",
    "created": "created",
    "deleted": "deleted",
    "extended": "extended",
    "edited": "edited",
    "accepted": "accepted",
    "restored": "restored",
    "failed": "failed",
    "retry": "retried",
}


def extension(workflow: Workflow) -> str:
    """A request to extend a created 7-day role (the request an ``extended`` transition needs)."""
    made = workflow.store.create_request(role().model_copy(update={"expires_after_days": 7}), "UREQ")
    put_in(workflow.store, made.id, Status.CREATED)
    made = workflow.store.set_expiry(made.id, workflow.clock() + 7 * 86400)
    return workflow.submit_extension(made, "UOTHER").id


SUBJECTS: dict[str, Callable[[Workflow], str]] = {"extended": extension}
"""The request an action needs, when a plain submitted one won't do."""


def test_the_actions_cover_every_transition() -> None:
    assert {(old, new) for old, new, _ in ACTIONS.values()} == {
        (old, new) for old, news in TRANSITIONS.items() for new in news
    }


@pytest.mark.parametrize("action", ACTIONS)
def test_every_allowed_transition(workflow: Workflow, store: Store, action: str) -> None:
    old, new, act = ACTIONS[action]
    request_id = SUBJECTS.get(action, submit)(workflow)
    put_in(store, request_id, old)

    act(workflow, request_id)

    assert store.get(request_id).status == new
    assert kinds(store, request_id)[-1] == EXPECTED_KIND[action]


@pytest.mark.parametrize(
    ("action", "status"),
    [(action, status) for action, (old, _, _) in ACTIONS.items() for status in Status if status != old],
)
def test_every_forbidden_transition_is_refused(workflow: Workflow, store: Store, action: str, status: Status) -> None:
    request_id = SUBJECTS.get(action, submit)(workflow)
    put_in(store, request_id, status)
    before = store.events(request_id)

    try:
        outcome = ACTIONS[action][2](workflow, request_id)
    except ActionRefused as refused:
        assert request_id in str(refused.reason)
    else:
        assert outcome in (None, [])  # claim_provisioning and expire_due say "nothing" instead of refusing

    assert store.get(request_id).status == status
    assert store.events(request_id) == before


def test_results_and_errors_are_recorded(workflow: Workflow, store: Store) -> None:
    request_id = submit(workflow)
    put_in(store, request_id, Status.PROVISIONING)
    failed = workflow.mark_failed(request_id, "Throttled")
    assert (failed.error, store.events(request_id)[-1].details) == ("Throttled", {"error": "Throttled"})

    workflow.retry(request_id, "UAPP2")
    result = {"role_arn": f"arn:aws:iam::{ACCOUNT}:role/deployer", "switch_role_url": "https://signin…"}
    created = workflow.mark_created(request_id, result)
    assert (created.result, created.error) == (result, None)


def test_marking_a_request_that_is_not_provisioning_is_refused(workflow: Workflow) -> None:
    request_id = submit(workflow)
    assert "not provisioning" in refusal(lambda: workflow.mark_created(request_id, {}))


def test_an_unknown_request_is_refused(workflow: Workflow) -> None:
    assert refusal(lambda: workflow.approve("R-9999", "UAPP1")) == "There is no request R-9999."
    assert as_slack(workflow.may_decide("R-9999", "UAPP1")) == "There is no request R-9999."


# --- who may do what ---------------------------------------------------------------------------


def test_approvers_come_from_the_configuration(workflow: Workflow) -> None:
    assert workflow.approvers_for_account(ACCOUNT) == frozenset({*APPROVERS, "UGROUP1"})
    assert workflow.approvers_for_account(PROD) == frozenset({"UPROD1", "UPROD2"})  # replaces global and group


def test_a_configured_user_group_needs_a_way_to_resolve_it(store: Store) -> None:
    with pytest.raises(ValueError, match="usergroup_members"):
        Workflow(store, make_config())


def test_self_approval_is_refused_even_for_an_approver(workflow: Workflow, store: Store) -> None:
    request_id = submit(workflow, requester="UAPP1")
    record = store.get(request_id)

    assert as_slack(workflow.may_approve(record, "UAPP1")) == "You can't approve your own request."
    assert refusal(lambda: workflow.approve(request_id, "UAPP1")) == "You can't approve your own request."
    assert kinds(store, request_id) == ["submitted"]
    assert workflow.may_approve(record, "UAPP2") is None


def test_a_non_approver_may_not_approve_reject_or_retry(workflow: Workflow, store: Store) -> None:
    request_id = submit(workflow)
    only = f"Only the approvers of account {ACCOUNT} can"
    assert refusal(lambda: workflow.approve(request_id, "UNOBODY")) == f"{only} approve {request_id}."
    assert refusal(lambda: workflow.reject(request_id, "UNOBODY", "no")) == f"{only} reject {request_id}."
    assert refusal(lambda: workflow.approve(request_id, "UPROD1")).startswith(only)  # another account's approver
    put_in(store, request_id, Status.FAILED)
    assert refusal(lambda: workflow.retry(request_id, "UNOBODY")) == f"{only} retry {request_id}."
    assert store.get(request_id).status == Status.FAILED


def test_user_group_members_approve_accounts_without_their_own_approvers(workflow: Workflow, store: Store) -> None:
    request_id = submit(workflow)
    assert workflow.approve(request_id, "UGROUP1").completed

    prod_request = submit(workflow, account=PROD)
    assert refusal(lambda: workflow.approve(prod_request, "UGROUP1")).startswith("Only the approvers of account")
    assert refusal(lambda: workflow.approve(prod_request, "UAPP1")).startswith("Only the approvers of account")
    assert workflow.approve(prod_request, "UPROD1").completed


def test_a_request_nobody_could_approve_is_not_accepted(workflow: Workflow, store: Store) -> None:
    with pytest.raises(RequestInvalid) as invalid:
        submit(workflow, requester="UPROD1", account=PROD, high_risk=True)
    assert "1 approver(s) besides you" in invalid.value.errors["account_id"]
    assert store.count() == 0


def test_rejection_needs_a_reason_which_is_kept(workflow: Workflow, store: Store) -> None:
    request_id = submit(workflow)
    assert "Say why" in refusal(lambda: workflow.reject(request_id, "UAPP1", "   "))
    assert store.get(request_id).status == Status.SUBMITTED

    rejected = workflow.reject(request_id, "UAPP1", " Too broad ")
    assert rejected.status == Status.REJECTED
    assert store.events(request_id)[-1].details == {"reason": "Too broad"}


def test_the_requester_or_an_approver_cancels_nobody_else(workflow: Workflow, store: Store) -> None:
    first, second = submit(workflow), submit(workflow)
    assert (
        refusal(lambda: workflow.cancel(first, "UNOBODY")) == f"Only the requester or an approver can cancel {first}."
    )
    assert workflow.cancel(first, "UREQ").status == Status.CANCELLED
    assert workflow.cancel(second, "UAPP3").status == Status.CANCELLED
    assert store.events(second)[-1].actor == "UAPP3"


def test_the_loser_is_told_what_happened(workflow: Workflow, store: Store) -> None:
    approved, rejected, cancelled, expired = (submit(workflow) for _ in range(4))
    workflow.approve(approved, "UAPP1")
    workflow.reject(rejected, "UAPP2", "Too broad")
    workflow.cancel(cancelled, "UREQ")
    put_in(store, expired, Status.EXPIRED)

    assert refusal(lambda: workflow.approve(approved, "UAPP2")) == f"{approved} was already approved by <@UAPP1>."
    assert refusal(lambda: workflow.cancel(approved, "UREQ")) == f"{approved} was already approved by <@UAPP1>."
    assert refusal(lambda: workflow.approve(rejected, "UAPP1")) == f"{rejected} was already rejected by <@UAPP2>."
    assert as_slack(workflow.may_decide(cancelled, "UAPP1")) == f"{cancelled} was already cancelled by <@UREQ>."
    assert refusal(lambda: workflow.approve(expired, "UAPP1")) == f"{expired} expired before it got enough approvals."


def test_may_decide_allows_an_approver_only_while_submitted(workflow: Workflow) -> None:
    request_id = submit(workflow)
    assert workflow.may_decide(request_id, "UAPP1") is None
    assert (
        as_slack(workflow.may_decide(request_id, "UREQ"))
        == f"Only the approvers of account {ACCOUNT} can reject {request_id}."
    )


# --- N of M ------------------------------------------------------------------------------------


def test_a_high_risk_request_needs_distinct_approvers(workflow: Workflow, store: Store) -> None:
    request_id = submit(workflow, high_risk=True)
    record = store.get(request_id)
    assert (record.risk, record.required_approvals) == ("high", 2)

    first = workflow.approve(request_id, "UAPP1")
    assert (first.completed, first.approvals, first.needed, first.remaining) == (False, ["UAPP1"], 2, 1)
    assert first.record.status == Status.SUBMITTED
    assert as_slack(workflow.may_approve(first.record, "UAPP1")) == (
        f"You have already approved {request_id}; it needs 1 more approval(s) from other approvers."
    )
    assert refusal(lambda: workflow.approve(request_id, "UAPP1")).startswith("You have already approved")

    second = workflow.approve(request_id, "UAPP2")
    assert (second.completed, second.approvals, second.record.status) == (True, ["UAPP1", "UAPP2"], Status.APPROVED)
    assert kinds(store, request_id) == ["submitted", "approval", "approval", "approved"]
    assert store.events(request_id)[-1].details == {"approvers": ["UAPP1", "UAPP2"]}
    assert refusal(lambda: workflow.approve(request_id, "UAPP3")) == (
        f"{request_id} was already approved by <@UAPP1> and <@UAPP2>."
    )


def test_nobody_approves_a_request_before_its_approval_message_is_posted_in_full(store: Store) -> None:
    config = make_config()
    posting = Workflow(
        store,
        Config(settings=config.settings.model_copy(update={"approval_channel_id": "C1"}), policy=config.policy),
        usergroup_members=members,
    )
    request_id = submit(posting)
    assert refusal(lambda: posting.approve(request_id, "UAPP1")) == (
        f"{request_id} is still being posted in the approvals channel; approve it there once its full text is shown."
    )
    store.set_message(request_id, "C1", "1.2")
    assert posting.approve(request_id, "UAPP1").completed


def test_only_distinct_current_approvers_count(workflow: Workflow, store: Store) -> None:
    request_id = submit(workflow, high_risk=True)
    store.add_event(request_id, "UAPP1", "approval")  # a vote, however it got there (a second one can't)
    store.add_event(request_id, "UFORMER", "approval")  # someone no longer an approver

    assert refusal(lambda: workflow.approve(request_id, "UAPP1")).startswith("You have already approved")
    approval = workflow.approve(request_id, "UAPP2")
    assert (approval.completed, approval.approvals) == (True, ["UAPP1", "UAPP2"])
    # the same answer the card and the role's provenance tag get
    assert workflow.approved_by(approval.record) == ["UAPP1", "UAPP2"]


# --- racing clicks -------------------------------------------------------------------------------


def run_together(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` on ``count`` threads released at once by a barrier; results or exceptions."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as error:
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_twenty_approvers_at_once_make_exactly_one_approval(workflow: Workflow, store: Store) -> None:
    request_id = submit(workflow)
    results = run_together(20, lambda i: workflow.approve(request_id, APPROVERS[i]))

    won = [r for r in results if not isinstance(r, ActionRefused)]
    assert len(won) == 1 and won[0].completed
    winner = won[0].approvals[0]
    lost = [as_slack(r.reason) for r in results if isinstance(r, ActionRefused)]
    assert lost == [f"{request_id} was already approved by <@{winner}>."] * 19
    assert kinds(store, request_id) == ["submitted", "approval", "approved"]


def test_the_same_approver_clicking_twenty_times_votes_once(workflow: Workflow, store: Store) -> None:
    request_id = submit(workflow, high_risk=True)
    results = run_together(20, lambda i: workflow.approve(request_id, "UAPP1"))

    assert sum(not isinstance(r, ActionRefused) for r in results) == 1
    assert all(str(r.reason).startswith("You have already approved") for r in results if isinstance(r, ActionRefused))
    assert kinds(store, request_id) == ["submitted", "approval"]


def test_twenty_approvers_at_once_on_a_two_approval_request(workflow: Workflow, store: Store) -> None:
    request_id = submit(workflow, high_risk=True)
    results = run_together(20, lambda i: workflow.approve(request_id, APPROVERS[i]))

    votes = [r for r in results if not isinstance(r, ActionRefused)]
    assert sorted(v.completed for v in votes) == [False, True]
    assert kinds(store, request_id) == ["submitted", "approval", "approval", "approved"]


def test_racing_retries_have_one_winner(workflow: Workflow, store: Store) -> None:
    request_id = submit(workflow)
    put_in(store, request_id, Status.FAILED)
    results = run_together(10, lambda i: workflow.retry(request_id, APPROVERS[i]))

    won = [r for r in results if isinstance(r, RequestRecord)]
    assert len(won) == 1
    winner = store.events(request_id)[-1].actor
    assert {as_slack(r.reason) for r in results if isinstance(r, ActionRefused)} == {
        f"{request_id} was already retried by <@{winner}>."
    }


# --- crash safety ------------------------------------------------------------------------------


def restart(open_store: Callable[..., Store], clock: Clock) -> Workflow:
    """A new process: a new store connection and a new workflow (a new run)."""
    return Workflow(open_store(clock=clock), make_config(), usergroup_members=members)


def test_a_request_left_approved_is_resumed_exactly_once(
    workflow: Workflow, open_store: Callable[..., Store], clock: Clock
) -> None:
    request_id = submit(workflow)
    assert workflow.approve(request_id, "UAPP1").completed  # ... and the process died before claiming it
    assert restart(open_store, clock).resume_interrupted() == []  # its lease still holds
    clock.now += workflow.lease_seconds + 1

    after = restart(open_store, clock)
    [resumed] = after.resume_interrupted()
    assert (resumed.id, resumed.status) == (request_id, Status.PROVISIONING)
    assert kinds(after.store, request_id)[-2:] == ["provisioning", "resumed"]
    assert after.resume_interrupted() == []
    assert after.claim_provisioning(request_id, "bot") is None  # the click handler's claim lost too

    after.mark_created(request_id, {"role_arn": "arn"})
    assert restart(open_store, clock).resume_interrupted() == []


def test_the_approving_vote_claims_the_request_for_this_replica_at_once(
    workflow: Workflow, store: Store, open_store: Callable[..., Store], clock: Clock
) -> None:
    """``approve_and_claim`` (the click's one write transaction): the same events as approve, then claim."""
    request_id = submit(workflow, high_risk=True)

    first = workflow.approve_and_claim(request_id, "UAPP1")
    assert (first.completed, first.claimed, store.get(request_id).status) == (False, None, Status.SUBMITTED)

    second = workflow.approve_and_claim(request_id, "UAPP2")
    assert second.completed and second.record.status == Status.APPROVED  # what the approval messages show
    assert second.claimed is not None and second.claimed.status == Status.PROVISIONING
    assert kinds(store, request_id) == ["submitted", "approval", "approval", "approved", "provisioning"]
    assert restart(open_store, clock).resume_interrupted() == []  # leased to this replica
    clock.now += workflow.lease_seconds + 1
    [resumed] = restart(open_store, clock).resume_interrupted()  # ... until this replica is gone
    assert resumed.id == request_id and kinds(store, request_id)[-1] == "resumed"


def test_concurrent_resumes_return_each_request_once(
    workflow: Workflow, store: Store, open_store: Callable[..., Store], clock: Clock
) -> None:
    approved, provisioning = submit(workflow), submit(workflow)
    workflow.approve(approved, "UAPP1")  # ... and the replica died before claiming it
    workflow.approve(provisioning, "UAPP1")
    workflow.claim_provisioning(provisioning, "bot")  # ... and the replica died while provisioning
    clock.now += workflow.lease_seconds + 1

    replicas = [restart(open_store, clock) for _ in range(3)]
    results = run_together(9, lambda i: replicas[i % 3].resume_interrupted())
    assert sorted(r.id for batch in results for r in batch) == sorted([approved, provisioning])
    assert kinds(store, provisioning).count("resumed") == 1


def test_a_held_lease_is_left_alone_and_one_that_ran_out_is_taken_over(
    workflow: Workflow, store: Store, open_store: Callable[..., Store], clock: Clock
) -> None:
    request_id = submit(workflow)
    workflow.approve(request_id, "UAPP1")
    workflow.claim_provisioning(request_id, "bot")
    other = restart(open_store, clock)
    assert workflow.resume_interrupted() == [] and other.resume_interrupted() == []  # held by the first replica

    clock.now += workflow.lease_seconds / 2
    assert workflow.renew_leases([request_id]) == [request_id]  # the first replica still works on it
    clock.now += workflow.lease_seconds / 2 + 1
    assert other.resume_interrupted() == []

    clock.now += workflow.lease_seconds  # the first replica died: its lease ran out
    assert [r.id for r in other.resume_interrupted()] == [request_id]
    assert workflow.renew_leases([request_id]) == []  # had it only hung, it learns it lost the job
    clock.now += workflow.lease_seconds + 1  # the second died too
    assert [r.id for r in restart(open_store, clock).resume_interrupted()] == [request_id]
    assert kinds(store, request_id).count("resumed") == 2


def test_a_finished_request_leaves_no_job(workflow: Workflow, store: Store, clock: Clock) -> None:
    created, failed = submit(workflow), submit(workflow)
    for request_id in (created, failed):
        workflow.approve(request_id, "UAPP1")
        held = {"owner": workflow.owner, "lease_until": clock.now + workflow.lease_seconds}
        assert store.job(request_id) == held  # enqueued with the approval, held by the approving replica
        workflow.claim_provisioning(request_id, "bot")
    workflow.mark_created(created, {"role_arn": "arn"})
    workflow.mark_failed(failed, "AccessDenied")
    assert store.job(created) is None and store.job(failed) is None

    workflow.retry(failed, "UAPP2")
    assert store.job(failed) == {"owner": workflow.owner, "lease_until": clock.now + workflow.lease_seconds}
    clock.now += 10 * workflow.lease_seconds
    assert [r.id for r in workflow.resume_interrupted()] == [failed]


def test_one_vote_per_approver_is_kept_by_the_database(workflow: Workflow, store: Store) -> None:
    request_id = submit(workflow, high_risk=True)
    workflow.approve(request_id, "UAPP1")
    with pytest.raises(Exception, match=r"(?i)unique"):
        store.add_event(request_id, "UAPP1", "approval")
    assert kinds(store, request_id).count("approval") == 1


def hold(workflow: Workflow, key: str = "V1:h1") -> bool:
    return workflow.hold_submission(
        FormSubmission(key, "V1", "UREQ", {"role_name": {"role_name": {"value": "deployer"}}})
    )


def submit_held(workflow: Workflow, key: str = "V1:h1") -> RequestRecord:
    return workflow.submit(role(), "UREQ", findings=[], high_risk=False, submission_key=key)


def test_a_held_submission_is_finished_by_its_holder_only(workflow: Workflow, store: Store, clock: Clock) -> None:
    other = Workflow(store, make_config(), usergroup_members=members)  # another replica, same database
    assert hold(workflow)
    assert not hold(other)  # a copy Slack sent to the other replica: the first holder keeps it
    assert other.claim_held_submissions() == []  # its lease holds

    with pytest.raises(SubmissionTaken):
        submit_held(other)
    assert not other.submission_refused("V1:h1")  # nor may it show errors for it
    record = submit_held(workflow)
    assert store.submitted_as("V1:h1") == record and store.submissions_checking() == []
    clock.now += 10 * workflow.lease_seconds
    assert other.claim_held_submissions() == []  # finished: nothing to take over


def test_concurrent_replicas_take_over_a_held_submission_once_its_lease_ran_out(
    workflow: Workflow, store: Store, open_store: Callable[..., Store], clock: Clock
) -> None:
    assert hold(workflow)  # ... and the replica stopped while checking it
    clock.now += workflow.lease_seconds / 2
    assert workflow.renew_submission_leases(["V1:h1"]) == ["V1:h1"]
    clock.now += workflow.lease_seconds / 2 + 1
    assert restart(open_store, clock).claim_held_submissions() == []  # renewed: still held

    clock.now += workflow.lease_seconds  # now it ran out
    replicas = [restart(open_store, clock) for _ in range(3)]
    results = run_together(6, lambda i: replicas[i % 3].claim_held_submissions())
    claims = [(i % 3, submission.key) for i, batch in enumerate(results) for submission in batch]
    assert [key for _, key in claims] == ["V1:h1"], results
    taker = replicas[claims[0][0]]

    assert workflow.renew_submission_leases(["V1:h1"]) == []  # had it only hung, it learns it lost it
    with pytest.raises(SubmissionTaken):
        submit_held(workflow)  # ... and can't record it any more
    assert submit_held(taker).requester == "UREQ"
    assert store.count() == 1


def test_a_held_edit_is_taken_over_as_an_edit_of_the_same_role(
    workflow: Workflow, open_store: Callable[..., Store], clock: Clock
) -> None:
    edit = FormSubmission("V2:h2", "V2", "UREQ", {"tags": {"tags": {"value": ""}}}, RequestKind.EDIT, "R-1001")
    assert hold(workflow) and workflow.hold_submission(edit)
    assert not workflow.hold_submission(FormSubmission("V2:h2", "V2", "UREQ", {}))  # a copy keeps the first
    clock.now += 10 * workflow.lease_seconds
    claimed = restart(open_store, clock).claim_held_submissions()
    assert [(held.key, held.kind, held.target_id) for held in claimed] == [
        ("V1:h1", RequestKind.CREATE, None),
        ("V2:h2", RequestKind.EDIT, "R-1001"),
    ]
    assert claimed[1] == edit


def test_a_refused_held_submission_is_refused_once(workflow: Workflow, store: Store, clock: Clock) -> None:
    assert hold(workflow)
    assert workflow.submission_refused("V1:h1")
    assert not workflow.submission_refused("V1:h1")  # told once
    clock.now += 10 * workflow.lease_seconds
    assert workflow.claim_held_submissions() == []
    with pytest.raises(SubmissionTaken):
        submit_held(workflow)  # a refused form never becomes a request
    assert workflow.submission_refused("V2:never-held")  # a form checked before its ack was never held
    assert store.count() == 0


def capped(store: Store, cap: int) -> Workflow:
    config = make_config()
    policy = config.policy.model_copy(update={"limits": Quotas(max_open_requests_per_requester=cap)})
    return Workflow(store, Config(config.settings, policy), usergroup_members=members)


def test_concurrent_submissions_never_go_past_the_requesters_cap(
    store: Store, open_store: Callable[..., Store]
) -> None:
    """Nine submissions at once from three replicas, one requester, a cap of three: the count is taken in the
    transaction that stores the request, so exactly three are stored."""
    replicas = [capped(open_store(), 3) for _ in range(3)]
    results = run_together(9, lambda i: submit(replicas[i % 3]))
    refused = [r for r in results if isinstance(r, RequestInvalid)]
    assert len(refused) == 6 and store.count() == 3, results
    assert all("You already have 3 open requests" in r.errors["role_type"] for r in refused)
    assert submit(replicas[0], requester="UOTHER")  # the cap is per requester


def test_the_cap_counts_open_requests_of_every_kind_and_refuses_buttons_too(store: Store) -> None:
    workflow = capped(store, 2)
    made = store.get(submit(workflow))
    put_in(store, made.id, Status.CREATED)  # created: no longer open
    failed = store.get(submit(workflow))
    put_in(store, failed.id, Status.FAILED)  # failed: only an approver moves it on, so it doesn't count
    assert workflow.submit_retirement(made, retiring(), "UREQ", findings=[]).status == Status.SUBMITTED
    assert submit(workflow)  # one delete and one create open: the cap
    with pytest.raises(RequestInvalid, match="You already have 2 open requests"):
        submit(workflow)
    with pytest.raises(RequestInvalid, match="You already have 2 open requests"):
        workflow.check_open_requests("UREQ")  # what the form's submission asks before asking AWS
    other = store.get(submit(workflow, requester="UOTHER"))
    put_in(store, other.id, Status.CREATED)
    assert "You already have 2 open requests" in refusal(
        lambda: workflow.submit_retirement(other, retiring(), "UREQ", findings=[])
    )


# --- reminders and expiry ----------------------------------------------------------------------


def test_approvers_are_reminded_once_then_the_request_expires(workflow: Workflow, store: Store, clock: Clock) -> None:
    start = clock.now
    waiting, decided = submit(workflow), submit(workflow)
    workflow.approve(decided, "UAPP1")

    assert workflow.remind_due(start + 23 * HOUR) == []
    assert [r.id for r in workflow.remind_due(start + 24 * HOUR)] == [waiting]
    assert workflow.remind_due(start + 30 * HOUR) == []
    assert kinds(store, waiting).count("reminded") == 1

    assert workflow.expire_due(start + 71 * HOUR) == []
    [expired] = workflow.expire_due(start + 72 * HOUR)
    assert (expired.id, expired.status) == (waiting, Status.EXPIRED)
    assert workflow.expire_due(start + 100 * HOUR) == []
    assert store.get(decided).status == Status.APPROVED


def test_reminders_race_to_one(workflow: Workflow, store: Store, clock: Clock) -> None:
    request_id = submit(workflow)
    results = run_together(10, lambda i: workflow.remind_due(clock.now + 25 * HOUR))
    assert sum(len(batch) for batch in results) == 1
    assert kinds(store, request_id).count("reminded") == 1


def test_hours_come_from_the_configuration(store: Store, clock: Clock) -> None:
    workflow = Workflow(store, make_config(remind_after_hours=1, expire_after_hours=2), usergroup_members=members)
    request_id = submit(workflow)
    clock.now += HOUR
    assert [r.id for r in workflow.remind_due()] == [request_id]
    clock.now += HOUR
    assert [r.id for r in workflow.expire_due()] == [request_id]


def test_a_requester_who_is_an_approver_may_not_retry_their_own_request(workflow: Workflow, store: Store) -> None:
    request_id = submit(workflow, requester="UAPP1")
    put_in(store, request_id, Status.FAILED)
    assert (
        refusal(lambda: workflow.retry(request_id, "UAPP1"))
        == "You can't retry your own request; another approver has to."
    )
    assert store.get(request_id).status == Status.FAILED
    assert workflow.retry(request_id, "UAPP2").status == Status.PROVISIONING


# --- deleting a role the bot made ----------------------------------------------------------------


def retiring(account: str = ACCOUNT) -> RoleToRetire:
    return RoleToRetire(account, "deployer", f"arn:aws:iam::{account}:role/deployer", "R-1001", None, None, (), (), ())


def test_a_delete_request_goes_through_the_same_approval_and_ends_deleted(workflow: Workflow, store: Store) -> None:
    made = store.get(submit(workflow))
    put_in(store, made.id, Status.CREATED)

    retire = workflow.submit_retirement(made, retiring(), "UOTHER", findings=[])
    assert (retire.kind, retire.target_id, retire.status) == ("delete", made.id, "submitted")
    assert refusal(lambda: workflow.submit_retirement(made, retiring(), "UREQ", findings=[])) == (
        f"{retire.id} already asks to delete deployer; it is submitted."
    )
    assert refusal(lambda: workflow.approve(retire.id, "UOTHER")) == "You can't approve your own request."

    assert workflow.approve(retire.id, "UAPP1").completed
    workflow.claim_provisioning(retire.id, "bot")
    workflow.mark_deleted(retire.id, {"removed": ["DeleteRole RoleName=deployer"]})
    assert kinds(store, retire.id) == ["submitted", "approval", "approved", "provisioning", "deleted"]
    assert store.live_roles() == []
    again = workflow.submit_retirement(made, retiring(), "UREQ", findings=[])  # a finished one no longer blocks
    assert again.status == "submitted"


def test_a_delete_request_nobody_could_approve_is_refused(store: Store) -> None:
    solo = Config(
        settings=Settings(_env_file=None, approver_ids=[]),
        policy=Policy(accounts=[Account(id=PROD, name="prod", approvers=["USOLO"])]),
    )
    workflow = Workflow(store, solo)
    made = store.create_request(role(PROD), "UREQ")
    put_in(store, made.id, Status.CREATED)

    assert refusal(lambda: workflow.submit_retirement(made, retiring(PROD), "USOLO", findings=[])) == (
        "Account 999988887777 has 0 approver(s) besides you and this request needs 1; ask an admin to add approvers."
    )
    assert store.acting_on(made.id) == []


def test_an_edit_that_only_narrows_may_need_fewer_approvals(store: Store) -> None:
    workflow = Workflow(store, make_config(narrowing_approvals=1), usergroup_members=members)
    made = store.create_request(role(), "UREQ")
    put_in(store, made.id, Status.CREATED)
    after = role().model_copy(update={"description": "Deploys from CI"})

    widening = workflow.submit_edit(made, after, "UREQ", findings=[], high_risk=True, narrowing=False)
    assert (widening.kind, widening.required_approvals, widening.subject["before_id"]) == ("edit", 2, made.id)
    assert refusal(lambda: workflow.submit_edit(made, after, "UREQ", findings=[], high_risk=True, narrowing=True)) == (
        f"{widening.id} already asks to edit deployer; it is submitted."
    )
    workflow.cancel(widening.id, "UREQ")
    narrowing = workflow.submit_edit(made, after, "UREQ", findings=[], high_risk=True, narrowing=True)
    assert narrowing.required_approvals == 1

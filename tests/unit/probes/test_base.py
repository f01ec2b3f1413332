"""Retries, deadlines, attempts, the matrix and the must-not-reach rule, with a scripted vantage point."""

from __future__ import annotations

import socket

import pytest
import urllib3
from _grader_fakes import REFUSED, TIMEOUT, ScriptedVantage, http_ok

from grader.base.errors import EnvError
from grader.base.outcomes import Diagnosis, Fail, NotApplicable
from grader.probes import host, streaks
from grader.probes.matrix import Matrix
from grader.probes.observed import HostnamesResult, Recorder
from grader.probes.policy import SAMPLING_BATCHES, ProbePolicy
from grader.probes.shell import Op, Outcome


def test_http_get_retries_until_success_and_records_attempts() -> None:
    vantage = ScriptedVantage(lambda op, n: http_ok("pod-a") if n >= 3 else REFUSED)
    result = vantage.http_get("http://10.0.0.1/hostname")
    assert result.ok
    assert [a.summary for a in result.attempts] == ["connection refused", "connection refused", "HTTP 200"]
    assert vantage.proven


def test_http_get_gives_up_at_the_deadline_with_the_last_error() -> None:
    vantage = ScriptedVantage(lambda op, n: REFUSED)
    result = vantage.http_get("http://10.0.0.1/", deadline_s=0.3)
    assert not result.ok
    assert result.error == "connection refused"
    with pytest.raises(Fail) as info:
        result.must_succeed(hint="web does not answer.")
    assert info.value.hint == "web does not answer."
    assert "connection refused" in info.value.detail


def test_batch_runs_all_targets_in_one_round_and_retries_only_the_failed_ones() -> None:
    vantage = ScriptedVantage(lambda op, n: http_ok() if "good" in op.target or n > 1 else TIMEOUT)
    results = vantage.http_batch(["http://good/", "http://slow/"])
    assert all(r.ok for r in results)
    assert [len(r) for r in vantage.rounds] == [2, 1]


def test_must_not_reach_passes_only_after_a_known_good_target_answered() -> None:
    vantage = ScriptedVantage(
        lambda op, n: http_ok() if "partner" in op.target else TIMEOUT, known_good="http://partner/hostname"
    )
    vantage.must_not_reach("http://10.96.0.10/", hint="must be private")
    assert vantage.rounds[0] == [
        Op("http", "http://10.96.0.10/"),
        Op("http", "http://198.51.100.1:80/"),
        Op("http", "http://partner/hostname"),
    ]


def test_must_not_reach_with_a_dead_vantage_point_is_env_error_never_a_pass() -> None:
    vantage = ScriptedVantage(lambda op, n: TIMEOUT, known_good="http://partner/hostname")
    with pytest.raises(EnvError, match="cannot be judged"):
        vantage.must_not_reach("http://10.96.0.10/", hint="must be private")


def test_must_not_reach_without_any_known_good_is_env_error() -> None:
    vantage = ScriptedVantage(lambda op, n: TIMEOUT)
    with pytest.raises(EnvError):
        vantage.must_not_reach("http://10.96.0.10/", hint="must be private")


def test_must_not_reach_counts_after_an_earlier_success_in_the_run() -> None:
    vantage = ScriptedVantage(lambda op, n: http_ok() if "public" in op.target else TIMEOUT)
    vantage.http_get("http://public/")
    vantage.must_not_reach("http://10.96.0.10/", hint="must be private")
    assert vantage.rounds[-1] == [Op("http", "http://10.96.0.10/"), Op("http", "http://198.51.100.1:80/")]


def test_must_not_reach_fails_when_the_target_answers() -> None:
    vantage = ScriptedVantage(lambda op, n: TIMEOUT if "198.51.100.1" in op.target else http_ok(status=404))
    with pytest.raises(Fail, match="must be private"):
        vantage.must_not_reach("http://10.96.0.10/", hint="must be private")


def test_several_must_not_reach_go_in_one_round_and_fail_with_the_one_that_answered() -> None:
    nodes = {"http://172.18.0.3:30080/": "node a forwards", "http://172.18.0.4:30080/": "node b forwards"}

    def respond(op: Op, n: int) -> Outcome:
        return http_ok("10.0.0.1:5555") if "172.18.0.4" in op.target or "partner" in op.target else TIMEOUT

    vantage = ScriptedVantage(respond, known_good="http://partner/hostname")
    vantage.attach(matrix := Matrix())
    with pytest.raises(Fail, match="node b forwards"):
        vantage.must_not_reach_any(list(nodes.items()))
    assert len(vantage.rounds) == 1
    assert [op.target for op in vantage.rounds[0]][:2] == list(nodes)
    quiet = ScriptedVantage(
        lambda op, n: http_ok() if "partner" in op.target else TIMEOUT, known_good="http://partner/"
    )
    quiet.attach(matrix)
    quiet.must_not_reach_any(list(nodes.items()))
    assert len(quiet.rounds) == 1
    assert all(matrix.cell(quiet.name, t) is not None for t in ("172.18.0.3:30080", "172.18.0.4:30080"))
    quiet.must_not_reach_any([])  # nothing to judge: no round
    assert len(quiet.rounds) == 1


def test_silence_can_be_judged_in_a_shorter_try_where_the_caller_knows_answers_are_fast() -> None:
    known_good = "http://partner/"
    quiet = ScriptedVantage(lambda op, n: http_ok() if "partner" in op.target else TIMEOUT, known_good=known_good)
    matrix = Matrix()
    quiet.attach(matrix)
    quiet.must_not_reach_any([("http://172.18.0.3:30080/", "forwards")], per_try_s=1.0)
    assert quiet.per_tries == [1.0]
    assert "timed out after 1s" in str(matrix.cell(quiet.name, "172.18.0.3:30080"))
    quiet.must_not_reach_any([("http://172.18.0.4:30080/", "forwards")])
    assert quiet.per_tries == [1.0, quiet.policy.per_try_s]


def test_each_observation_is_kept_as_evidence_of_the_check_running_then() -> None:
    vantage = ScriptedVantage(
        lambda op, n: http_ok() if "partner" in op.target else TIMEOUT, known_good="http://partner/"
    )
    vantage.attach(matrix := Matrix())
    matrix.current_check = "private"
    vantage.must_not_reach("http://10.96.0.10/hostname", hint="private", see="inside", diagnosis="lab/exposed")
    vantage.must_not_connect("172.18.0.3", 30080, hint="private", control="172.18.0.4:30080")
    matrix.current_check = ""
    vantage.must_not_connect("172.18.0.5", 30080, hint="private")  # outside a check: a cell, no evidence
    silent = matrix.evidence["private"]
    assert [(s.address, s.control, s.see, s.expected, s.observed) for s in silent] == [
        ("10.96.0.10:80", "10.96.0.10:80", "inside", False, False),  # its own address is its control by default
        ("172.18.0.3:30080", "172.18.0.4:30080", "", False, False),
    ]
    assert list(matrix.evidence) == ["private"]
    assert matrix.cell(vantage.name, "172.18.0.5:30080") is not None
    with pytest.raises(Fail) as failed:
        ScriptedVantage(lambda op, n: http_ok(status=404) if "10.96" in op.target else TIMEOUT).must_not_reach(
            "http://10.96.0.10/", hint="private", diagnosis="lab/exposed"
        )
    assert failed.value.diagnosis == "lab/exposed"


def test_an_interceptor_answering_everything_is_told_apart_from_the_target() -> None:
    """Networks with a transparent proxy answer every address: compare with the never-routed control."""

    def respond(op: Op, n: int) -> Outcome:
        if "partner" in op.target:
            return http_ok("partner-pod")
        return Outcome(0, "", "") if op.kind == "tcp" else http_ok("", status=404)

    vantage = ScriptedVantage(respond, known_good="http://partner/hostname")
    vantage.must_not_reach("http://10.96.0.10/hostname", hint="private")
    vantage.must_not_connect("10.96.0.10", 80, hint="private")
    backend = ScriptedVantage(lambda op, n: http_ok("web-1") if "10.96" in op.target else respond(op, n))
    with pytest.raises(Fail):
        backend.must_not_reach("http://10.96.0.10/hostname", hint="private")
    with pytest.raises(Fail):
        backend.must_not_connect("10.96.0.10", 80, hint="private")


def test_unavailable_vantage_point_is_not_applicable() -> None:
    vantage = ScriptedVantage(lambda op, n: http_ok(), name="outside container", reason="no docker")
    with pytest.raises(NotApplicable, match="no docker"):
        vantage.http_get("http://x/")


def test_collect_hostnames_repeats_until_every_backend_answered() -> None:
    names = iter(["a", "a", "a", "a", "b", "a", "c", "a"] + ["a"] * 50)
    vantage = ScriptedVantage(lambda op, n: http_ok(next(names)))
    result = vantage.collect_hostnames("http://10.96.0.10/hostname", expect={"a", "b", "c"})
    assert result.ok
    assert len(vantage.rounds) == 2
    missing = ScriptedVantage(lambda op, n: http_ok("a")).collect_hostnames(
        "http://x/hostname", expect={"a", "b"}, deadline_s=0.2
    )
    with pytest.raises(Fail) as info:
        missing.must_cover(hint="not all backends")
    assert "never ['b']" in info.value.detail


def _polled_once(vantage: ScriptedVantage, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What one poll round of the vantage returned (no backoff, no second round)."""
    said: list[str] = []
    monkeypatch.setattr(vantage, "_poll", lambda one_round, deadline_s: said.append(one_round()))
    return said


def test_a_backend_unseen_though_every_get_answered_is_sampled_again_in_the_same_round(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Round-robin's dice, not a cluster converging: the next batch goes at once, not after a backoff.
    names = iter(["a"] * 4 + ["a"] * 3 + ["b"])  # batches of 4 (FAST)
    vantage = ScriptedVantage(lambda op, n: http_ok(next(names)))
    said = _polled_once(vantage, monkeypatch)
    result = vantage.collect_hostnames("http://10.96.0.10/hostname", expect={"a", "b"})
    assert (said, len(vantage.rounds), result.ok) == ([""], 2, True)


def test_a_get_that_failed_waits_for_the_next_round(monkeypatch: pytest.MonkeyPatch) -> None:
    vantage = ScriptedVantage(lambda op, n: REFUSED if n == 1 else http_ok("a"))
    said = _polled_once(vantage, monkeypatch)
    vantage.collect_hostnames("http://10.96.0.10/hostname", expect={"a", "b"})
    assert (said, len(vantage.rounds)) == (["missing ['a', 'b']"], 1)


def test_sampling_stops_after_its_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    vantage = ScriptedVantage(lambda op, n: http_ok("a"))
    said = _polled_once(vantage, monkeypatch)
    vantage.collect_hostnames("http://10.96.0.10/hostname", expect={"a", "b"})
    assert (said, len(vantage.rounds)) == (["missing ['b']"], SAMPLING_BATCHES)


def test_dns_cname_records() -> None:
    answer = (
        "Server:\t10.96.0.10\nAddress:\t10.96.0.10:53\n\nx.ns.svc.cluster.local\tcanonical name = api.partner.example\n"
    )
    vantage = ScriptedVantage(lambda op, n: Outcome(0, "", answer))
    result = vantage.dns("x.ns.svc.cluster.local", "CNAME")
    result.must_resolve(hint="h", to="api.partner.example")
    with pytest.raises(Fail):
        result.must_resolve(hint="h", to="elsewhere.example")


def test_results_fill_the_matrix_with_expected_and_observed() -> None:
    matrix = Matrix()
    matrix.name_target("10.96.0.10", "web ClusterIP")
    vantage = ScriptedVantage(
        lambda op, n: http_ok() if "good" in op.target else TIMEOUT, name="outside container", known_good="http://good/"
    )
    vantage.attach(matrix)
    vantage.must_not_reach("http://10.96.0.10/", hint="private")
    vantage.http_get("http://good/").must_succeed(hint="h")
    cell = matrix.cell("outside container", "web ClusterIP")
    assert cell is not None
    assert (cell.expected, cell.observed, cell.ok) == (False, False, True)
    assert matrix.rows == ["outside container"]
    assert "good:80" in matrix.columns


def test_a_diagnosis_the_check_already_gave_is_not_said_twice() -> None:
    said = "targetPort 80 of Service web matches no containerPort of the selected pods."
    recorder = Recorder("probe pod", diagnose=lambda host, port: Diagnosis("endpoints/targetport-not-declared", said))
    result = HostnamesResult(url="http://10.96.0.10/hostname", expected={"web-1"}, recorder=recorder, port=80)
    with pytest.raises(Fail) as failed:
        result.must_cover(f"Not every ready pod answered. {said}", diagnosis="lab/said-it")
    assert failed.value.hint.count(said) == 1
    assert failed.value.diagnosis == "lab/said-it"
    with pytest.raises(Fail) as failed:
        result.must_cover("Not every ready pod answered.", diagnosis="lab/pods-silent")
    assert failed.value.hint.endswith(said)
    assert failed.value.diagnosis == "endpoints/targetport-not-declared"  # the mistake the hint now names


SLOW = ProbePolicy(per_try_s=1.0, deadline_s=30.0, backoff_s=0.01, exec_slack_s=5.0, hostname_rounds_size=4)


@pytest.mark.parametrize("diagnosis", ["targetPort 80 matches no containerPort of the selected pods.", ""])
def test_a_refusal_is_final_early_only_when_a_diagnosis_explains_it(
    monkeypatch: pytest.MonkeyPatch, diagnosis: str
) -> None:
    monkeypatch.setattr(streaks, "REFUSED_FINAL_S", 0.2)
    vantage = ScriptedVantage(lambda op, n: REFUSED)
    vantage.policy = SLOW if diagnosis else ProbePolicy(per_try_s=1.0, deadline_s=3.0, backoff_s=0.01)
    vantage.recorder.diagnose = lambda host, port: Diagnosis(
        "endpoints/targetport-not-declared" if diagnosis else "",
        diagnosis if (host, port) == ("10.96.0.10", 80) else "",
    )
    result = vantage.http_get("http://10.96.0.10/")
    assert result.error == "connection refused"
    stop = result.attempts[-1].at_s  # on the probe's clock
    if diagnosis:  # explained: stopped once refused for REFUSED_FINAL_S, long before the 30 s deadline
        assert 0.2 <= stop < SLOW.deadline_s - SLOW.per_try_s
        hostnames = vantage.collect_hostnames("http://10.96.0.10/hostname", ["web-1"])
        assert hostnames.seen == set()
        assert hostnames.attempts[-1].at_s < SLOW.deadline_s - SLOW.per_try_s
    else:  # unexplained: retried on past REFUSED_FINAL_S to the (3 s) deadline
        assert stop >= 3.0 - 1.0 - 0.01 - 0.5


def test_a_refusal_that_breaks_off_starts_counting_again() -> None:
    calls = {"n": 0}

    def respond(op: Op, n: int) -> Outcome:
        calls["n"] += 1
        return TIMEOUT if n % 3 == 0 else REFUSED

    vantage = ScriptedVantage(respond)
    vantage.recorder.diagnose = lambda host, port: "explained"
    track = streaks.FailureStreaks([Op("http", "http://10.96.0.10/")], vantage.recorder)
    track.note(0, [REFUSED], 0.0)
    track.check([0], 3.9)  # not yet
    track.note(0, [TIMEOUT], 4.0)  # a try that timed out breaks the refusals (and is unexplained)
    track.check([0], 4.0)
    track.note(0, [REFUSED], 5.0)
    track.check([0], 8.9)  # 3.9 s since the refusals began again
    with pytest.raises(streaks.FailureExplained):
        track.check([0], 9.0)


@pytest.mark.parametrize(
    ("source", "why"), [("172.18.0.4", "loadBalancerSourceRanges 10.240.0.0/16 leave out"), (None, "")]
)
def test_timeouts_are_final_after_two_tries_only_when_the_source_ranges_explain_them(
    source: str | None, why: str
) -> None:
    vantage = ScriptedVantage(lambda op, n: TIMEOUT)
    vantage.policy = SLOW if why else ProbePolicy(per_try_s=1.0, deadline_s=3.0, backoff_s=0.01)
    vantage.recorder.source = source
    asked: list[tuple[str, int, str]] = []

    def silence(host: str, port: int, src: str) -> str:
        asked.append((host, port, src))
        return why

    vantage.recorder.silence = silence
    vantage.recorder.diagnose = lambda host, port: "a port diagnosis does not explain a timeout"
    result = vantage.http_get("http://172.18.255.221/hostname")
    assert result.error.startswith("timed out")
    if why:  # two tries that each waited their whole time, then the answer is known
        assert len(result.attempts) == streaks.SILENT_TRIES
        assert asked == [("172.18.255.221", 80, "172.18.0.4")]  # asked once a streak
    else:  # no known source address: nothing can explain it, the deadline holds
        assert len(result.attempts) > streaks.SILENT_TRIES
        assert asked == []


def test_a_streak_of_one_kind_restarts_when_the_failure_changes() -> None:
    recorder = Recorder("outside container", source="172.18.0.4")
    recorder.silence = lambda host, port, src: "left out"
    recorder.diagnose = lambda host, port: ""  # refusals unexplained
    track = streaks.FailureStreaks([Op("tcp", "172.18.255.221", 80)], recorder)
    track.note(0, [TIMEOUT], 0.0)
    track.note(0, [REFUSED], 1.0)
    track.note(0, [TIMEOUT], 2.0)
    track.check([0], 2.0)  # one silent try since the refusal: not yet
    track.note(0, [TIMEOUT, TIMEOUT], 3.0)  # a batch that all timed out counts as one try
    with pytest.raises(streaks.FailureExplained):
        track.check([0], 3.0)
    track.note(0, [TIMEOUT, REFUSED], 4.0)  # mixed: no streak
    track.check([0], 4.0)


def test_the_host_vantage_tells_a_refused_connection_by_its_socket_error() -> None:
    with socket.socket() as free:  # a port nothing listens on: the kernel refuses at once
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    got = host.HostVantage()._one(Op("http", f"http://127.0.0.1:{port}/"), per_try_s=2.0)
    assert (got.rc, got.err) == (1, "connection refused")
    words = OSError("the connection was refused (words only)")
    words.__cause__ = urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))
    assert not host._refused(words)  # its words say refused; the socket error under it does not

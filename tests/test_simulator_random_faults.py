"""The simulator's random faults (`Faults(fault_rate=...)`, `nsml_simulator --fault-rate`), each kind as
nsml/simulator/faults.py documents it, seen by the portal's NSML client over real HTTP."""

from __future__ import annotations

import time

import pytest
import requests
from django.core.management import CommandError, call_command

from nsml.client import Failure, NsmlClient, NsmlConfig, NsmlError
from nsml.simulator import Faults
from nsml.simulator.faults import BAD_RETRY_AFTERS, RANDOM_FAULTS

READ_TIMEOUT = 0.5


def client_for(nsml) -> NsmlClient:
    return NsmlClient(
        NsmlConfig(
            base_url=nsml.base_url,
            access_key="dev-access-key",
            secret_key="dev-secret-key",
            api_key="dev-api-gateway-key",
            connect_timeout=1.0,
            read_timeout=READ_TIMEOUT,
        )
    )


def every_request(kind: str, **extra) -> Faults:
    return Faults(fault_rate=1.0, fault_kinds=(kind,), seed=1, **extra)


# "after": NSML makes the change, and the answer is lost, late, or replaced.
AFTER = [
    pytest.param("drop-after", Failure.NO_ANSWER, id="drop-after"),
    pytest.param("late", Failure.NO_ANSWER, id="late"),
    pytest.param("html-200", Failure.BAD_RESPONSE, id="html-200"),
]
# "before": NSML answers (or drops) without making the change.
BEFORE = [
    pytest.param("drop-before", {Failure.NO_ANSWER}, id="drop-before"),
    pytest.param("error", {Failure.THROTTLED, Failure.UNAVAILABLE}, id="error"),
    pytest.param("html-error", {Failure.UNAVAILABLE}, id="html-error"),
    pytest.param("bad-retry-after", {Failure.UNAVAILABLE}, id="bad-retry-after"),
]


def test_the_tests_cover_every_kind():
    assert {param.values[0] for param in AFTER + BEFORE} == set(RANDOM_FAULTS)


@pytest.mark.parametrize(("kind", "failure"), AFTER)
def test_an_after_fault_makes_the_change_that_the_client_cannot_see(nsml, new_public_key, kind, failure):
    nsml.set_faults(every_request(kind, late_seconds=READ_TIMEOUT * 3))

    with pytest.raises(NsmlError) as caught:
        client_for(nsml).create_key("laptop", new_public_key())

    assert caught.value.failure is failure
    assert caught.value.failure.outcome_unknown  # the portal knows to look before it decides
    assert [held["title"] for held in nsml.held_keys()] == ["laptop"]


def test_an_after_fault_deletes_the_key(nsml, new_public_key):
    held = nsml.add_key("laptop", new_public_key())
    nsml.set_faults(every_request("drop-after"))

    with pytest.raises(NsmlError) as caught:
        client_for(nsml).delete_key("laptop", held["name"])

    assert caught.value.failure is Failure.NO_ANSWER
    assert nsml.held_keys() == []


@pytest.mark.parametrize(("kind", "failures"), BEFORE)
def test_a_before_fault_changes_nothing(nsml, new_public_key, kind, failures):
    nsml.set_faults(every_request(kind))

    with pytest.raises(NsmlError) as caught:
        client_for(nsml).create_key("laptop", new_public_key())

    assert caught.value.failure in failures
    assert nsml.held_keys() == []


def test_a_late_answer_comes_late_seconds_after_the_change(nsml):
    nsml.set_faults(every_request("late", late_seconds=1.0))
    signed_get = client_for(nsml).config.base_url + "/auth-keys"

    started = time.monotonic()
    answer = requests.get(signed_get, timeout=5)  # unsigned: answered 401, but only after the delay

    assert time.monotonic() - started >= 1.0
    assert answer.status_code == 401


def test_an_unparsable_retry_after_is_ignored_not_raised(nsml):
    faults = every_request("bad-retry-after")
    # What the simulator sends, seen raw (a random fault is answered before authentication).
    nsml.set_faults(faults)
    sent = [requests.get(nsml.base_url + "/auth-keys", timeout=5).headers["Retry-After"] for _ in range(6)]
    assert set(sent) == set(BAD_RETRY_AFTERS)

    # The same seed again: the client meets the same Retry-After values, in the same order.
    nsml.set_faults(faults)
    client = client_for(nsml)
    started = time.monotonic()
    for _ in range(2):
        with pytest.raises(NsmlError) as caught:  # nothing but NsmlError: no ValueError, no TypeError
            client.list_keys()
        assert caught.value.failure is Failure.UNAVAILABLE
        assert caught.value.reply.status == 503

    assert len(nsml.requests_seen) == 6 + 6  # each call tried three times
    assert time.monotonic() - started < 3.0  # waited the client's own short backoff, not a parsed date


def hits(nsml, *, rate: float, seed: int, requests_made: int = 200) -> list[bool]:
    """Which of `requests_made` signed lists a random fault hit."""
    nsml.set_faults(Faults(fault_rate=rate, fault_kinds=("error",), seed=seed))
    client = client_for(nsml)
    hit = []
    for _ in range(requests_made):
        try:
            client.list_keys(retry=False)
        except NsmlError:
            hit.append(True)
        else:
            hit.append(False)
    return hit


def test_a_fault_rate_hits_about_that_share_of_requests_and_a_seed_repeats_them(nsml):
    first = hits(nsml, rate=0.3, seed=7)
    again = hits(nsml, rate=0.3, seed=7, requests_made=100)
    other = hits(nsml, rate=0.3, seed=8, requests_made=100)

    assert 40 <= sum(first) <= 80  # 30% of 200 is 60
    assert again == first[:100]
    assert other != first[:100]


def test_a_fault_rate_of_zero_hits_nothing(nsml):
    assert not any(hits(nsml, rate=0.0, seed=7, requests_made=30))


@pytest.mark.parametrize("rate", ["2", "-0.1"])
def test_the_command_refuses_a_fault_rate_outside_0_to_1(rate):
    with pytest.raises(CommandError, match="fault_rate is a probability between 0 and 1"):
        call_command("nsml_simulator", "--fault-rate", rate, "--port", "0")


@pytest.mark.parametrize(
    ("option", "value"),
    [("--latency", "nan"), ("--latency", "inf"), ("--slow-commit", "nan"), ("--late-seconds", "inf")],
)
def test_the_command_refuses_a_wait_that_is_not_a_number_of_seconds(option, value):
    """Found trying the README's `--latency` by hand: `--latency nan` started the simulator ("faults: latency nans"),
    then every request failed inside time.sleep(nan) and the portal read each as a dropped connection."""
    with pytest.raises(CommandError, match="latency, slow_commit and late_seconds are a number of seconds, 0 or more"):
        call_command("nsml_simulator", option, value, "--port", "0")


def test_the_command_refuses_a_method_nsml_does_not_answer():
    """Found the same way: `--fail-status 503 --fail-methods PSOT` (a typo for POST) started, said it failed PSOT
    requests, and hit none: every create went through."""
    with pytest.raises(CommandError, match=r"fail_methods are among DELETE, GET, POST \(NSML's\), not PSOT"):
        call_command("nsml_simulator", "--fail-status", "503", "--fail-methods", "PSOT,GET", "--port", "0")


def test_a_latency_on_some_methods_slows_only_those():
    assert Faults(latency=1, latency_methods=frozenset({"post"})).describe() == "latency 1s on POST"
    with pytest.raises(ValueError, match=r"latency_methods are among DELETE, GET, POST \(NSML's\), not PSOT"):
        Faults(latency=1, latency_methods=frozenset({"PSOT"}))

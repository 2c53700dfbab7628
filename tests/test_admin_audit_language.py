"""An audit row in the Korean admin: its action, outcome, reason and detail read in Korean, from rows stored in
English and never rewritten; an English reader reads the detail as stored."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from keys import audit_display
from keys.audit import Origin, record_event
from keys.models import AuditEvent
from keys.services import revoke_key
from nsml.simulator import Faults

pytestmark = pytest.mark.django_db

HANGUL = re.compile("[\uac00-\ud7a3]")
READ_ONLY = re.compile(r'<div class="readonly">(.*?)</div>', re.S)


def lock_out(username: str = "alice", ip: str = "10.9.8.7") -> None:
    for _ in range(5):
        Client().post(reverse("login"), {"username": username, "password": "wrong-password-42"}, REMOTE_ADDR=ip)


def event_page(client, row: AuditEvent, language: str) -> str:
    response = client.get(reverse("admin:keys_auditevent_change", args=[row.pk]), HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    return response.content.decode()


def test_a_lock_out_reads_in_korean_with_the_record_below_it(admin_client, member, event, settings):
    lock_out()
    row = event(action="lockout")
    recorded = row.detail
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    assert recorded == f"5 failed log-ins for this username or from 10.9.8.7; log-ins refused for {minutes} minutes"

    shown = READ_ONLY.findall(event_page(admin_client, row, "ko"))

    assert "로그인 잠김" in shown  # the action
    assert "포털에서 거부됨" in shown  # the outcome
    assert "로그인 실패가 너무 많음 (failure_limit)" in shown  # the reason, with its code
    assert (
        f"이 사용자 이름 또는 10.9.8.7 주소에서 로그인 5번 실패; {minutes}분 동안 로그인 거부"
        f'<br><span class="quiet">기록된 원문: {recorded}</span>'
    ) in shown
    AuditEvent.objects.get(pk=row.pk, detail=recorded)  # the row itself is as it was written


def test_in_english_the_detail_is_shown_as_recorded(admin_client, member, event):
    lock_out()
    row = event(action="lockout")

    shown = READ_ONLY.findall(event_page(admin_client, row, "en"))

    assert row.detail in shown
    assert "Log-in locked out" in shown
    assert "too many failed log-ins (failure_limit)" in shown
    assert "As recorded" not in "".join(shown)


def test_an_unlock_and_a_privilege_change_read_in_korean(admin_client, admin_user, member, event):
    lock_out()
    admin_client.post(reverse("admin:auth_user_unlock", args=[member.pk]))
    admin_client.post(
        reverse("admin:auth_user_change", args=[member.pk]),
        {"username": "alice", "is_active": "on", "is_staff": "on", "date_joined_0": "", "last_login_0": ""},
    )

    unlock = READ_ONLY.findall(event_page(admin_client, event(action="unlock"), "ko"))
    privileges = READ_ONLY.findall(event_page(admin_client, event(action="privileges"), "ko"))

    assert any(text.startswith("사용자 이름 alice, 주소 -; 실패 기록 1건 삭제<br>") for text in unlock)
    assert "스태프로 지정 (staff_granted)" in privileges
    assert any(text.startswith("스태프 권한: 아니오 → 예<br>") for text in privileges)


@pytest.mark.parametrize(
    ("usable_password", "recorded", "korean"),
    [
        (
            "true",
            "active=True staff=False superuser=False password=set",
            "활성: 예, 스태프 권한: 아니오, 최상위 사용자 권한: 아니오, 비밀번호: 설정됨",
        ),
        (
            "false",
            "active=True staff=False superuser=False password=unusable",
            "활성: 예, 스태프 권한: 아니오, 최상위 사용자 권한: 아니오, "
            "비밀번호: 사용할 수 없음(비밀번호 로그인 사용 안 함)",
        ),
    ],
    ids=["with a password", "without a password"],
)
def test_a_user_an_admin_created_reads_in_korean(admin_client, event, usable_password, recorded, korean):
    """Found in the Korean admin: a new account's detail stayed "active=True staff=True superuser=False
    password=set"."""
    password = {"password1": "carols-long-password-3", "password2": "carols-long-password-3"}
    response = admin_client.post(
        reverse("admin:auth_user_add"),
        {"username": "carol", "usable_password": usable_password, **(password if usable_password == "true" else {})},
        HTTP_ACCEPT_LANGUAGE="ko",
    )
    assert response.status_code == 302
    row = event(action="user_create", subject__username="carol")
    assert row.detail == recorded

    shown = READ_ONLY.findall(event_page(admin_client, row, "ko"))

    assert "계정 생성 (created)" in shown
    assert f'{korean}<br><span class="quiet">기록된 원문: {recorded}</span>' in shown
    assert READ_ONLY.findall(event_page(admin_client, row, "en")).count(recorded) == 1  # English: as recorded


def test_nsmls_own_words_stay_as_nsml_wrote_them(admin_client, member):
    row = record_event(
        action="register",
        outcome="success",
        actor=member,
        origin=Origin(),
        reason="settled_by_lookup",
        detail="NSML answered 504 (Gateway Timeout); a lookup found the key",
    )

    shown = READ_ONLY.findall(event_page(admin_client, row, "ko"))

    assert "NSML 조회로 확정됨 (settled_by_lookup)" in shown
    assert any(text.startswith("NSML 응답 504 (Gateway Timeout); 조회로 키를 찾음<br>") for text in shown)


def test_a_code_with_no_name_is_shown_as_the_code(admin_client, member):
    row = record_event(action="register", outcome="refused", actor=member, origin=Origin(), reason="too_weak")

    assert "too_weak" in READ_ONLY.findall(event_page(admin_client, row, "ko"))


def test_the_audit_list_names_actions_and_outcomes_in_korean(admin_client, member):
    lock_out()

    page = admin_client.get(reverse("admin:keys_auditevent_changelist"), HTTP_ACCEPT_LANGUAGE="ko").content.decode()

    assert "로그인 잠김" in page
    assert "포털에서 거부됨" in page
    assert ">lockout<" not in page


def test_every_reason_and_phrase_has_a_korean_translation():
    with translation.override("ko"):
        untranslated = [str(name) for name in audit_display.REASON_NAMES.values() if not HANGUL.search(str(name))]
        untranslated += [str(text) for _, text in audit_display.PHRASES if not HANGUL.search(str(text))]
    assert untranslated == ["%(field)s: %(before)s → %(after)s"]  # no words of its own to translate


def test_a_revocation_a_reconcile_pass_confirmed_reads_in_korean():
    """The detail keys.services.states.confirm_revoked writes, with the admin's reason after it."""
    recorded = (
        "confirmed by a reconcile pass: NSML no longer lists the key; asked from 10.1.2.3; reason given: left the team"
    )

    with translation.override("ko"):
        shown = audit_display.detail_shown(recorded)

    assert (
        shown
        == "동기화 작업이 확인함: NSML 목록에 더 이상 이 키가 없음; 10.1.2.3에서 요청함; 입력한 사유: left the team"
    )


def test_a_revocation_whose_confirming_list_failed_reads_in_korean(member, nsml, register, settings):
    """Found in the Korean admin after a revoke against a slow NSML: the detail read "확인용 목록 조회 실패:
    NSML no_answer: NSML did not answer within the read timeout", the failed call left in English."""
    settings.NSML_TIMEOUT = 0.5
    key = register(member)
    nsml.set_faults(Faults(drop=True))  # the DELETE's answer is lost, and so is the list that would confirm it
    revoke_key(key=key, actor=member, origin=Origin(ip="10.1.2.3"))
    row = AuditEvent.objects.get(registered_key=key, action="revoke", reason="unconfirmed")
    assert "; the list that confirms it failed: NSML " in row.detail

    with translation.override("ko"):
        shown = audit_display.detail_shown(row.detail)

    assert "확인용 목록 조회 실패: NSML" in shown
    assert not re.search(r"NSML [a-z_]+:|did not|timed out|lost \(", shown), shown


def test_an_answer_nsml_could_not_have_sent_reads_in_korean(member, nsml, register):
    """Found in the Korean admin after a revoke through a proxy that answered with an HTML page: the detail
    read "an HTML page where NSML answers 200 (HTTP 200: answer is not JSON (text/html, 75 bytes))", the NSML
    client's own words about an answer it could not use left in English, inside the translated line too."""
    key = register(member)
    nsml.set_faults(Faults(fault_rate=1.0, fault_kinds=("html-200",)))  # the DELETE's and the list's answers
    revoke_key(key=key, actor=member, origin=Origin(ip="10.1.2.3"))
    row = AuditEvent.objects.get(registered_key=key, action="revoke", reason="unconfirmed")
    assert row.detail.startswith("an HTML page where NSML answers 200 (HTTP 200: answer is not JSON (text/html, ")

    with translation.override("ko"):
        shown = audit_display.detail_shown(row.detail)

    assert shown.startswith(
        "NSML의 정상 응답은 200이지만 HTML 페이지 응답을 받음 (HTTP 200: 응답이 JSON이 아님 (text/html, "
    )
    assert not re.search(r"where NSML|answer is not|bytes", shown), shown


@pytest.mark.parametrize(
    "recorded, korean",
    [
        ("HTTP 302 where NSML answers 201", "NSML의 정상 응답은 201이지만 HTTP 302 응답을 받음"),
        ("HTTP 502 with an empty body", "본문이 비어 있는 HTTP 502"),
        ("HTTP 400: JSON without an error object", "HTTP 400: error 객체가 없는 JSON"),
        (
            "HTTP 502: answer is not JSON (no content type, 12 bytes)",
            "HTTP 502: 응답이 JSON이 아님 (콘텐츠 유형 없음, 12바이트)",
        ),
        (
            "key list not in the documented shape (KeyError('keyList'))",
            "키 목록이 문서에 나온 형식이 아님 (KeyError('keyList'))",
        ),
        ("the key list holds 1 keys but its totalCount says 2", "키 목록에는 키가 1개 있지만 totalCount는 2개라고 함"),
        ("NSML answered 502 (HTTP 502 with an empty body)", "NSML 응답 502 (본문이 비어 있는 HTTP 502)"),
    ],
    ids=["other-status", "empty-body", "no-error-object", "not-json", "list-shape", "list-count", "inside-answered"],
)
def test_each_of_the_nsml_clients_words_about_an_unusable_answer_reads_in_korean(recorded, korean):
    with translation.override("ko"):
        assert audit_display.detail_shown(recorded) == korean


def test_check_nsml_now_says_why_nsmls_list_was_unusable_in_korean(admin_client, member, nsml, register):
    """Found with the Korean admin: Check NSML now against an NSML whose list was cut short said "...: NSML의 응답을
    읽을 수 없습니다 (the key list holds 1 keys but its totalCount says 2).", and the index's last pass the same."""
    register(member, "alice-laptop")
    register(member, "alice-desk")
    nsml.set_faults(Faults(short_list=1))
    changelist = reverse("admin:keys_registeredkey_changelist")

    answer = admin_client.post(changelist + "check-nsml/", follow=True, HTTP_ACCEPT_LANGUAGE="ko")
    index = admin_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="ko").content.decode()

    [message] = [str(message) for message in answer.context["messages"]]
    assert message.endswith("(키 목록에는 키가 1개 있지만 totalCount는 2개라고 함).")
    assert "키 목록에는 키가 1개 있지만 totalCount는 2개라고 함" in index
    assert "totalCount says" not in message + index


def test_the_admin_who_ran_check_nsml_now_is_named_in_korean(admin_client, admin_user, member, nsml, register):
    """Found in the Korean admin: the rows a Check NSML now pass wrote named their actor "admin via Check NSML
    now" on the audit list and on the row's page, though the button itself reads "지금 NSML 확인"."""
    gone = register(member, "gone")
    nsml.remove_key(gone.title, gone.nsml_name)
    admin_client.post(reverse("admin:keys_registeredkey_check_nsml"))
    row = AuditEvent.objects.get(action="revoke", reason="missing_upstream")
    assert row.actor_username == "admin via Check NSML now"  # stored in English, as before

    listed = admin_client.get(reverse("admin:keys_auditevent_changelist"), HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    page = event_page(admin_client, row, "ko")

    assert "admin(“지금 NSML 확인”으로 실행)" in listed
    assert "admin(“지금 NSML 확인”으로 실행)" in READ_ONLY.findall(page)
    assert "via Check NSML now" not in listed + page  # the rows' checkbox labels and the page's title too
    assert "admin via Check NSML now" in READ_ONLY.findall(event_page(admin_client, row, "en"))


def test_a_rows_name_reads_its_action_and_outcome_in_the_readers_language():
    """The name the admin's title and each row's checkbox label show: the action and outcome by their labels, as
    Django's get_FOO_display gives them, in English and in Korean; a code no label knows (a row written by an
    older release) by the code itself."""
    row = AuditEvent.objects.create(action="register", outcome="unknown", actor_username="alice")
    odd = AuditEvent.objects.create(action="retired_action", outcome="success", actor_username="alice")

    for language in ("en", "ko"):
        with translation.override(language):
            assert str(row).endswith(f" alice {row.get_action_display()} {row.get_outcome_display()}")
            assert str(odd).endswith(f" alice retired_action {odd.get_outcome_display()}")
    with translation.override("ko"):
        assert HANGUL.search(str(row).split(" alice ")[1])

"""NCP API Gateway signature v2: the one known-answer test, and what the signature covers."""

from nsml.signing import sign_request, signature_matches


def test_it_matches_the_known_answer_from_ncp():
    signature = sign_request("GET", "/cluster/kubeconfig", "1668407407855", "access", "secret")
    assert signature == "LTJli9+OKT2KvUXxiKslMfu5FIOmDN83avehOvgUFp0="


def test_it_signs_the_method_target_and_timestamp():
    base = sign_request("POST", "/nsml/v1/auth-keys", "1700000000000", "access", "secret")
    assert base != sign_request("GET", "/nsml/v1/auth-keys", "1700000000000", "access", "secret")
    assert base != sign_request("POST", "/auth-keys", "1700000000000", "access", "secret")
    assert base != sign_request("POST", "/nsml/v1/auth-keys", "1700000000001", "access", "secret")
    assert base != sign_request("POST", "/nsml/v1/auth-keys", "1700000000000", "access", "other")


def test_it_compares_signatures_exactly():
    assert signature_matches("abc=", "abc=")
    assert not signature_matches("abc=", "abd=")

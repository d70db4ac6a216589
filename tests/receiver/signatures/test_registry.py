"""What the rest of the app relies on when it reaches a scheme through the registry."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from importlib import import_module

import pytest

from webbin.receiver.signatures import registry
from webbin.receiver.signatures.base import Options, SignedRequest


@pytest.mark.parametrize("name", sorted(registry.SCHEMES))
def test_each_scheme_class_lives_in_its_provider_module(name):
    # Test webhooks find a scheme's helpers (generate_keypair) through the module that defines
    # its class, so a provider built on a shared base class must still subclass it in its own
    # module.
    scheme = registry.SCHEMES[name]
    module = type(scheme).__module__
    assert module == f"webbin.receiver.signatures.{name.replace('-', '_')}"
    assert import_module(module).SCHEME is scheme
    assert scheme.name == name and scheme.title
    for method in ("detect", "verify", "sign"):
        assert callable(getattr(scheme, method))


def test_public_key_schemes_offer_a_key_pair_and_mailgun_signs_bodies():
    with_keypairs = {
        name
        for name, scheme in registry.SCHEMES.items()
        if hasattr(import_module(type(scheme).__module__), "generate_keypair")
    }
    assert with_keypairs == {"discord", "sendgrid"}
    assert callable(registry.SCHEMES["mailgun"].sign_body)


# An X-Hub-Signature that no provider's own headers claim -------------------------------------

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
BODY = b'{"action": "opened"}'
SECRET = "shared-header-secret"
SHARED_BY = "GitHub, Intercom and Bitbucket Cloud"


def hub_signed(algorithm: str, *extra: tuple[str, str], secret: str = SECRET) -> SignedRequest:
    """``X-Hub-Signature: <algorithm>=<hex HMAC of the body>``, written out with hmac."""
    digest = hmac.new(secret.encode(), BODY, algorithm).hexdigest()
    headers = [*extra, ("X-Hub-Signature", f"{algorithm}={digest}")]
    return SignedRequest("POST", "https://bin.example/h/abc", headers, BODY, NOW)


def test_legacy_github_signature_alone_is_checked_as_each_provider_that_sends_it():
    request = hub_signed("sha1")
    assert registry.detect(request) is None
    verdict = registry.verify(request, "auto", Options(secrets=(SECRET,)))
    # GitHub's legacy signature and Intercom's are made alike: the first in order reports it.
    assert (verdict.scheme, verdict.status) == ("github", "valid")


def test_bitbucket_signature_without_bitbucket_headers_is_found_by_its_signature():
    verdict = registry.verify(hub_signed("sha256"), "auto", Options(secrets=("x", SECRET)))
    assert (verdict.scheme, verdict.status, verdict.matched_secret) == ("bitbucket", "valid", 1)


def test_shared_header_matching_no_provider_is_invalid_and_says_what_was_tried():
    verdict = registry.verify(hub_signed("sha1"), "auto", Options(secrets=("another",)))
    assert (verdict.scheme, verdict.status) == ("auto", "invalid")
    assert verdict.reason == (
        f"X-Hub-Signature does not match as any of the providers that use it ({SHARED_BY})."
    )
    assert verdict.headers_read == ["X-Hub-Signature"]
    assert verdict.hint.startswith("As GitHub: The signature does not match the secret.")
    assert "As Bitbucket Cloud: X-Hub-Signature is not of the form sha256=" in verdict.hint


def test_shared_header_without_a_secret_names_the_header_and_its_providers():
    request = hub_signed("sha1")
    verdict = registry.verify(request, "auto", Options())
    assert (verdict.scheme, verdict.status) == ("auto", "unverified")
    assert verdict.reason == (
        "X-Hub-Signature is present, but no other header says which provider sent it: "
        f"{SHARED_BY} use it."
    )
    assert verdict.received == [request.header("X-Hub-Signature")]


def test_no_signature_header_at_all_is_still_unsigned():
    request = SignedRequest("POST", "https://bin.example/h/abc", [("X-Other", "1")], BODY, NOW)
    verdict = registry.verify(request, "auto", Options(secrets=(SECRET,)))
    assert (verdict.scheme, verdict.status) == ("auto", "unsigned")


@pytest.mark.parametrize(
    ("extra", "scheme"),
    [
        ((("X-GitHub-Event", "push"),), "github"),
        # GitHub's own header wins over Bitbucket's and Intercom's marks, as before.
        (
            (("X-GitHub-Event", "push"), ("X-Event-Key", "repo:push"), ("X-Hook-UUID", "u")),
            "github",
        ),
        (
            (("X-GitHub-Event", "push"), ("User-Agent", "intercom-parrot-service-client/1.0")),
            "github",
        ),
        ((("X-Event-Key", "repo:push"), ("X-Request-UUID", "u")), "bitbucket"),
        ((("User-Agent", "intercom-parrot-service-client/1.0"),), "intercom"),
    ],
)
def test_requests_a_provider_claims_keep_the_detection_order(extra, scheme):
    # Signed Bitbucket's way (sha256=) with the right secret: where GitHub claims the request,
    # it stays GitHub's verdict (invalid: GitHub's legacy header is sha1=), not Bitbucket's.
    request = hub_signed("sha256", *extra)
    assert registry.detect(request).name == scheme
    verdict = registry.verify(request, "auto", Options(secrets=(SECRET,)))
    assert verdict.scheme == scheme
    assert verdict.status == ("valid" if scheme == "bitbucket" else "invalid")

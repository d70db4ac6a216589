"""What the rest of the app relies on when it reaches a scheme through the registry."""

from __future__ import annotations

from importlib import import_module

import pytest

from webbin.receiver.signatures import registry


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

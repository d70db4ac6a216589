"""Webhook signature schemes, one module per provider, behind a registry.

``registry.verify(request, scheme_name, options)`` gives a :class:`base.Verdict`; ``auto``
picks the scheme from the request's headers, never from a secret's prefix (Stripe and
Standard Webhooks both use ``whsec_``).
"""

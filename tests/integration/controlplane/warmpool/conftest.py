"""Warm-pool tests' shared parts: a paper provider (the mocked cloud) as the default."""

from __future__ import annotations

import pytest

from tests.support.instances import PaperProvider
from torpor.controlplane.services import Services


@pytest.fixture
def paper(services: Services) -> PaperProvider:
    provider = PaperProvider()
    services.providers.register(provider, default=True)
    return provider

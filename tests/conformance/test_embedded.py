from collections.abc import Iterator

import pytest

from agora.chain import Chain, connect

from .suite import ChainConformance


class TestEmbedded(ChainConformance):
    @pytest.fixture
    def chain(self) -> Iterator[Chain]:
        c = connect("embedded://")
        yield c
        c.close()

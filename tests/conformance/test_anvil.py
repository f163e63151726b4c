from collections.abc import Iterator

import pytest

from agora.chain import Chain, connect
from agora.devnet.anvil import AnvilProcess

from .suite import ChainConformance

pytestmark = pytest.mark.anvil


class TestAnvilHttp(ChainConformance):
    @pytest.fixture
    def chain(self, anvil: AnvilProcess) -> Iterator[Chain]:
        c = connect(anvil.url)
        yield c
        c.close()


class TestAnvilWebSocket(ChainConformance):
    @pytest.fixture
    def chain(self, anvil: AnvilProcess) -> Iterator[Chain]:
        c = connect(anvil.ws_url)
        yield c
        c.close()

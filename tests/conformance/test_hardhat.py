"""The conformance suite against Hardhat's node (npm ``hardhat@2``, hardfork prague): a
second node implementation beside anvil, so "any EVM node by URL" is tested on two."""

from collections.abc import Iterator

import pytest

from agora.chain import Chain, connect

from .conftest import HardhatNode
from .suite import ChainConformance

pytestmark = pytest.mark.hardhat


class TestHardhatHttp(ChainConformance):
    @pytest.fixture
    def chain(self, hardhat: HardhatNode) -> Iterator[Chain]:
        c = connect(hardhat.url)
        yield c
        c.close()


class TestHardhatWebSocket(ChainConformance):
    @pytest.fixture
    def chain(self, hardhat: HardhatNode) -> Iterator[Chain]:
        c = connect(hardhat.ws_url)
        yield c
        c.close()

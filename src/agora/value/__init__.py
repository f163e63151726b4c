"""The value layer: models as economic actors.

* :mod:`~agora.value.models` — the model card and the ``ModelRegistry`` client (ERC-721
  models with provenance, versions and a revenue split);
* :mod:`~agora.value.channels` — the ``PaymentChannels`` client (open, top up, claim many,
  distribute, withdraw);
* :mod:`~agora.value.cheques`, :mod:`~agora.value.receipts` — the EIP-712 messages of a paid
  call: the payer's cheque and the service's receipt;
* :mod:`~agora.value.x402` — the x402 v2 HTTP flow (``batch-settlement`` scheme);
* :mod:`~agora.value.service`, :mod:`~agora.value.server` — the paid model API;
* :mod:`~agora.value.client` — ``Client.models``: paid calls with checked receipts.
"""

from agora.value.channels import ChannelInfo, Channels
from agora.value.cheques import CHEQUE_TYPES, Cheque, channels_domain, cheque_typed_data, sign_cheque
from agora.value.client import CallResult, ModelsClient, encode_input
from agora.value.models import OWNER, ModelCard, ModelInfo, ModelRegistry, Share, parse_split
from agora.value.receipts import RECEIPT_TYPES, Receipt, ReceiptError, receipts_domain, sign_receipt
from agora.value.server import create_app
from agora.value.service import PaidService
from agora.value.x402 import PaymentError

__all__ = [
    "CHEQUE_TYPES",
    "CallResult",
    "ChannelInfo",
    "Channels",
    "Cheque",
    "ModelCard",
    "ModelInfo",
    "ModelRegistry",
    "ModelsClient",
    "OWNER",
    "PaidService",
    "PaymentError",
    "RECEIPT_TYPES",
    "Receipt",
    "ReceiptError",
    "Share",
    "channels_domain",
    "cheque_typed_data",
    "create_app",
    "encode_input",
    "parse_split",
    "receipts_domain",
    "sign_cheque",
    "sign_receipt",
]

"""The value layer: models as economic actors.

* :mod:`~agora.value.models` — the model card and the ``ModelRegistry`` client (ERC-721
  models with provenance, versions and a revenue split);
* :mod:`~agora.value.channels` — the ``PaymentChannels`` client (open, top up, claim many,
  distribute, withdraw);
* :mod:`~agora.value.cheques`, :mod:`~agora.value.receipts` — the EIP-712 messages of a paid
  call: the payer's cheque and the service's receipt (one shape: :mod:`~agora.value.messages`);
* :mod:`~agora.value.revenue` — the split's rounding rule, earnings, withdrawals;
* :mod:`~agora.value.x402` — the x402 v2 HTTP flow (``batch-settlement`` scheme);
* :mod:`~agora.value.service`, :mod:`~agora.value.server` — the paid model API;
* :mod:`~agora.value.client` — ``Client.models``: paid calls with checked receipts.
"""

from agora.value.channels import (
    ChannelIdParts,
    ChannelInfo,
    Channels,
    ClosedChannel,
    decode_channel_id,
    encode_channel_id,
)
from agora.value.cheques import CHEQUE_TYPES, Cheque, channels_domain, cheque_typed_data, sign_cheque
from agora.value.client import CallResult, ChannelView, ModelsClient, encode_input
from agora.value.models import (
    OWNER,
    ModelCard,
    ModelDetails,
    ModelInfo,
    ModelRegistry,
    Registration,
    Share,
    fetch_model_details,
    parse_split,
)
from agora.value.receipts import RECEIPT_TYPES, Receipt, ReceiptError, receipts_domain, sign_receipt
from agora.value.revenue import Earnings, ModelShare, Withdrawal, fetch_earnings, split_amount, withdraw_revenue
from agora.value.server import create_app
from agora.value.service import PaidService, build_paid_service
from agora.value.x402 import PaymentError

__all__ = [
    "CHEQUE_TYPES",
    "CallResult",
    "ChannelIdParts",
    "ChannelInfo",
    "ChannelView",
    "Channels",
    "Cheque",
    "ClosedChannel",
    "Earnings",
    "ModelCard",
    "ModelDetails",
    "ModelInfo",
    "ModelRegistry",
    "ModelShare",
    "ModelsClient",
    "OWNER",
    "PaidService",
    "PaymentError",
    "RECEIPT_TYPES",
    "Receipt",
    "ReceiptError",
    "Registration",
    "Share",
    "Withdrawal",
    "build_paid_service",
    "channels_domain",
    "cheque_typed_data",
    "create_app",
    "decode_channel_id",
    "encode_channel_id",
    "encode_input",
    "fetch_earnings",
    "fetch_model_details",
    "parse_split",
    "receipts_domain",
    "sign_cheque",
    "sign_receipt",
    "split_amount",
    "withdraw_revenue",
]

"""The value layer: models as economic actors.

* :mod:`~agora.value.models` — the model card and the ``ModelRegistry`` client (ERC-721
  models with provenance, versions and a revenue split; a model's ``Lineage``: its versions,
  its datasets with their owners in the dataset registry, its compute jobs);
* :mod:`~agora.value.channels` — the ``PaymentChannels`` client (open, top up, claim many,
  distribute, withdraw);
* :mod:`~agora.value.cheques`, :mod:`~agora.value.receipts` — the EIP-712 messages of a paid
  call: the payer's cheque and the service's receipt (one shape: :mod:`~agora.value.messages`);
* :mod:`~agora.value.revenue` — the split's rounding rule, earnings, withdrawals;
* :mod:`~agora.value.x402` — the x402 v2 HTTP flow (the ``agora-channel`` and ``exact`` schemes);
* :mod:`~agora.value.exact` — x402's ``exact`` scheme: EIP-3009 payments to the model's payee;
* :mod:`~agora.value.service`, :mod:`~agora.value.server` — the paid model API;
* :mod:`~agora.value.client` — ``Client.models``: paid calls with checked receipts.

The names below are imported on first use, so that loading the layer's declaration (or
``agora --help``) does not pull in web3 and the models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agora.layers import export_lazily

if TYPE_CHECKING:
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
    from agora.value.exact import ExactPayments, build_exact_payments
    from agora.value.models import (
        OWNER,
        DatasetLink,
        Lineage,
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
    "DatasetLink",
    "Earnings",
    "ExactPayments",
    "Lineage",
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
    "build_exact_payments",
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

#: Where each public name lives (imported on first use).
_EXPORTS: dict[str, str] = {
    "CHEQUE_TYPES": "agora.value.cheques",
    "CallResult": "agora.value.client",
    "ChannelIdParts": "agora.value.channels",
    "ChannelInfo": "agora.value.channels",
    "ChannelView": "agora.value.client",
    "Channels": "agora.value.channels",
    "Cheque": "agora.value.cheques",
    "ClosedChannel": "agora.value.channels",
    "DatasetLink": "agora.value.models",
    "Earnings": "agora.value.revenue",
    "ExactPayments": "agora.value.exact",
    "Lineage": "agora.value.models",
    "ModelCard": "agora.value.models",
    "ModelDetails": "agora.value.models",
    "ModelInfo": "agora.value.models",
    "ModelRegistry": "agora.value.models",
    "ModelShare": "agora.value.revenue",
    "ModelsClient": "agora.value.client",
    "OWNER": "agora.value.models",
    "PaidService": "agora.value.service",
    "PaymentError": "agora.value.x402",
    "RECEIPT_TYPES": "agora.value.receipts",
    "Receipt": "agora.value.receipts",
    "ReceiptError": "agora.value.receipts",
    "Registration": "agora.value.models",
    "Share": "agora.value.models",
    "Withdrawal": "agora.value.revenue",
    "build_exact_payments": "agora.value.exact",
    "build_paid_service": "agora.value.service",
    "channels_domain": "agora.value.cheques",
    "cheque_typed_data": "agora.value.cheques",
    "create_app": "agora.value.server",
    "decode_channel_id": "agora.value.channels",
    "encode_channel_id": "agora.value.channels",
    "encode_input": "agora.value.client",
    "fetch_earnings": "agora.value.revenue",
    "fetch_model_details": "agora.value.models",
    "parse_split": "agora.value.models",
    "receipts_domain": "agora.value.receipts",
    "sign_cheque": "agora.value.cheques",
    "sign_receipt": "agora.value.receipts",
    "split_amount": "agora.value.revenue",
    "withdraw_revenue": "agora.value.revenue",
}

__getattr__, __dir__ = export_lazily(globals(), _EXPORTS)

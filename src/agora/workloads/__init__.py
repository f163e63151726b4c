"""AI workload plug-ins with canonical result digests.

A workload kind (``onnx-classify``, ``embed-minilm``, ``train-digits``, or a third party's,
declared as an entry point in the ``agora.workloads`` group) runs a job off-chain and returns
canonical bytes: its floating-point outputs quantized to the kind's ``tolerance`` and encoded
in one fixed format. The bytes are the result blob a provider stores; ``keccak256`` of them is
the result digest it commits on chain, so honest providers' digests agree and anyone can check
a blob against a digest::

    from agora.workloads import get_workload, result_digest, digits_inputs, build_digits_model

    workload = get_workload("onnx-classify")
    blob = workload.run(build_digits_model(), digits_inputs(8))
    digest = result_digest(blob)  # 32 bytes
"""

from agora.workloads.base import (
    RESULT_FORMAT,
    RESULT_LAYOUT,
    RESULT_MEDIA_TYPE,
    Workload,
    WorkloadError,
    build_output_schema,
)
from agora.workloads.canonical import (
    ResultTensor,
    WorkloadOutput,
    decode_output,
    encode_output,
    quantize,
    result_digest,
)
from agora.workloads.digits import (
    build_digits_model,
    digits_inputs,
    digits_samples,
    encode_digits_input,
)
from agora.workloads.embed_minilm import EmbedMiniLM
from agora.workloads.onnx_classify import OnnxClassify
from agora.workloads.registry import (
    ENTRY_POINT_GROUP,
    get_workload,
    list_workloads,
    register_workload,
)
from agora.workloads.train_digits import TrainDigits, build_train_request

__all__ = [
    "ENTRY_POINT_GROUP",
    "EmbedMiniLM",
    "OnnxClassify",
    "RESULT_FORMAT",
    "RESULT_LAYOUT",
    "RESULT_MEDIA_TYPE",
    "ResultTensor",
    "TrainDigits",
    "Workload",
    "WorkloadError",
    "WorkloadOutput",
    "build_digits_model",
    "build_output_schema",
    "build_train_request",
    "decode_output",
    "digits_inputs",
    "digits_samples",
    "encode_digits_input",
    "encode_output",
    "get_workload",
    "list_workloads",
    "quantize",
    "register_workload",
    "result_digest",
]

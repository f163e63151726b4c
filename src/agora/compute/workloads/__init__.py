"""Deprecated: the workload plug-ins are the seam :mod:`agora.workloads` since 0.4.

Kept so that third-party workload plug-ins written against 0.3
(``from agora.compute.workloads import Workload``) keep loading; import
from :mod:`agora.workloads` instead. Only the package's names are kept, not
its submodules.
"""

from agora.workloads import *  # noqa: F403
from agora.workloads import __all__  # noqa: F401

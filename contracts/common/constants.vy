# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Constants shared by the Agora contracts
@custom:contract-name constants
@license AGPL-3.0-only
@notice Basis points, the bit masks of the hand-packed storage words, and
        the limits that a contract and its callers' interfaces must agree
        on, defined once.
@dev A module with constants only: `from ..common import constants`, then
     `constants.BPS`. It has no state, so it needs no `uses:` or
     `initializes:`, and adds nothing to the bytecode (constants fold at
     compile time). Not a deployable contract.
"""


# 100% in basis points.
BPS: constant(uint256) = 10_000

# The low n bits, to read a field out of a packed word: (word >> offset) & MASKn.
MASK8: constant(uint256) = (1 << 8) - 1
MASK16: constant(uint256) = (1 << 16) - 1
MASK32: constant(uint256) = (1 << 32) - 1
MASK64: constant(uint256) = (1 << 64) - 1
MASK80: constant(uint256) = (1 << 80) - 1
MASK96: constant(uint256) = (1 << 96) - 1
MASK128: constant(uint256) = (1 << 128) - 1
MASK160: constant(uint256) = (1 << 160) - 1

# Half the secp256k1 group order: a signature's s above it is malleable (EIP-2) and refused.
HALF_N: constant(uint256) = 57896044618658097711785492504343953926418782139537452191302581570759080747168

# Limits shared across a call (an interface's array bounds).
# Workload kinds (a 16-bit bitmap): ProviderRegistry and ComputeMarket.
MAX_KINDS: constant(uint256) = 16
# Providers one draw may leave out: IProviderRegistry.draw.
MAX_EXCLUDE: constant(uint256) = 16
# Revenue shares of one model: ModelRegistry and PaymentChannels.
MAX_SHARES: constant(uint256) = 8

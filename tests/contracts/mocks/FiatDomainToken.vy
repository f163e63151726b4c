# pragma version ~=0.4.3
"""
@title The EIP-712 domain as USDC's FiatToken says it (test only)
@notice name(), version() and DOMAIN_SEPARATOR(), and no EIP-5267 eip712Domain(): how
        agora.chain.permits.fetch_token_domain learns an EIP-3009 token's domain without it.
        With ``honest`` False the separator is not the one name and version make.
"""

name: public(String[32])
version: public(String[8])
DOMAIN_SEPARATOR: public(bytes32)


@deploy
def __init__(name_: String[32], version_: String[8], honest: bool):
    self.name = name_
    self.version = version_
    chain_id: uint256 = chain.id if honest else chain.id + 1
    self.DOMAIN_SEPARATOR = keccak256(abi_encode(
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
        keccak256(name_), keccak256(version_), chain_id, self,
    ))

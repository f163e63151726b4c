// Hardhat's in-process node for the chain conformance suite (tests/conformance/test_hardhat.py).
// The fixture that starts `hardhat node` passes the dev mnemonic and chain id through the
// environment, so agora.chain.accounts.DEV_MNEMONIC stays the one source of the dev accounts.
const env = process.env;

module.exports = {
  networks: {
    hardhat: {
      chainId: Number(env.AGORA_HARDHAT_CHAIN_ID || 31337),
      hardfork: env.AGORA_HARDHAT_HARDFORK || "prague",
      accounts: {
        mnemonic: env.AGORA_HARDHAT_MNEMONIC || "test test test test test test test test test test test junk",
        path: "m/44'/60'/0'/0",
        count: 10,
        accountsBalance: "10000000000000000000000", // 10,000 ETH, as on anvil and the embedded chain
      },
      mining: { auto: true, interval: 0 },
    },
  },
  // Nothing is compiled here; keep hardhat's cache out of the source tree.
  paths: { cache: env.AGORA_HARDHAT_CACHE || "./.cache" },
};

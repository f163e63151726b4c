"""Local devnets: anvil from npm, with persistent state, contracts and funded accounts."""

"""Generated code of the torpor wire contract. Do not edit: `make proto`."""

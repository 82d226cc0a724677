"""The fleet: hosts, their live agent streams, and the commands sent down them."""

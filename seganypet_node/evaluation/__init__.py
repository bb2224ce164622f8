"""How well the network and the automatic pipeline segment held-out phantoms."""

"""Preemption notices: a host about to be taken away (a spot reclaim) tells the control plane."""

"""The intervention gate: calibrated p_need / p_accept and the cost-sensitive decision rule."""

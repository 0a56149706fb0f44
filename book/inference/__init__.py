"""Inference: sampling strategies and cached decoding (p2-v-sampling); speculative decoding (p3-viii);
the cost model of prefill and decode, rooflines and the cost per token (p6-1)."""

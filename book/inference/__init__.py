"""Inference: sampling strategies and cached decoding (p2-v-sampling); speculative decoding (p3-viii)."""

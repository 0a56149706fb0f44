"""Inference: sampling strategies and cached decoding. Taught in p2-v-sampling."""

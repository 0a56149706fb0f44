"""Inference: sampling strategies and cached decoding (Part II §V); serving comes in Part VI."""

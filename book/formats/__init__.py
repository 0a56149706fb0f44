"""Files a model is saved to and read back from.

:mod:`~book.formats.checkpoint` saves a module's weights with the
``safetensors`` library and loads them into a fresh instance, refusing a file
whose tensor names, shapes or dtypes do not fit the model with a message that
names the tensor (the cookbook of p4-index uses it in every recipe).
"""

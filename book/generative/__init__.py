"""The generative models Parts IV and V share, and the measures that judge their samples.

:mod:`~book.generative.vae` (a variational autoencoder), :mod:`~book.generative.gan`
(a generator and a discriminator), :mod:`~book.generative.ddpm` (a denoising
diffusion model with its noise schedule and samplers) and
:mod:`~book.generative.metrics` (sample-quality measures fixed before training:
mode coverage of a 2-D mixture, a two-sample distance, and a digit classifier
that scores generated digits).
"""

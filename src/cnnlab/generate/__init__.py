"""Image generation: the seed's DCGAN networks, GAN training, latent inversion and interpolation, GAN health."""

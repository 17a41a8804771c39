"""Flow matching with diffusion forcing, stateless samplers, and classifier-free guidance."""

"""An adversarial term for the one-step predictor: a small patch discriminator on latent frames.

The squared error pays a deterministic predictor to draw the mean of the frames that may come
next, which is grey wherever it is unsure where a lane dash lies; after a few frames of its
own rollout it is unsure everywhere and the road fades. A discriminator that tells true frames
from predicted ones, patch by patch, pays the predictor for frames that look like frames
(Isola et al. 2017, PatchGAN; Esser et al. 2021, VQGAN, for the adaptive weight). The squared
error still says where things are; this term only says what they look like.

Both players train in one backward pass with one optimizer: the discriminator's loss reaches
only its own weights (the predicted frames are detached), and the predictor's loss goes through
a copy of the discriminator whose weights are detached, so it reaches only the predictor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call


class PatchDiscriminator(nn.Module):
    """Logits ``(N, 1, h/4, w/4)`` of "true frame" for latent frames ``(N, C, h, w)``; each
    logit sees about 20 × 20 latent cells (40 × 40 pixels with the patch tokenizer)."""

    def __init__(self, in_channels: int, width: int = 32) -> None:
        super().__init__()
        if in_channels < 1 or width < 1:
            raise ValueError(
                f"a patch discriminator needs in_channels >= 1 and width >= 1, "
                f"got {in_channels} and {width}"
            )
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 4 * width, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(4 * width, 1, 3, padding=1),
        )

    def forward(self, x_NCHW: torch.Tensor) -> torch.Tensor:
        return self.net(x_NCHW)


def adversarial_losses(
    disc: PatchDiscriminator,
    real_NCHW: torch.Tensor,
    fake_NCHW: torch.Tensor,
    context_NCHW: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(discriminator_loss, predictor_loss)``, the non-saturating logistic losses.

    With ``context_NCHW`` (the frame both were predicted from) the discriminator sees it
    beside each frame and judges the pair: after a blurred context the true next frame is
    still sharp, so a prediction that keeps the blur is told apart even where the blur alone
    would pass. The discriminator's loss has gradients only for its weights; the predictor's
    only for ``fake_NCHW`` (through a frozen view of the discriminator)."""
    if context_NCHW is not None:
        context_NCHW = context_NCHW.detach()
        real_NCHW = torch.cat([context_NCHW, real_NCHW], dim=1)
        fake_NCHW = torch.cat([context_NCHW, fake_NCHW], dim=1)
    logits_real = disc(real_NCHW.detach())
    logits_fake = disc(fake_NCHW.detach())
    d_loss = F.softplus(-logits_real).mean() + F.softplus(logits_fake).mean()
    frozen = {name: p.detach() for name, p in disc.named_parameters()}
    logits_g = functional_call(disc, frozen, (fake_NCHW,))
    g_loss = F.softplus(-logits_g).mean()
    return d_loss, g_loss


def adaptive_weight(
    reconstruction: torch.Tensor, adversarial: torch.Tensor, layer_weight: torch.Tensor
) -> torch.Tensor:
    """``|grad reconstruction| / |grad adversarial|`` at the predictor's last layer (detached,
    at most 1e4): scaled by it, the adversarial term pulls that layer as hard as the
    reconstruction does, whatever the two losses' units."""
    g_rec = torch.autograd.grad(reconstruction, layer_weight, retain_graph=True)[0]
    g_adv = torch.autograd.grad(adversarial, layer_weight, retain_graph=True)[0]
    ratio = g_rec.norm() / (g_adv.norm() + 1e-4)
    return ratio.clamp(0.0, 1e4).detach()
